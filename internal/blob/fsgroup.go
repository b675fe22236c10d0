package blob

import (
	"fmt"
	"os"
	"sync"
)

// fsGroup makes the small blobs of concurrent Puts durable together, the
// way internal/db's Group commits concurrent writes: a Put that has
// written its blob queues it and waits; a goroutine runs cycles while
// blobs wait, each making durable with one syncfs(2) and one cache flush
// whatever was written before it began (see cycle), whose cost does not
// grow with the number of blobs, where each Put on its own makes two
// flushes.
//
// It is used only where the cycle is proved to keep Put's guarantee:
// files without a name on ext4 without a journal, mounted with barriers
// (noJournal), where it was traced. Elsewhere Put syncs each blob on its
// own (commitStaged).
type fsGroup struct {
	s *Dir
	// dir is the store's dir/tmp, open: what syncfs(2) names the file
	// system by, and what a cache flush syncs (see cycle).
	dir *os.File

	mu      sync.Mutex
	running bool // run is running
	pending []*groupJob
	cycles  int64 // cycles run, for tests
}

// groupJob is one Put's blob waiting to be made durable; done receives
// its error.
type groupJob struct {
	st   *staged
	done chan error
}

// named are the blobs one cycle named, to be answered after the next
// cycle's flush, and the directories made for them (place).
type named struct {
	jobs []*groupJob
	dirs []string
}

// newFSGroup returns the group of s, syncing the file system of its open
// directory dir.
func newFSGroup(s *Dir, dir *os.File) *fsGroup {
	return &fsGroup{s: s, dir: dir}
}

// commit makes st durable and named, with the blobs of the Puts that
// wait at the same time, and returns its error. On error st's temporary
// file is gone, or st is a whole blob whose name may not be durable.
func (g *fsGroup) commit(st *staged) error {
	job := &groupJob{st: st, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, job)
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	return <-job.done
}

// run runs cycles while blobs wait, then ends: its own goroutine, so
// that no Put waits for others' blobs after its own is durable.
func (g *fsGroup) run() {
	var last named
	g.mu.Lock()
	for len(g.pending) > 0 || len(last.jobs) > 0 {
		jobs := g.pending
		g.pending = nil
		g.cycles++
		g.mu.Unlock()
		last = g.cycle(last, jobs)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
}

// cycle makes durable everything written before it began, with one
// syncfs(2) and one cache flush (durable); then answers the blobs of
// last, which the cycle before named, and names the blobs of jobs, whose
// data and inodes are durable now, for the next cycle to answer. So a
// Put waits two cycles, and each cycle serves every Put waiting when it
// began, where a Put on its own makes two flushes (fdatasync before
// linkat, fsync after). On ext4 without a journal, mounted with barriers
// (noJournal), as follows.
//
// syncfs then a flush make durable what was written before syncfs
// began. sync_filesystem (fs/sync.c) writes every dirty inode's data and
// waits for it (sync_inodes_sb); delayed allocation gives the blobs
// their blocks then, and ext4 without a journal copies each changed
// inode into its inode table's buffer at once (ext4_mark_iloc_dirty:
// ext4_do_update_inode, mark_buffer_dirty); linkat does the same for the
// directory's block and the link count. sync_filesystem then flushes the
// disk's cache (ext4_sync_fs with wait set: blkdev_issue_flush with
// barriers) and only after that writes the block device's dirty buffers,
// the inode tables and directories among them, and waits for them
// (sync_blockdev): they have completed when syncfs returns but sit in
// the disk's cache. The flush that follows, fdatasync(2) of dir (on ext4
// without a journal an fsync always ends with one: ext4_fsync_nojournal
// sets needs_barrier), makes them durable.
//
// So a blob is named only after a cycle that began after its data was
// written: once linked, a name can reach the disk at any moment (the
// flusher thread, a sibling's sync of the directory), and it must not
// point to an inode whose blocks or size are not there. A Put is
// answered only after a cycle that began after its blob was named (or
// found stored: deduplicated, maybe linked by a concurrent Put not yet
// durable, but linked before the name was found). syncfs writes whatever
// else the file system holds dirty as well (the database's pages among
// them, which its own sync would write anyway).
func (g *fsGroup) cycle(last named, jobs []*groupJob) named {
	s := g.s
	err := g.durable()
	for _, j := range last.jobs {
		if j.st.inode != nil {
			j.st.inode.Close()
			j.st.inode = nil
		}
		if err == nil {
			j.done <- nil
		} else {
			j.done <- fmt.Errorf("blob: put: %w", err)
		}
	}
	if err != nil {
		for _, j := range jobs {
			j.st.discard()
			j.done <- fmt.Errorf("blob: put: %w", err)
		}
		return named{}
	}
	for _, d := range last.dirs {
		s.durableDirs.Store(d, struct{}{})
	}
	var next named
	var names dirNames
	for _, j := range jobs {
		if err := s.place(j.st, &names); err != nil {
			j.done <- err
			continue
		}
		next.jobs = append(next.jobs, j)
	}
	next.dirs = names.durable
	if len(jobs) > 0 {
		s.commits.Add(1)
	}
	return next
}

// durable makes everything the file system of g.dir holds written so far
// durable: syncfs(2), then a cache flush (see cycle).
func (g *fsGroup) durable() error {
	if err := g.s.ops.syncFS(g.dir); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	if err := g.s.ops.flush(g.dir); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// cyclesRun returns how many cycles the group has run.
func (g *fsGroup) cyclesRun() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cycles
}
