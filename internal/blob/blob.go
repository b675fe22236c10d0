// Package blob is content-addressed blob storage (SHA-256, FIPS 180-4). It
// holds message bodies and file contents; metadata that refers to a blob
// lives in the database and is committed only after Put has returned,
// because a blob is durable before Put returns. [Store] is what every
// implementation offers; [Dir], on the local file system, is the first.
//
// In a [Dir], a blob with reference ab12cd…(64 hex digits) lives at dir/ab/ab12cd…: the
// 256 fan-out directories are made, and made durable, when the store is
// created, so storing a blob costs one file fsync and one directory fsync
// (a file without a name, below: its data, then its inode; on ext4 its
// directory only when the directory grew: see commitStaged).
// Stores created before this layout keep theirs, dir/ab/12/ab12cd… (the
// file dir/layout says which). Put writes into a temporary file under
// dir/tmp, fsyncs it, renames it into place and fsyncs the directory, so a
// crash leaves either the whole blob or nothing but a temporary file, which
// the next [OpenDir] removes. Where the file system allows it, the
// temporary file has no name (open(2) O_TMPFILE): its data is synced, it
// is linked into place (linkat(2)), then its inode and the directory are
// synced (see commitStaged for why in that order). On ext4 without a
// journal, the small blobs of concurrent Puts share those syncs instead:
// one syncfs(2) and one cache flush before they are linked, and again
// after (fsGroup).
//
// The store does not count references: callers decide when a blob may be
// deleted, and must make sure no Put of the same content races a Delete.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/caucus-org/caucus/internal/fsutil"
)

var (
	// ErrNotFound reports that no blob with the given reference exists.
	ErrNotFound = errors.New("blob: not found")
	// ErrTooLarge reports that Put read more bytes than its limit allows.
	ErrTooLarge = errors.New("blob: too large")
	// ErrBadRef reports a string that is not a well-formed reference.
	ErrBadRef = errors.New("blob: bad reference")
)

// Ref names a blob: the lowercase hexadecimal SHA-256 of its content, 64
// characters.
type Ref string

// RefOf returns the reference of content whose SHA-256 sum is sum.
func RefOf(sum []byte) Ref { return Ref(hex.EncodeToString(sum)) }

// ParseRef checks that s is exactly 64 lowercase hexadecimal characters and
// returns it as a Ref. Anything else is refused with [ErrBadRef].
func ParseRef(s string) (Ref, error) {
	if !validRef(s) {
		if len(s) > 80 {
			s = s[:80] + "…"
		}
		return "", fmt.Errorf("%w: %q", ErrBadRef, s)
	}
	return Ref(s), nil
}

