package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroup queues jobs while the turn is held, so that they commit in one
// transaction: the failing one rolls back alone, the others are all there,
// and a withdrawn one never runs.
func TestGroup(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	turns := 0
	g := d.NewGroup(64, func(context.Context) { turns++ })
	release, err := g.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errBad := errors.New("bad job")
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i); err != nil {
					return err
				}
				if i == 3 {
					return errBad // after its insert: the savepoint undoes it
				}
				return nil
			})
		})
	}
	for g.Queued() < n {
		time.Sleep(time.Millisecond)
	}
	// One more, withdrawn before any commit.
	cctx, cancel := context.WithCancel(ctx)
	ran := false
	withdrawn := make(chan error, 1)
	go func() {
		withdrawn <- g.Do(cctx, func(context.Context, *sql.Tx) error { ran = true; return nil })
	}()
	for g.Queued() < n+1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-withdrawn; !errors.Is(err, context.Canceled) || ran {
		t.Errorf("withdrawn job: %v, ran %v", err, ran)
	}
	release()
	wg.Wait()

	for i, err := range errs {
		if want := error(nil); i == 3 {
			if !errors.Is(err, errBad) {
				t.Errorf("job 3: %v, want its own error", err)
			}
		} else if err != want {
			t.Errorf("job %d: %v", i, err)
		}
	}
	var count int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM g WHERE n != 3`).Scan(&count); err != nil || count != n-1 {
		t.Errorf("%d rows of the good jobs, want %d (%v)", count, n-1, err)
	}
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM g WHERE n = 3`).Scan(&count); err != nil || count != 0 {
		t.Errorf("the failed job's row is there: %d (%v)", count, err)
	}
	if turns != 1 {
		t.Errorf("%d commit turns, want 1 for the whole group", turns)
	}
}

// TestGroupPanic: a panicking job fails its whole group with an error,
// no caller waits forever, and the panic goes on in the committer.
func TestGroupPanic(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	g := d.NewGroup(64, nil)
	release, err := g.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	for i := range 2 {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					results <- fmt.Errorf("panic: %v", p)
				}
			}()
			results <- g.Do(ctx, func(context.Context, *sql.Tx) error {
				if i == 0 {
					panic("job 0")
				}
				return nil
			})
		}()
	}
	for g.Queued() < 2 {
		time.Sleep(time.Millisecond)
	}
	release()
	for range 2 {
		select {
		case err := <-results:
			if err == nil {
				t.Error("a job of the panicking group succeeded")
			}
		case <-time.After(10 * time.Second): // a hang, not a timing assertion
			t.Fatal("a caller still waits after the group panicked")
		}
	}
}

