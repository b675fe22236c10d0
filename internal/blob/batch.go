package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Batch stores many blobs that become durable together: a bulk import
// writes each message's blob with Put, then makes all of them durable
// with one Commit, and only then commits the rows that refer to them.
// Each Put's content is neither durable nor visible (to Open, Has, Walk)
// until Commit returns nil; Abort, or a crash, leaves none of them. A
// Batch is used by one goroutine.
type Batch interface {
	// Put reads r as [Store.Put] does and returns its reference and
	// size, for Commit to make durable.
	Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error)
	// Commit makes every blob of the batch durable and visible, as
	// Store.Put does for one. On error some may be and others not.
	Commit(ctx context.Context) error
	// Abort forgets the blobs not committed. It may be called after
	// Commit, and more than once.
	Abort()
}

// Batcher is a [Store] that makes many blobs durable at a lower cost
// than one Put each ([Dir]: the files synced at once, each directory
// synced once).
type Batcher interface {
	NewBatch() Batch
}

// NewBatch returns a batch for s: its own if it is a [Batcher], else
// one whose Put is s.Put (durable at once) and whose Commit does nothing.
func NewBatch(s Store) Batch {
	if b, ok := s.(Batcher); ok {
		return b.NewBatch()
	}
	return putEach{s}
}

// putEach is the Batch of a Store that is no Batcher.
type putEach struct{ s Store }

func (p putEach) Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error) {
	return p.s.Put(ctx, r, limit)
}
func (putEach) Commit(context.Context) error { return nil }
func (putEach) Abort()                       {}

// batchSyncs is how many files a Dir batch's Commit syncs at once: the
// file system's journal takes concurrent syncs in one commit.
const batchSyncs = 16

// dirBatch is the Batch of a Dir.
type dirBatch struct {
	s      *Dir
	staged []*staged
}

// NewBatch returns a batch of blobs written into s's temporary files,
// synced together and named at Commit.
func (s *Dir) NewBatch() Batch { return &dirBatch{s: s} }

func (b *dirBatch) Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error) {
	st, err := b.s.stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	b.staged = append(b.staged, st)
	return st.ref, st.n, nil
}

// Commit syncs the temporary files, batchSyncs at a time, then names
// them and syncs each of their directories once: the order of Put
// (data synced, then named, then the name synced), for many at once.
func (b *dirBatch) Commit(ctx context.Context) error {
	defer b.Abort()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: batch: %w", err)
	}
	errs := b.s.commitStaged(b.staged)
	b.staged = nil
	return errors.Join(errs...)
}

