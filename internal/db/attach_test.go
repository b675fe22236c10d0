package db_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
)

// TestIndexFileOwnLock checks that a write transaction of the index file
// in progress does not keep the database's write transactions from
// committing, and that the database's connections read the index file's
// committed rows (attached read-only) but cannot write them.
func TestIndexFileOwnLock(t *testing.T) {
	ctx := t.Context()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Index().ExecContext(ctx, `CREATE TABLE words (w TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `CREATE TABLE flags (f TEXT)`); err != nil {
		t.Fatal(err)
	}
	err = d.Index().Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO words VALUES ('a')`); err != nil {
			return err
		}
		// The index file's write lock is held: the database's writes
		// must not wait for it (they would fail after busy_timeout).
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		return d.Tx(wctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO flags VALUES ('\Seen')`)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM words JOIN flags`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("join of both files: %d rows, %v; want 1", n, err)
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO `+db.IndexSchema+`.words VALUES ('b')`); err == nil {
		t.Fatal("the database's connections wrote the index file")
	}
}
