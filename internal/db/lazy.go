package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// TxLazy is [DB.Tx] for work that may be lost in a crash because it can
// be redone from what is durable (the mail store's full-text index, whose
// durable queue of bodies to index is removed in the same transaction):
// its commit does not wait for the disk. The transaction runs on a
// connection set to synchronous=NORMAL for its duration, then set back to
// FULL before the connection returns to the pool (or closed, if that
// fails). In WAL mode the commit is atomic all the same, and the next
// durable commit's sync of the log carries it to disk: a crash loses it
// only together with everything committed after it, never half of it and
// never a durable commit.
func (db *DB) TxLazy(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if err := db.takeWriter(ctx); err != nil {
		return err
	}
	defer db.releaseWriter()
	if db.engine == Postgres {
		return db.txLazyPostgres(ctx, fn)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		// Never give a connection that does not sync back to the pool.
		rctx := context.WithoutCancel(ctx)
		if _, rerr := conn.ExecContext(rctx, `PRAGMA synchronous = FULL`); rerr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("db: restoring synchronous: %w", rerr))
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	return runTx(tx, fn)
}

// txLazyPostgres is TxLazy on PostgreSQL: the transaction's commit does not
// wait for its WAL flush (synchronous_commit off for this transaction
// only). PostgreSQL commits it atomically all the same, and a crash loses
// at most the last few such transactions, never a durable one.
func (db *DB) txLazyPostgres(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	if err := db.lockWriter(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		tx.Rollback()
		return fmt.Errorf("db: begin: %w", err)
	}
	return runTx(tx, fn)
}