// commitStaged makes the staged blobs sts durable: syncs their data,
// names them, syncs the inodes that naming changed (or that a name found
// points to), then each of their directories once, where needed; each
// step for many files at once. It returns each one's error; a failed one
// leaves nothing behind, or a whole blob whose name may not be durable.
//
// The order is what makes a name durable on any file system. A named
// temporary file is synced whole, fsync(2), with its link count of 1,
// then renamed; the directory's fsync then makes the name durable. A file
// made by open(2) with O_TMPFILE has a link count of 0 until linkat(2)
// names it, and naming it changes its inode: fsync(2) of the directory
// alone ("Calling fsync() does not necessarily ensure that the entry in
// the directory containing the file has also reached disk. For that an
// explicit fsync() on a file descriptor for the directory is also
// needed"; the converse holds as well) need not write that inode. ext4
// with a journal commits both in the directory's transaction; ext4
// without one writes only the directory, and a name whose inode has a
// link count of 0 on disk is removed by e2fsck: a lost blob. So such a
// file's data is synced before it is linked, fdatasync(2), and its inode
// after, fsync(2), then its directory.
//
// Data before the name is the order that matters across a crash: once
// linked, the name can reach the disk at any moment, by a sibling's sync
// (a concurrent Put's fsync of the same fan-out directory, or of a file
// in it: see below), so its data must be there first, or a name could
// point to content not on disk, which a later Put of the same content
// would take as stored. The inode's sync and the directory's need only
// both have returned before Put does: a crash before that loses a blob
// never acknowledged. Run at once they were slower here (BenchmarkPutParallel,
// load 14: 1.39-1.78 ms a Put against 0.92-1.67 one after the other),
// as both wrote the directory's block and flushed the cache.
//
// On ext4 one sync after linkat does both (syncsParent tells it; other
// file systems always sync the directory). Traced on this project's
// host (Linux 6.18.44, ext4 without a journal, barrier, delalloc,
// dioread_nolock; block:block_bio_queue): fdatasync writes the data and
// the inode's table block, then flushes the disk's cache; after linkat,
// fsync of the file writes its inode block and its directory's block,
// then flushes; fsync of the directory then writes nothing but the
// directory's inode, and flushes again. The directory's block comes from
// ext4_sync_parent (fs/ext4/fsync.c): linkat's ext4_add_entry marks the
// inode EXT4_STATE_NEWENTRY, and fsync of an inode so marked writes its
// directory's buffers (sync_mapping_buffers) before its one flush; with
// a journal, the file's fsync commits the transaction that holds the
// link, directory and all. The directory's inode matters only when the
// directory grew (ext4_append, a new block: its size and extents; an
// htree split appends a block too); directories never shrink. So the
// directory is synced only if, after the file's sync returned, it is
// larger than the size it had when a sync of it last began (Dir.sized;
// unknown at first). A Put that finds its name stored syncs the
// directory before the file: that file's fsync clears NEWENTRY, and the
// Put that linked it, if its own fsync then skips the directory, relies
// on that directory sync having returned already. (Kernels before the
// ext4 fix "Fix fsync(2) for nojournal mode", February 2026, which
// makes ext4_fsync_nojournal call ext4_write_inode, wrote a linked
// inode's table block in fsync only if the VFS inode was dirty, which
// linkat alone does not make it: neither this order nor the one before,
// file then directory, made the link count durable there, the
// directory's fsync not writing the file's inode either.)
//
// syncfs(2) alone cannot replace the per-file syncs: sync_filesystem
// (fs/sync.c) flushes the cache (ext4_sync_fs, wait=1) before it writes
// the inode tables' and directories' buffers (sync_blockdev), so its
// last writes wait for the next flush. fsGroup follows each syncfs with
// a flush, and shares both among concurrent Puts (see fsGroup.cycle).
func (s *Dir) commitStaged(sts []*staged) []error {
	errs := each(len(sts), func(i int) error {
		sync := s.ops.sync
		if sts[i].anon {
			sync = s.ops.syncData
		}
		if err := sync(sts[i].f); err != nil {
			return fmt.Errorf("blob: put: sync: %w", err)
		}
		return nil
	})
	var names dirNames
	for i, st := range sts {
		if errs[i] != nil {
			st.discard()
		} else {
			errs[i] = s.place(st, &names)
		}
	}
	s.commits.Add(1)
	found := s.syncDirs(names.found)
	inodes := each(len(sts), func(i int) error {
		st := sts[i]
		if st.inode == nil {
			return nil
		}
		defer func() {
			st.inode.Close()
			st.inode = nil
		}()
		if errs[i] != nil || found != nil {
			return nil
		}
		if err := s.ops.sync(st.inode); err != nil {
			return fmt.Errorf("blob: put: sync: %w", err)
		}
		if st.check != "" && s.grew(st.check) {
			names.add(st.check)
		}
		return nil
	})
	if found != nil {
		return failAll(errs, found)
	}
	for i, err := range inodes {
		if err != nil {
			errs[i] = err
		}
	}
	if err := s.syncDirs(names.sync); err != nil {
		return failAll(errs, err)
	}
	for _, d := range names.durable {
		s.durableDirs.Store(d, struct{}{})
	}
	return errs
}

// syncDirs syncs each directory of list once, all at once.
func (s *Dir) syncDirs(list []string) error {
	if len(list) == 0 {
		return nil
	}
	dirs := unique(list)
	s.dirSyncs.Add(int64(len(dirs)))
	if err := errors.Join(each(len(dirs), func(i int) error { return s.syncDir(dirs[i]) })...); err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	return nil
}

// failAll sets err as the error of every blob of errs without one, and
// returns errs.
func failAll(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}

// each calls fn for 0 to n-1, batchSyncs at a time (a lone call without
// a goroutine), and returns their errors: the file system takes
// concurrent syncs in one journal commit, or one cache flush.
func each(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	if n == 1 {
		errs[0] = fn(0)
		return errs
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchSyncs)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errs
}

// Abort removes the temporary files not yet named.
func (b *dirBatch) Abort() {
	for _, st := range b.staged {
		st.discard()
	}
	b.staged = nil
}