func validRef(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Dir is the [Store] in a directory of the local file system. Its methods
// are safe for concurrent use, also by several processes, except [OpenDir]
// itself, which clears dir/tmp: the others attach with [AttachDir].
type Dir struct {
	dir string
	// nested is the older layout, dir/ab/cd/<ref>, of stores created
	// before dir/layout existed.
	nested bool
	// next spreads Put's temporary files over tmpShards directories in
	// dir/tmp: 50 concurrent Puts creating and renaming files in one
	// directory spent more kernel time contending for its lock than
	// writing (sys time halved with 16). It also names them.
	next atomic.Uint64
	// durableDirs holds the dir/ab and dir/ab/cd directories whose own
	// names this process has made durable (at most 256+65536), so that
	// Put syncs only the directories whose entries it changed.
	durableDirs sync.Map
	// chunks holds Put's buffers of chunkSize bytes, as *[]byte; firsts
	// its buffers of firstChunk+1 bytes for the first read.
	chunks, firsts sync.Pool
	// prefix begins the names of Put's temporary files: "put-" for the
	// owner ([OpenDir]), with the process id for [AttachDir].
	prefix string
	// anon: Put's temporary files are made without a name and linked in
	// (see createTemp), which the store's file system was found to allow.
	anon bool
	// commits and dirSyncs count commitStaged's runs and the directory
	// syncs of syncDirs (see Stats).
	commits, dirSyncs atomic.Int64
	// ops are the steps that make a Put durable: the system's (osOps),
	// or in tests a recorder of their order.
	ops fileOps
	// parentSync: the store's file system writes a newly linked file's
	// directory entry when the file is fsynced (ext4, see
	// commitStaged), so a Put need not sync a directory whose size
	// sized holds as durable.
	parentSync bool
	// sized holds, for fan-out directories, the size each had when a
	// sync of it began that then succeeded: at least that much of the
	// directory (its blocks, in its inode) is durable.
	sizedMu sync.Mutex
	sized   map[string]int64
	// group, where proved (ext4 without a journal: noJournal), makes
	// the small blobs of concurrent Puts durable together; nil
	// elsewhere. A Put joins it when at least groupMin Puts, itself
	// included, are in flight (putting): 2, as a Put alone makes two
	// flushes on its own and waits for four and two syncfs in the group
	// (see fsGroup.cycle); tests set 1.
	group    *fsGroup
	groupMin int64
	putting  atomic.Int64
}

// fileOps are the steps that make a blob durable and name it, in the
// order commitStaged takes them.
type fileOps interface {
	sync(f *os.File) error               // fsync(2): data and inode
	syncData(f *os.File) error           // fdatasync(2): data, and the inode as far as reading needs it
	link(f *os.File, final string) error // names a file without a name (linkAnon)
	rename(old, new string) error
	// syncDir is fsync(2) of a directory, its entries; size is the
	// directory's size before the sync began.
	syncDir(dir string) (size int64, err error)
	// syncFS is syncfs(2) of f's file system, flush fdatasync(2) of f
	// for its cache flush (fsGroup).
	syncFS(f *os.File) error
	flush(f *os.File) error
}

// osOps are the system's fileOps.
type osOps struct{}

func (osOps) sync(f *os.File) error               { return f.Sync() }
func (osOps) syncData(f *os.File) error           { return syncData(f) }
func (osOps) link(f *os.File, final string) error { return linkAnon(f, final) }
func (osOps) rename(old, new string) error        { return os.Rename(old, new) }
func (osOps) syncDir(dir string) (int64, error)   { return syncDirSized(dir) }
func (osOps) syncFS(f *os.File) error             { return syncFS(f) }
func (osOps) flush(f *os.File) error              { return syncData(f) }

// syncDirSized is fsync(2) of the directory dir; it returns the size the
// directory had before.
func syncDirSized(dir string) (int64, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return 0, err
	}
	if err := d.Sync(); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// DirStats counts a Dir's syncs since it was opened.
type DirStats struct {
	Commits  int64 // rounds of file syncs, one per Put or per Batch commit
	DirSyncs int64 // directory syncs: at most one per directory per round
}

// Stats returns how many rounds of syncs the store made and how many
// directories it synced in them.
func (s *Dir) Stats() DirStats {
	return DirStats{Commits: s.commits.Load(), DirSyncs: s.dirSyncs.Load()}
}

// mkdirs makes the fan-out directory cd (dir/ab/cd) and its parent ab if
// missing: two mkdir calls at most, where os.MkdirAll stats each level.
func mkdirs(cd string) error {
	err := os.Mkdir(cd, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(filepath.Dir(cd), 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			err = os.Mkdir(cd, 0o700)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// createTemp creates a new file for Put, read-only from the start (the
// descriptor still writes), so that no chmod is needed later. Where the
// file system allows it (Linux, [openAnon]) the file has no name until
// place links it in, and is made beside its final place, in the fan-out
// directory of known, when the content's reference is known already (all
// of it fitted in the first chunk), else in dir/tmp: no name is made and
// removed again, no file moves from one directory to another, and a crash
// leaves nothing behind. Otherwise it is createNamed's file.
func (s *Dir) createTemp(known Ref) (f *os.File, anon bool, err error) {
	if s.anon {
		dir := s.tmpDir()
		if known != "" && !s.nested {
			dir = filepath.Dir(s.Path(known))
		}
		if f, err := openAnon(dir); err == nil {
			return f, true, nil
		} else if dir == s.tmpDir() {
			return nil, false, err
		}
		// The fan-out directory was removed behind our back: place
		// makes it again.
		if f, err := openAnon(s.tmpDir()); err == nil {
			return f, true, nil
		}
	}
	f, err = s.createNamed()
	return f, false, err
}

// createNamed creates a new file for Put in one of the shards of dir/tmp
// (see createTemp). Its name comes from a counter: OpenDir emptied
// dir/tmp, and a process that attached ([AttachDir]) adds its id, so
// O_EXCL fails only if two owners use the store.
func (s *Dir) createNamed() (*os.File, error) {
	n := s.next.Add(1)
	shard := filepath.Join(s.tmpDir(), fmt.Sprintf("%02d", n%tmpShards))
	name := filepath.Join(shard, s.prefix+strconv.FormatUint(n, 10))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if errors.Is(err, fs.ErrNotExist) { // first use since Open
		if err = os.Mkdir(shard, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
		}
	}
	return f, err
}

// tmpShards is the number of directories in dir/tmp that Put writes in.
const tmpShards = 16

// OpenDir opens the store in dir, creating dir, dir/tmp and the fan-out
// directories with mode 0700 if missing. It removes everything in dir/tmp:
// those are leftovers of writes that crashed. Only one process may use a
// store directory while it opens.
func OpenDir(dir string) (*Dir, error) {
	s, err := attach(dir, "put-")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return nil, fmt.Errorf("blob: open: removing leftover: %w", err)
		}
	}
	return s, nil
}

// AttachDir opens the store in dir for another process that works beside
// the store's owner (the `caucus backup` command beside the server): unlike
// [OpenDir] it leaves dir/tmp alone, where the owner's writes in progress
// are. Its Puts name their temporary files with this process's id, so
// that they never collide with the owner's. It creates dir and its layout
// like OpenDir if they are missing.
func AttachDir(dir string) (*Dir, error) {
	return attach(dir, "put-"+strconv.Itoa(os.Getpid())+"-")
}

// attach opens the store in dir, creating what is missing, and names its
// Puts' temporary files with prefix.
func attach(dir, prefix string) (*Dir, error) {
	s := &Dir{dir: dir, prefix: prefix, ops: osOps{}}
	s.chunks.New = func() any { b := make([]byte, chunkSize); return &b }
	s.firsts.New = func() any { b := make([]byte, firstChunk+1); return &b }
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	if err := s.layout(); err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	s.anon = canLinkAnon(s.tmpDir())
	s.parentSync = s.anon && !s.nested && syncsParent(s.dir)
	s.sized = map[string]int64{}
	if s.parentSync && noJournal(s.dir) {
		tmp, err := os.Open(s.tmpDir())
		if err != nil {
			return nil, fmt.Errorf("blob: open: %w", err)
		}
		s.group, s.groupMin = newFSGroup(s, tmp), 2
	}
	return s, nil
}

func (s *Dir) tmpDir() string { return filepath.Join(s.dir, "tmp") }

// layoutFile names the store's layout: "flat" (dir/ab/<ref>); a store
// without it that holds blobs is "nested" (dir/ab/cd/<ref>).
const layoutFile = "layout"

// layout reads the store's layout, or sets up a new store: the 256 fan-out
// directories, durable, then the layout file.
func (s *Dir) layout() error {
	name := filepath.Join(s.dir, layoutFile)
	data, err := os.ReadFile(name)
	switch {
	case err == nil && string(data) == "flat\n":
	case err == nil && string(data) == "nested\n":
		s.nested = true
	case err == nil:
		return fmt.Errorf("%s: unknown layout %q", name, data)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		entries, err := os.ReadDir(s.dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() && e.Name() != "tmp" {
				// Blobs from before the layout file: keep their layout.
				s.nested = true
				return fsutil.WriteFile(name, []byte("nested\n"), 0o600)
			}
		}
		if err := s.fanOut(); err != nil {
			return err
		}
		return fsutil.WriteFile(name, []byte("flat\n"), 0o600)
	}
	if s.nested {
		return nil
	}
	return s.fanOut() // a restored store may lack the empty ones
}

// fanOut makes the 256 fan-out directories of a flat store that are
// missing, makes them durable, and tells Put so: it then syncs only the
// directory it renames into.
func (s *Dir) fanOut() error {
	made := false
	for i := range 256 {
		d := filepath.Join(s.dir, fmt.Sprintf("%02x", i))
		err := os.Mkdir(d, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		made = made || err == nil
		s.durableDirs.Store(d, struct{}{})
	}
	if made {
		return fsutil.SyncDir(s.dir)
	}
	return nil
}

// Path returns the file name of the blob ref, dir/ab/<ref> (or
// dir/ab/cd/<ref> in an older store), whether or not it exists. It returns
// "" if ref is not well-formed.
func (s *Dir) Path(ref Ref) string {
	if !validRef(string(ref)) {
		return ""
	}
	if s.nested {
		return filepath.Join(s.dir, string(ref[0:2]), string(ref[2:4]), string(ref))
	}
	return filepath.Join(s.dir, string(ref[0:2]), string(ref))
}

// path is Path for methods that return errors.
func (s *Dir) path(ref Ref) (string, error) {
	p := s.Path(ref)
	if p == "" {
		_, err := ParseRef(string(ref))
		return "", err
	}
	return p, nil
}

// Put copies in chunks, checking ctx before every Read. Content that fits
// in firstChunk bytes (a mail message, a small file) is hashed and written
// at once. Anything larger streams in chunks of chunkSize bytes: the
// calling goroutine reads and hashes a chunk while a second one writes the
// previous one, so that reading the network, hashing (SHA-256 costs about
// as much CPU as the write) and writing the disk overlap; every writebackSize
// bytes the kernel is asked to start writing them out, so that the fsync
// at the end finds little left to do.
const (
	firstChunk    = 64 << 10
	chunkSize     = 1 << 20
	writebackSize = 8 << 20
	// chunksInFlight chunks circulate: one being read and hashed, one
	// being written, one waiting between the two.
	chunksInFlight = 3
)

// Put stores the content read from r and returns its reference and size.
// It streams: memory use does not depend on the size of the blob. If r yields
// more than limit bytes (limit <= 0: no limit), Put stops reading and returns
// [ErrTooLarge]. Put checks ctx before every Read; a Read that blocks is not
// interrupted, so network readers need their own deadline. The blob is
// durable when Put returns nil; on error nothing is left behind. Storing
// content that is already present succeeds and keeps one copy.
func (s *Dir) Put(ctx context.Context, r io.Reader, limit int64) (ref Ref, n int64, err error) {
	if s.group != nil {
		s.putting.Add(1)
		defer s.putting.Add(-1)
	}
	st, err := s.stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	// A small blob without a name, on ext4 without a journal, while
	// other Puts are in flight, is made durable with theirs (fsGroup:
	// each cycle's syncfs and flush serve every Put waiting). Elsewhere,
	// alone, or for a larger blob, it is synced on its own: a file
	// system's journal takes concurrent syncs in one commit anyway, and
	// rounds of per-file syncs kept each Put waiting for the round
	// before (BenchmarkPutParallel/batched). Through the group, 1 MiB
	// blobs 8 at a time made 1.0-1.2 sync calls a Put instead of 2.5
	// (BenchmarkPutLarge), yet WebDAV uploads of them over HTTP/1.1
	// went no faster (session 14, load 8-10: 0.55-0.97x Apache against
	// 0.66-1.06x on their own): a Put then waits for two or three
	// cycles, each syncfs writing the data of every upload still in
	// progress and whatever else the file system holds dirty.
	if s.group != nil && st.anon && st.n <= firstChunk && s.putting.Load() >= s.groupMin {
		err = s.group.commit(st)
	} else {
		err = s.commitStaged([]*staged{st})[0]
	}
	if err != nil {
		return "", 0, err
	}
	return st.ref, st.n, nil
}

// staged is a blob written to a temporary file, neither synced nor named
// yet.
type staged struct {
	f    *os.File
	anon bool // f has no name (see createTemp)
	ref  Ref
	n    int64
	// inode, once named, is the file whose inode naming changed (f,
	// linked) or that was found under its name: commitStaged syncs it.
	inode *os.File
	// stored: the name existed (deduplicated), and inode is that file.
	stored bool
	// check is the directory f was linked into, when it is synced only
	// if it grew (see commitStaged).
	check string
}

// discard closes and removes st's temporary file.
func (st *staged) discard() {
	st.f.Close() // may already be closed; the error is of no interest
	if !st.anon {
		os.Remove(st.f.Name())
	}
}

// stage writes what r yields (at most limit bytes, see Put) into a new
// temporary file and hashes it. On error nothing is left behind.
//
// The first chunk is read and hashed before the file is made: content
// that fits in it (firstChunk bytes at most) is known by its reference
// then (see createTemp).
func (s *Dir) stage(ctx context.Context, r io.Reader, limit int64) (*staged, error) {
	if limit > 0 && limit < math.MaxInt64 {
		// Read at most one byte more than allowed, enough to tell.
		r = io.LimitReader(r, limit+1)
	}
	h := sha256.New()
	// One byte more than firstChunk: content of exactly firstChunk bytes
	// (a 64 KiB file) is then known whole after this read, and is not
	// streamed.
	fp := s.firsts.Get().(*[]byte)
	defer s.firsts.Put(fp)
	first := *fp
	m, rerr := fill(ctx, r, first)
	switch {
	case limit > 0 && int64(m) > limit:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	case rerr != nil && rerr != io.EOF:
		return nil, rerr
	}
	h.Write(first[:m])
	var known Ref
	if rerr == io.EOF {
		known = RefOf(h.Sum(nil))
	}
	f, anon, err := s.createTemp(known)
	if err != nil {
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	st := &staged{f: f, anon: anon, n: int64(m)}
	if _, err := f.Write(first[:m]); err != nil {
		st.discard()
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	if rerr != io.EOF {
		if st.n, err = s.copy(ctx, f, h, r, limit, st.n); err != nil {
			st.discard()
			return nil, err
		}
	}
	// A last check, so a cancellation during the final Read is honoured.
	if err := ctx.Err(); err != nil {
		st.discard()
		return nil, fmt.Errorf("blob: put: %w", context.Cause(ctx))
	}
	st.ref = RefOf(h.Sum(nil))
	return st, nil
}

// dirNames are the directories whose entries a Put or a batch changed:
// sync are to be synced, then durable noted as made durable; found hold
// names found stored, synced before their files (see commitStaged).
type dirNames struct {
	mu                   sync.Mutex // for add
	sync, durable, found []string
}

// place gives the synced temporary file st its final name (or removes it
// if the content is stored already) and adds to names the directories to
// sync for that name to be durable. On error the temporary file is gone.
func (s *Dir) place(st *staged, names *dirNames) (err error) {
	defer func() {
		if err != nil {
			st.discard()
		}
	}()
	if !st.anon {
		if err := st.f.Close(); err != nil {
			return fmt.Errorf("blob: put: %w", err)
		}
	}
	final := s.Path(st.ref)
	cd := filepath.Dir(final) // dir/ab, or dir/ab/cd in a nested store
	ab := filepath.Dir(cd)
	_, durable := s.durableDirs.Load(cd)
	if !durable {
		if err := mkdirs(cd); err != nil {
			return fmt.Errorf("blob: put: %w", err)
		}
	}
	err = s.name(st, final)
	if errors.Is(err, fs.ErrNotExist) && durable {
		// cd was removed behind our back: make it again, a new
		// directory whose durable size is not known.
		s.durableDirs.Delete(cd)
		s.durableDirs.Delete(ab)
		s.sizedMu.Lock()
		delete(s.sized, cd)
		s.sizedMu.Unlock()
		durable = false
		if err := mkdirs(cd); err != nil {
			return fmt.Errorf("blob: put: %w", err)
		}
		err = s.name(st, final)
	}
	if err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	// Make the new names durable, also in the dedup case: the earlier Put
	// may have crashed between its rename and these syncs.
	// Once cd's parents have been synced after cd existed, the path to cd
	// is durable (directories are never removed) and cd alone needs it
	// (always so in a flat store, whose fan-out Open made durable).
	switch {
	case st.stored:
		names.found = append(names.found, cd)
	case st.anon && durable && s.parentSync:
		st.check = cd
	default:
		names.sync = append(names.sync, cd)
	}
	if !durable {
		names.sync = append(names.sync, ab)
		if _, ok := s.durableDirs.Load(ab); !ok {
			names.sync = append(names.sync, s.dir)
		}
		names.durable = append(names.durable, cd, ab)
	}
	return nil
}

// name gives st's synced temporary file the name final, or drops it if
// final exists (the content is stored already: deduplicated). It sets
// st.inode to the file whose inode is to be synced before final's
// directory (see commitStaged): st.f if it had no name (linkat(2) raised
// its link count), the file found at final, or none (st.f was renamed
// with its link count synced).
func (s *Dir) name(st *staged, final string) error {
	if st.anon {
		err := s.ops.link(st.f, final)
		if err == nil {
			st.inode = st.f
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Deduplicated, or a concurrent Put of the same content won.
		st.f.Close() // unnamed: gone
		return st.found(final)
	}
	tmp := st.f.Name()
	if _, err := os.Lstat(final); err == nil {
		if err := os.Remove(tmp); err != nil { // deduplicated
			return err
		}
		return st.found(final)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// A concurrent Put of the same content may win the race; rename
	// replaces its file with an identical one, so this is no error.
	return s.ops.rename(tmp, final)
}

// found notes the blob file final, found stored, as st's inode to sync.
func (st *staged) found(final string) error {
	f, err := os.Open(final)
	if err != nil {
		return err
	}
	st.inode, st.stored = f, true
	return nil
}

// add adds dir to the directories to sync (it grew since it was last
// known durable). Safe for concurrent use.
func (names *dirNames) add(dir string) {
	names.mu.Lock()
	names.sync = append(names.sync, dir)
	names.mu.Unlock()
}

// unique returns the directories of list, each once.
func unique(list []string) []string {
	var dirs []string
	done := make(map[string]bool, len(list))
	for _, d := range list {
		if !done[d] {
			done[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// grew reports whether the directory dir is larger than its size known
// durable (or its size is unknown).
func (s *Dir) grew(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return true
	}
	s.sizedMu.Lock()
	known, ok := s.sized[dir]
	s.sizedMu.Unlock()
	return !ok || fi.Size() > known
}

// syncDir syncs the directory dir and notes the size it had before as
// durable.
func (s *Dir) syncDir(dir string) error {
	size, err := s.ops.syncDir(dir)
	if err != nil || !s.parentSync {
		return err
	}
	s.sizedMu.Lock()
	if size > s.sized[dir] {
		s.sized[dir] = size
	}
	s.sizedMu.Unlock()
	return nil
}

// copy reads the rest of r (n bytes were read before) into f and h until
// EOF and returns the bytes read in all, failing with [ErrTooLarge] past
// limit (when limit > 0).
func (s *Dir) copy(ctx context.Context, f *os.File, h hash.Hash, r io.Reader, limit, n int64) (int64, error) {
	read := func(ctx context.Context, buf []byte) (int, error) {
		m, err := fill(ctx, r, buf)
		n += int64(m)
		if limit > 0 && n > limit {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		return m, err
	}
	write := func(b []byte) error {
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("blob: put: %w", err)
		}
		return nil
	}

	// Chunks circulate between this goroutine, which fills and
	// hashes one, and the writer, which writes the others.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	full := make(chan []byte, chunksInFlight)
	free := make(chan []byte, chunksInFlight)
	werr := make(chan error, 1)
	go func() {
		var err error
		var written, hinted int64
		for b := range full {
			if err == nil {
				if err = write(b); err != nil {
					cancel(err) // stop the reading too
				}
				written += int64(len(b))
				if written-hinted >= writebackSize {
					startWriteback(f, hinted, written-hinted)
					hinted = written
				}
			}
			free <- b
		}
		werr <- err
	}()
	for range chunksInFlight {
		free <- *s.chunks.Get().(*[]byte)
	}
	var m int
	var rerr error
	for rerr == nil {
		buf := <-free
		m, rerr = read(wctx, buf[:cap(buf)])
		if m > 0 && (rerr == nil || rerr == io.EOF) {
			h.Write(buf[:m])
			full <- buf[:m]
		} else {
			free <- buf
		}
	}
	close(full)
	err := <-werr
	for range chunksInFlight {
		b := <-free
		s.chunks.Put(&b)
	}
	switch {
	case err != nil:
		return 0, err
	case rerr != io.EOF:
		return 0, rerr
	}
	return n, nil
}

// fill reads from r until buf is full, checking ctx before each Read. It
// returns io.EOF, with the bytes read before, when r ends.
func fill(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	m := 0
	for m < len(buf) {
		if err := ctx.Err(); err != nil {
			return m, fmt.Errorf("blob: put: %w", context.Cause(ctx))
		}
		k, err := r.Read(buf[m:])
		m += k
		if err == io.EOF {
			return m, io.EOF
		}
		if err != nil {
			return m, fmt.Errorf("blob: put: reading: %w", err)
		}
	}
	return m, nil
}

// Open opens the blob ref for reading: a small one is read at once and
// served from memory, a larger one is an *os.File. If it does not exist
// the error matches [ErrNotFound].
func (s *Dir) Open(ref Ref) (io.ReadSeekCloser, error) {
	p, err := s.path(ref)
	if err != nil {
		return nil, err
	}
	f, err := openRead(p)
	if err != nil {
		return nil, s.notFound(ref, err)
	}
	return f, nil
}

// notFound wraps err, adding ErrNotFound if the file does not exist.
func (s *Dir) notFound(ref Ref, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return fmt.Errorf("blob: %s: %w", ref, err)
}

// Size returns the size in bytes of the blob ref; [ErrNotFound] if missing.
func (s *Dir) Size(ref Ref) (int64, error) {
	p, err := s.path(ref)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, s.notFound(ref, err)
	}
	return fi.Size(), nil
}

// Has reports whether the blob ref exists.
func (s *Dir) Has(ref Ref) (bool, error) {
	p, err := s.path(ref)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob: %s: %w", ref, err)
	}
	return true, nil
}

// Delete removes the blob ref and makes the removal durable. Deleting a
// blob that does not exist is not an error. The fan-out directories stay,
// so that a concurrent Put never finds its directory gone.
func (s *Dir) Delete(ref Ref) error {
	p, err := s.path(ref)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("blob: delete: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	return nil
}

// Walk calls fn for every blob in the store, in no particular order, with
// the file's information (its modification time is when it was stored).
// Files in dir/tmp and files whose names are no reference are passed over.
// An error from fn stops the walk and is returned.
func (s *Dir) Walk(fn func(ref Ref, info fs.FileInfo) error) error {
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == s.tmpDir() {
				return filepath.SkipDir
			}
			return nil
		}
		ref := Ref(d.Name())
		if !d.Type().IsRegular() || !validRef(string(ref)) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return fn(ref, info)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: walk: %w", err)
	}
	return nil
}
