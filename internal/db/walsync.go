package db

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// walSyncer makes the commits of groups that sync behind the turn
// ([Group.SyncBehind]) durable: such a group commits with
// synchronous=NORMAL, which writes the commit's frames to the
// write-ahead log without syncing it, and then waits here for an
// fdatasync of the log that began after its commit returned. One sync
// covers every commit written before it began: the log is one file,
// written in order. While one sync runs, the commits written meanwhile
// wait for it to end and then share the next.
//
// Commits are counted, not located: written is the number of commits
// so far, each one numbered as it is written, with the process's
// writer slot held (see [DB.Tx]), so that the numbers follow the log's
// order.
type walSyncer struct {
	path string // the log file: the database's path + "-wal"

	mu       sync.Mutex
	cond     sync.Cond
	written  uint64        // commits written so far
	synced   uint64        // of those, the ones a sync has made durable
	syncing  bool          // a sync runs
	ended    chan struct{} // closed when the running sync ends (see running)
	began    time.Time     // when the running sync began
	took     time.Duration // how long syncs take: a moving average
	waiters  int           // callers in wait, the one syncing aside (tests)
	syncs    int64         // syncs made (GroupStats.Syncs)
	failures []syncFailure // every failed sync, for the waiters that have not yet seen theirs

	// sync makes the log durable (syncWAL); tests replace it.
	sync func() error
}

// syncFailure is a sync of the log that failed: the commits numbered
// (from, to] are not known to be durable, whatever later syncs say (on
// Linux a failed fdatasync may drop the pages it failed to write, and
// the next one succeeds without them).
type syncFailure struct {
	from, to uint64
	err      error
}

func newWALSyncer(path string) *walSyncer {
	s := &walSyncer{path: path + "-wal"}
	s.cond.L = &s.mu
	s.sync = s.syncWAL
	return s
}

// wrote numbers a commit just written to the log without a sync; the
// caller holds the writer slot.
func (s *walSyncer) wrote() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written++
	return s.written
}

// wait returns once commit n is durable: when a sync that began after
// it was written has ended. If none runs, the caller syncs itself. It
// returns the error of the sync that should have made n durable.
func (s *walSyncer) wait(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for _, f := range s.failures {
			if f.from < n && n <= f.to {
				return f.err
			}
		}
		if s.synced >= n {
			return nil
		}
		if !s.syncing {
			break
		}
		s.waiters++
		s.cond.Wait()
		s.waiters--
	}
	s.syncing = true
	s.ended, s.began = make(chan struct{}), time.Now()
	from, to := s.synced, s.written
	s.mu.Unlock()
	err := s.sync()
	s.mu.Lock()
	s.took = average(s.took, time.Since(s.began))
	s.syncing = false
	close(s.ended)
	s.syncs++
	if err != nil {
		err = fmt.Errorf("db: syncing the write-ahead log: %w", err)
		s.failures = append(s.failures, syncFailure{from: from, to: to, err: err})
	}
	// Later commits are made durable by later syncs; failed ones stay
	// failed (see failures).
	s.synced = max(s.synced, to)
	s.cond.Broadcast()
	return err
}

// running returns a channel closed when the running sync ends, or nil
// if none runs, and when that sync is likely to end.
func (s *walSyncer) running() (ended <-chan struct{}, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.syncing {
		return nil, time.Time{}
	}
	return s.ended, s.began.Add(s.took)
}

// average returns a moving average of durations, avg so far, with d
// weighing an eighth.
func average(avg, d time.Duration) time.Duration {
	if avg == 0 {
		return d
	}
	return avg + (d-avg)/8
}

// flush returns once every commit written so far is durable, for a
// writer that must see nothing else (see [Group.SyncBehind]); the
// caller holds the writer slot, so none is written meanwhile. If the
// last commits' sync failed (their jobs were told), it waits for a
// sync of its own, as if it had written a commit: a disk that failed
// once would otherwise fail every writer until the next commit that
// syncs behind. The pages that sync failed to write may be lost all
// the same; SQLite's own commit would have published none of them.
func (s *walSyncer) flush() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	n := s.written
	s.mu.Unlock()
	if err := s.wait(n); err == nil {
		return nil
	}
	return s.wait(s.wrote())
}

// made returns how many syncs s has made; 0 for nil.
func (s *walSyncer) made() int64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}

// syncWAL makes the log's written pages durable (see syncFile), through
// a descriptor of its own, opened for the sync: SQLite's own is not
// reachable, and the file a kept descriptor named could have been
// removed and made anew meanwhile. A log that is not there needs no
// sync: SQLite removes it only when the last connection to the
// database closes, after a checkpoint that copied every frame into the
// database file and synced it (sqlite3WalClose).
func (s *walSyncer) syncWAL() error {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = syncFile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
