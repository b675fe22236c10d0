package db

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
)

// TestWALShrinksAtRest checks that the write-ahead log file goes back to
// at most walSizeLimit once a burst of writes is over: SQLite starts the
// log over from its beginning but, without journal_size_limit, keeps the
// file at the largest it ever was. Small file contents pass through the
// log since issue 21 (2,000 uploads of 64 KiB left a 162 MB log).
func TestWALShrinksAtRest(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE w (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	row := []byte(strings.Repeat("x", 1<<20))
	// One transaction of more than the limit: a burst, with no
	// checkpoint until it is committed.
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		for i := range walSizeLimit>>20 + 8 {
			row[0] = byte(i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES (?)`, row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(d.path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if n := size(); n <= walSizeLimit {
		t.Fatalf("the burst left a log of %d bytes, want more than %d for this test", n, walSizeLimit)
	}
	// At rest: a checkpoint copies every frame (as the group's in the
	// background does), and the next commit starts the log over.
	if _, err := d.ExecContext(ctx, `PRAGMA main.wal_checkpoint(PASSIVE)`); err != nil {
		t.Fatal(err)
	}
	g := d.NewGroup(1, nil)
	if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES (x'00')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := size(); n > walSizeLimit {
		t.Errorf("at rest the log file is %d bytes, want at most %d", n, walSizeLimit)
	}
}
