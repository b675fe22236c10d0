package blob

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// gate is a sync function for tests: each run blocks until released, and
// returns the error it is released with.
type gate struct {
	runs    atomic.Int32
	release chan error
}

func newGate() *gate { return &gate{release: make(chan error)} }

func (g *gate) sync() error {
	g.runs.Add(1)
	return <-g.release
}

// TestSyncGroupShares: callers that arrive while a sync runs share the
// next one, and each gets its round's error.
func TestSyncGroupShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		sg := &syncGroup{sync: g.sync}
		errs := make([]error, 11)
		var wg sync.WaitGroup
		wg.Go(func() { errs[0] = sg.wait() })
		synctest.Wait() // the first caller is in the first run
		for i := 1; i < len(errs); i++ {
			wg.Go(func() { errs[i] = sg.wait() })
		}
		synctest.Wait()
		if n := g.runs.Load(); n != 1 {
			t.Fatalf("%d runs while the first one blocks, want 1", n)
		}
		g.release <- nil
		synctest.Wait()
		if n := g.runs.Load(); n != 2 {
			t.Fatalf("%d runs, want 2: the ten waiting callers share one", n)
		}
		second := errors.New("disk on fire")
		g.release <- second
		wg.Wait()
		if errs[0] != nil {
			t.Errorf("first caller: %v, want nil", errs[0])
		}
		for i, err := range errs[1:] {
			if err != second {
				t.Errorf("caller %d: %v, want the second run's error", i+1, err)
			}
		}
	})
}

// TestSyncGroupOrder: a run that began before a caller arrived does not
// release it (its writes may have come after that run started).
func TestSyncGroupOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		sg := &syncGroup{sync: g.sync}
		go sg.wait()
		synctest.Wait()
		var done atomic.Bool
		go func() {
			sg.wait()
			done.Store(true)
		}()
		synctest.Wait()
		g.release <- nil // the run that began before the second caller
		synctest.Wait()
		if done.Load() {
			t.Fatal("released by a run that began before it called")
		}
		g.release <- nil
		synctest.Wait()
		if !done.Load() {
			t.Fatal("not released by the run after it called")
		}
		if n := g.runs.Load(); n != 2 {
			t.Fatalf("%d runs, want 2", n)
		}
	})
}

// TestSyncGroupIdle: once no one waits, the group runs nothing more, and
// a later caller starts a run of its own.
func TestSyncGroupIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		sg := &syncGroup{sync: g.sync}
		for i := range 3 {
			var err error
			done := make(chan struct{})
			go func() { err = sg.wait(); close(done) }()
			synctest.Wait()
			g.release <- nil
			<-done
			synctest.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if n := g.runs.Load(); n != int32(i+1) {
				t.Fatalf("%d runs after %d callers one at a time", n, i+1)
			}
		}
	})
}

// TestPutSyncs: where syncfs(2) exists, a store opened in a directory that
// did not exist yet syncs through the group, and a Put waits for it: a
// failed sync fails the Put, and every Put after it.
func TestPutSyncs(t *testing.T) {
	if !haveSyncFS {
		t.Skip("no syncfs(2) here: Put syncs each file")
	}
	s, err := Open(filepath.Join(t.TempDir(), "new"))
	if err != nil {
		t.Fatal(err)
	}
	if s.group == nil {
		t.Fatal("no sync group")
	}
	var runs atomic.Int32
	s.group.sync = func() error { runs.Add(1); return s.syncFS() }
	if _, _, err := s.Put(t.Context(), strings.NewReader("minutes"), 0); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d syncs for one Put, want 2 (its content, then its name)", n)
	}
	failed := errors.New("EIO")
	s.syncErr.Store(&failed)
	for range 2 {
		if _, _, err := s.Put(t.Context(), strings.NewReader("agenda"), 0); !errors.Is(err, failed) {
			t.Fatalf("Put after a failed sync: %v", err)
		}
	}
}