// TestGroupBeforeCommit checks that the step set with SetBeforeCommit runs
// once per group, after the jobs and in their transaction, and that its
// failure undoes its own work only.
func TestGroupBeforeCommit(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY); CREATE TABLE steps (jobs INTEGER)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	fail := false
	g.SetBeforeCommit(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO steps (jobs) SELECT count(*) FROM g`); err != nil {
			return err
		}
		if fail {
			return errors.New("step fails")
		}
		return nil
	})
	insert := func(i int) error {
		return g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i)
			return err
		})
	}
	release, err := g.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = insert(i) })
	}
	for g.Queued() < len(errs) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := insert(10); err != nil {
		t.Fatalf("a job whose group's step failed: %v", err)
	}
	var steps, last, rows int
	if err := d.QueryRowContext(ctx, `SELECT count(*), coalesce(max(jobs), 0), (SELECT count(*) FROM g) FROM steps`).Scan(&steps, &last, &rows); err != nil {
		t.Fatal(err)
	}
	if steps != 1 || last != 3 || rows != 4 {
		t.Errorf("%d steps recorded (the last saw %d jobs), %d jobs' rows; want 1 step that saw 3, 4 rows", steps, last, rows)
	}
}

// TestGroupPipedSQLite checks DoPiped on SQLite, where it is Do of the
// statement and its then: each then reads its own row, and a then's
// failure undoes its statement alone.
func TestGroupPipedSQLite(t *testing.T) {
	t.Parallel()
	d, g, release := heldGroup(t)
	ctx := t.Context()
	errBad := errors.New("bad job")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = g.DoPiped(ctx, `INSERT INTO g (n) VALUES (?) RETURNING n`, []any{i}, func(ctx context.Context, tx *sql.Tx, row Row) error {
				var got int
				if err := row.Scan(&got); err != nil {
					return err
				}
				if got != i {
					return fmt.Errorf("job %d read the row of %d", i, got)
				}
				if i == 2 {
					return errBad
				}
				return nil
			})
		})
	}
	for g.Queued() < n {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if (i == 2) != errors.Is(err, errBad) || i != 2 && err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	if got := count(t, d, `SELECT count(*) FROM g WHERE n <> 2`); got != n-1 || count(t, d, `SELECT count(*) FROM g WHERE n = 2`) != 0 {
		t.Errorf("%d rows of the jobs that succeeded, want %d; or the failed one's is there", got, n-1)
	}
}

// TestGroupBareSQLite checks jobs queued by DoBare on SQLite, which run
// without a savepoint: in a group where one fails with its own error
// after its insert and one with SQLite's (a duplicate key), each fails
// alone, with its own error, and the others (bare or not) are committed
// once each: the group rolled back and ran again, every job in a
// savepoint.
func TestGroupBareSQLite(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	insert := func(ctx context.Context, tx *sql.Tx, n int) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, n)
		return err
	}
	if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, 1000) }); err != nil {
		t.Fatal(err)
	}
	errBad := errors.New("bad job")
	const n = 10
	release, err := g.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	runs := make([]int, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		fn := func(ctx context.Context, tx *sql.Tx) error {
			mu.Lock()
			runs[i]++
			mu.Unlock()
			switch i {
			case 3:
				if err := insert(ctx, tx, 100+i); err != nil {
					return err
				}
				return errBad // after its insert
			case 6:
				return insert(ctx, tx, 1000) // a duplicate key
			}
			return insert(ctx, tx, 100+i)
		}
		wg.Go(func() {
			if i == 8 {
				errs[i] = g.Do(ctx, fn)
			} else {
				errs[i] = g.DoBare(ctx, fn)
			}
		})
	}
	for g.Queued() < n {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 3 && !errors.Is(err, errBad):
			t.Errorf("job 3: %v, want its own error", err)
		case i == 6 && err == nil:
			t.Errorf("job 6 (a duplicate key) succeeded")
		case i != 3 && i != 6 && err != nil:
			t.Errorf("job %d: %v", i, err)
		}
	}
	if rows := count(t, d, `SELECT count(*) FROM g WHERE n >= 100 AND n < 1000`); rows != n-2 {
		t.Errorf("%d rows of the group, want %d", rows, n-2)
	}
	if st := g.Stats(); st.Commits != 2 {
		t.Errorf("%d commits, want 2 (the first group's, and the second's once, run again)", st.Commits)
	}
	// The first of the failing jobs failed without a savepoint, then
	// again in one: it ran twice.
	if runs[3]+runs[6] < 3 {
		t.Errorf("runs of the failing jobs 3 and 6: %d and %d; want one of them twice (first without a savepoint)", runs[3], runs[6])
	}
}

// TestGroupTimes checks that a group's stats sum where its commits' time
// went: jobs queued while the turn was held waited, and the group that
// took them spent time in BEGIN, in the jobs and in COMMIT.
func TestGroupTimes(t *testing.T) {
	t.Parallel()
	_, g, release := heldGroup(t)
	ctx := t.Context()
	const n = 3
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for g.Queued() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Millisecond) // so that each job waits at least this long
	release()
	wg.Wait()
	st := g.Stats()
	if st.Commits != 1 || st.Jobs != n {
		t.Fatalf("stats %+v: want one commit of %d jobs", st, n)
	}
	if tm := st.Times; tm.Wait < n*time.Millisecond || tm.Begin <= 0 || tm.Run <= 0 || tm.Commit <= 0 {
		t.Errorf("times %+v: want a wait of at least %v (the turn held) and some BEGIN, jobs and COMMIT", tm, n*time.Millisecond)
	}
}

// heldGroup opens a database with a table g (n INTEGER PRIMARY KEY) and
// returns it with a group whose turn is held: jobs queued before release
// is called commit together.
func heldGroup(t *testing.T) (*DB, *Group, func()) {
	t.Helper()
	d := open(t)
	if _, err := d.ExecContext(t.Context(), `CREATE TABLE g (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	release, err := g.Hold(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return d, g, release
}
