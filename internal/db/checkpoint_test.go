package db

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// walFrames returns how many frames the write-ahead log holds since it
// last started over, after a passive checkpoint of them.
func walFrames(t *testing.T, d *DB) (log, done int) {
	t.Helper()
	var busy int
	if err := d.QueryRowContext(t.Context(), `PRAGMA main.wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	return log, done
}

// groupWrites commits n jobs through g, one at a time, each adding a row
// of about 16 KB (four or five pages of the log).
func groupWrites(t *testing.T, g *Group, n int) {
	t.Helper()
	row := strings.Repeat("x", 16<<10)
	for range n {
		err := g.Do(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES (?)`, row)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestGroupCommitNoCheckpoint checks that a group's commit never runs a
// checkpoint of the write-ahead log itself (SQLite's automatic checkpoint
// at 1000 frames, on the committing connection): copying the log into the
// database file and syncing it there took the commit, and every write
// queued behind it, tens of milliseconds, the tail of IMAP STORE. With the
// group's own checkpoint held back, the log keeps every frame of 300
// commits: an automatic checkpoint would have let the next commit start
// the log over.
func TestGroupCommitNoCheckpoint(t *testing.T) {
	t.Parallel()
	d := open(t)
	if _, err := d.ExecContext(t.Context(), `CREATE TABLE w (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	g.checkpoint = func(context.Context) error { return nil } // none in the background either
	groupWrites(t, g, 300)
	if log, _ := walFrames(t, d); log < 1200 {
		t.Errorf("the log holds %d frames after 300 commits of 4 or more pages: a commit checkpointed it", log)
	}
}

// TestGroupCheckpointBeside checks that the group checkpoints the log in
// the background every checkpointEvery commits, and that commits go on
// while that checkpoint runs (here: is held before it starts).
func TestGroupCheckpointBeside(t *testing.T) {
	t.Parallel()
	d := open(t)
	if _, err := d.ExecContext(t.Context(), `CREATE TABLE w (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	started, release := make(chan struct{}), make(chan struct{})
	g.checkpoint = func(ctx context.Context) error {
		close(started)
		<-release
		return g.passiveCheckpoint(ctx)
	}
	groupWrites(t, g, checkpointEvery)
	<-started
	groupWrites(t, g, 10) // while the checkpoint is held: the commits do not wait for it
	close(release)
	g.checkpoints.Wait()
	groupWrites(t, g, 1) // starts the log over, all of it being in the database file
	if log, _ := walFrames(t, d); log > 20 {
		t.Errorf("the log holds %d frames after the checkpoint and one more commit, want a few", log)
	}
}

// TestGroupLazyAfterQueued checks the order of [Group.Lazy]: the durable
// jobs queued when it asks for the turn commit before its lazy work, and
// the lazy work before jobs queued after it got the turn.
func TestGroupLazyAfterQueued(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE o (seq INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	hold, err := g.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx *sql.Tx, who string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO o (who) VALUES (?)`, who)
		return err
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, "before") }); err != nil {
				t.Error(err)
			}
		})
	}
	for g.Queued() < 3 {
		time.Sleep(time.Millisecond)
	}
	inLazy, lazyGo := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		err := g.Lazy(ctx, func(tx *sql.Tx) error {
			close(inLazy)
			<-lazyGo
			return insert(ctx, tx, "lazy")
		})
		if err != nil {
			t.Error(err)
		}
	})
	time.Sleep(10 * time.Millisecond) // Lazy waits for the turn (or, wrongly, does not)
	hold()
	<-inLazy
	wg.Go(func() {
		if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, "after") }); err != nil {
			t.Error(err)
		}
	})
	for g.Queued() < 1 {
		time.Sleep(time.Millisecond)
	}
	close(lazyGo)
	wg.Wait()
	rows, err := d.QueryContext(ctx, `SELECT who FROM o ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	for rows.Next() {
		var who string
		if err := rows.Scan(&who); err != nil {
			t.Fatal(err)
		}
		order = append(order, who)
	}
	if want := []string{"before", "before", "before", "lazy", "after"}; !slices.Equal(order, want) {
		t.Errorf("commit order %q, want %q", order, want)
	}
}

// TestGroupBulkLogStartsOver checks that the write-ahead log stops
// growing while bulk jobs ([Group.DoUnmapped], a mailbox import's
// batches) keep committing: the background checkpoints run beside the
// commits and never catch up with them, so SQLite never starts the log
// over (a 5 GB import's log reached 573 MB). Past bulkLogFrames, a group
// carrying a bulk job checkpoints the log with the turn held, and the
// commit after it starts the log over.
func TestGroupBulkLogStartsOver(t *testing.T) {
	t.Parallel()
	logAfterBurst(t, func(g *Group) { g.bulkLogFrames = 1000 }, (*Group).DoUnmapped)
}

// TestGroupBurstLogStartsOver: ordinary jobs too (a sync client
// uploading a folder of small files, kept in the database) stop the log
// from growing, past burstLogFrames. Before that bound, 2,000 uploads of
// 64 KiB left a 161 MB log; this test's log grew to 32 MB.
func TestGroupBurstLogStartsOver(t *testing.T) {
	t.Parallel()
	logAfterBurst(t, func(g *Group) { g.burstLogFrames = 1000 }, (*Group).Do)
}

// logAfterBurst commits 1,600 jobs of 16 KB through do, four writers at
// once beside a reader, on a group set by set, and checks that the log
// started over on the way.
func logAfterBurst(t *testing.T, set func(*Group), do func(g *Group, ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error) {
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE w (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(64, nil)
	set(g)
	row := strings.Repeat("x", 16<<10)
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	readers.Go(func() { // as the writers' own look-ups do
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := d.QueryRowContext(ctx, `SELECT count(*) FROM w`).Scan(&n); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		writers.Go(func() {
			for range 400 {
				err := do(g, ctx, func(ctx context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES (?)`, row)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	g.checkpoints.Wait()
	fi, err := os.Stat(d.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 1,600 jobs of five pages or more: 32 MB of log if it never starts
	// over. It may reach the bound (1000 frames, 4 MB) and what the
	// commits add until the checkpoint in the background after next says
	// how long it is: 128 commits of up to four jobs, 13 MB.
	t.Logf("the log: %d KB", fi.Size()>>10)
	if fi.Size() > 18<<20 {
		t.Errorf("the log is %d MB after 1,600 jobs of 16 KB, want at most 18 MB (a bound of 1000 frames: 4 MB, and 128 commits)", fi.Size()>>20)
	}
}
