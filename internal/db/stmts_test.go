package db

import (
	"database/sql"
	"testing"
)

// TestStmts runs cached statements outside and inside a transaction, and
// a query that cannot be prepared reports its error.
func TestStmts(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	if _, err := d.Stmts(nil).ExecContext(ctx, `CREATE TABLE s (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		for i := range 3 {
			if _, err := d.Stmts(tx).ExecContext(ctx, `INSERT INTO s (n) VALUES (?)`, i); err != nil {
				return err
			}
		}
		var n int
		return d.Stmts(tx).QueryRowContext(ctx, `SELECT count(*) FROM s`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := d.Stmts(nil).QueryRowContext(ctx, `SELECT sum(n) FROM s`).Scan(&sum); err != nil || sum != 3 {
		t.Errorf("sum %d, %v; want 3", sum, err)
	}
	if err := d.Stmts(nil).QueryRowContext(ctx, `SELECT nope FROM s`).Scan(&sum); err == nil {
		t.Error("a bad query gave no error")
	}
	if _, err := d.Stmts(nil).QueryContext(ctx, `SELECT nope FROM s`); err == nil {
		t.Error("a bad query gave no error")
	}
}
