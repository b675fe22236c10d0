package db

import (
	"database/sql"
	"errors"
	"testing"
)

// TestTxLazy checks that a lazy transaction commits and rolls back like
// Tx, and that the connection it used goes back to the pool syncing
// every commit again (synchronous=FULL, 2): a pool connection left at
// NORMAL would make later durable commits return before the disk has them.
func TestTxLazy(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	db.SetMaxOpenConns(1) // the lazy transaction's connection is the one checked after
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	var during int
	err := db.TxLazy(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&during); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if during != 1 {
		t.Errorf("synchronous inside TxLazy = %d, want 1 (NORMAL)", during)
	}
	boom := errors.New("boom")
	err = db.TxLazy(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (2)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("TxLazy = %v, want %v", err, boom)
	}
	if n := count(t, db, `SELECT count(*) FROM t`); n != 1 {
		t.Errorf("%d rows, want 1 (the second transaction rolled back)", n)
	}
	if n := count(t, db, `PRAGMA synchronous`); n != 2 {
		t.Errorf("synchronous after TxLazy = %d, want 2 (FULL)", n)
	}
}
