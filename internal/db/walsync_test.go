package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// syncLog records, in order, what a group that syncs behind its turn
// did: each sync of the log when it has returned, with the rows it made
// durable (those visible when it began: committed before it), and each
// job's answer.
type syncLog struct {
	mu     sync.Mutex
	events []string
}

func (l *syncLog) add(format string, args ...any) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// recordSyncs makes d's syncs of the log record themselves in l, with
// the rows of table g that each made durable, then call then (if not
// nil) before they return.
func recordSyncs(t *testing.T, d *DB, l *syncLog, then func() error) {
	real := d.wal.sync
	d.wal.sync = func() error {
		var rows sql.NullString
		if err := d.QueryRowContext(context.Background(), `SELECT group_concat(n) FROM g`).Scan(&rows); err != nil {
			t.Error(err)
		}
		err := real()
		if then != nil && err == nil {
			err = then()
		}
		if err == nil {
			l.add("synced %s", rows.String)
		}
		return err
	}
}

// TestSyncBehindAnswersAfterSync commits jobs through a group that syncs
// behind its turn, many at once so that groups commit while an earlier
// group's sync runs, and checks from the recorded order that every job
// was answered only after a sync that began once its row was committed
// (a sync that ended before the answer and whose rows include it).
func TestSyncBehindAnswersAfterSync(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(4, nil)
	g.SyncBehind()
	l := &syncLog{}
	recordSyncs(t, d, l, nil)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i)
				return err
			})
			if err != nil {
				t.Errorf("job %d: %v", i, err)
				return
			}
			l.add("answered %d", i)
		})
	}
	wg.Wait()

	durable := map[string]bool{}
	syncs := 0
	for _, e := range l.events {
		if rows, ok := strings.CutPrefix(e, "synced "); ok {
			syncs++
			for r := range strings.SplitSeq(rows, ",") {
				durable[r] = true
			}
			continue
		}
		if row := strings.TrimPrefix(e, "answered "); !durable[row] {
			t.Errorf("job %s answered before a sync made its row durable; events: %q", row, l.events)
			break
		}
	}
	if st := g.Stats(); st.Syncs != int64(syncs) || st.Commits < 2 {
		t.Errorf("%d syncs recorded, stats %+v: want as many, and several commits", syncs, st)
	}
}

// TestSyncBehindTxWaits checks that a write transaction of another kind
// ([DB.Tx]) begins only once the commit of a group that syncs behind
// its turn is durable: its function runs after the sync has returned.
func TestSyncBehindTxWaits(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(4, nil)
	g.SyncBehind()
	l := &syncLog{}
	started, release := make(chan struct{}), make(chan struct{})
	first := true
	recordSyncs(t, d, l, func() error {
		if first { // the job's sync waits for the test
			first = false
			close(started)
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		done <- g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (1)`)
			return err
		})
	}()
	<-started
	txDone := make(chan error, 1)
	go func() {
		txDone <- d.Tx(ctx, func(tx *sql.Tx) error {
			l.add("tx")
			_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (2)`)
			return err
		})
	}()
	// Until the transaction waits for the sync, or (the bug) runs.
	for {
		d.wal.mu.Lock()
		waiting := d.wal.waiters > 0
		d.wal.mu.Unlock()
		l.mu.Lock()
		ran := slices.Contains(l.events, "tx")
		l.mu.Unlock()
		if waiting || ran {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(l.events, "tx"); i < 0 || !slices.Contains(l.events[:i], "synced 1") {
		t.Errorf("events %q: the transaction ran before the group's commit was synced", l.events)
	}
}

// TestSyncBehindFailedSync checks that the jobs of a commit whose sync
// failed get its error, that a write transaction after it syncs again
// instead of failing, and that the next commit's jobs, synced, do not
// fail.
func TestSyncBehindFailedSync(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(4, nil)
	g.SyncBehind()
	errDisk := errors.New("disk gone")
	fail := true
	d.wal.sync = func() error {
		if fail {
			fail = false
			return errDisk
		}
		return nil
	}
	insert := func(i int) error {
		return g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i)
			return err
		})
	}
	if err := insert(1); !errors.Is(err, errDisk) {
		t.Errorf("job of the failed sync: %v, want %v", err, errDisk)
	}
	syncs := g.Stats().Syncs
	// A transaction after it waits for a sync of its own, not for the
	// next commit's.
	if err := d.Tx(ctx, func(*sql.Tx) error { return nil }); err != nil {
		t.Errorf("a transaction after the failed sync: %v", err)
	}
	if n := g.Stats().Syncs; n != syncs+1 {
		t.Errorf("%d syncs for the transaction, want 1", n-syncs)
	}
	if err := insert(2); err != nil {
		t.Errorf("job of the next sync: %v", err)
	}
	if n := count(t, d, `SELECT count(*) FROM g`); n != 2 {
		t.Errorf("%d rows, want both: a failed sync leaves its commit in place", n)
	}
}

// BenchmarkGroupSyncBehind commits rows of 64 KiB (a WebDAV upload kept
// in the database: 17 frames of the log each) from 8 goroutines through
// a group commit that syncs inside its turn and through one that syncs
// behind it ([Group.SyncBehind]), in turn, three rounds, each on a
// database of its own, so that the host's load falls on both alike. It
// reports the syncs and the jobs per commit, and the process's CPU time,
// per row.
func BenchmarkGroupSyncBehind(b *testing.B) {
	for round := range 3 {
		for _, behind := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/round%d", map[bool]string{false: "inside", true: "behind"}[behind], round+1), func(b *testing.B) {
				d, err := Open(b.Context(), filepath.Join(b.TempDir(), "caucus.db"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				if _, err := d.ExecContext(b.Context(), `CREATE TABLE g (n INTEGER PRIMARY KEY, data BLOB)`); err != nil {
					b.Fatal(err)
				}
				g := d.NewGroup(64, nil)
				if behind {
					g.SyncBehind()
				}
				var syncs atomic.Int64
				real := d.wal.sync
				d.wal.sync = func() error { syncs.Add(1); return real() }
				before, cpu0 := g.Stats(), processCPU()
				b.SetParallelism(4) // 8 goroutines on two cores
				b.RunParallel(func(pb *testing.PB) {
					data := make([]byte, 64<<10)
					for pb.Next() {
						rand.Read(data)
						err := g.Do(b.Context(), func(ctx context.Context, tx *sql.Tx) error {
							_, err := tx.ExecContext(ctx, `INSERT INTO g (data) VALUES (?)`, data)
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				st := g.Stats()
				jobs := float64(st.Jobs - before.Jobs)
				b.ReportMetric(float64(processCPU()-cpu0)/1e3/jobs, "cpu-µs/op")
				b.ReportMetric(jobs/float64(st.Commits-before.Commits), "jobs/commit")
				if behind {
					b.ReportMetric(float64(syncs.Load())/jobs, "syncs/op")
				} else {
					b.ReportMetric(float64(st.Commits-before.Commits)/jobs, "syncs/op")
				}
			})
		}
	}
}

// processCPU returns the CPU time, user and system, this process has
// used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
