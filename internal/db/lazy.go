package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
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
func (db *DB) TxLazy(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.txWith(ctx, lazyPragmas, fn)
}

// ReadUnmapped runs fn on a connection of the pool without its memory map
// of the database file, as [Group.DoUnmapped]'s groups do, for a read that
// scans much of the database once (the totals of a whole mailbox's import):
// read through the map, the pages it touched, and their neighbours that the
// kernel maps around each fault, would stay in the process's resident
// memory. fn must not keep conn. On PostgreSQL it is fn on a connection.
func (db *DB) ReadUnmapped(ctx context.Context, fn func(conn *sql.Conn) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	defer conn.Close()
	if db.engine == Postgres {
		return fn(conn)
	}
	return withPragmas(ctx, conn, []connPragma{unmapped}, func() error { return fn(conn) })
}

// withPragmas runs fn with conn set up with pragmas, then resets them;
// if a reset fails, conn is marked bad, so that the pool closes it rather
// than give it out with them, and the failure joins fn's error.
func withPragmas(ctx context.Context, conn *sql.Conn, pragmas []connPragma, fn func() error) (err error) {
	defer func() {
		rctx := context.WithoutCancel(ctx)
		for _, p := range pragmas {
			if _, rerr := conn.ExecContext(rctx, p.reset); rerr != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn })
				err = errors.Join(err, fmt.Errorf("db: restoring %q: %w", p.reset, rerr))
				return
			}
		}
	}()
	for _, p := range pragmas {
		if _, err := conn.ExecContext(ctx, p.set); err != nil {
			return fmt.Errorf("db: setting %q: %w", p.set, err)
		}
	}
	return fn()
}

// connPragma is a setting of one connection: set for one transaction,
// then reset before the connection goes back to the pool.
type connPragma struct{ set, reset string }

// walAutoCheckpoint is SQLite's default wal_autocheckpoint (frames), which
// Open leaves in place and noCheckpoint puts back.
const walAutoCheckpoint = "1000"

var (
	// lazyPragmas make a commit that does not wait for the disk.
	lazyPragmas = []connPragma{{`PRAGMA synchronous = NORMAL`, `PRAGMA synchronous = FULL`}}
	// noCheckpoint keeps the commit from checkpointing the log itself
	// (see [Group]).
	noCheckpoint = connPragma{`PRAGMA wal_autocheckpoint = 0`, `PRAGMA wal_autocheckpoint = ` + walAutoCheckpoint}
	// unmapped reads the database file without a memory map; setting it
	// drops the connection's map (SQLITE_FCNTL_MMAP_SIZE unmaps it),
	// resetting it lets the next transaction map the file again.
	unmapped = connPragma{`PRAGMA mmap_size = 0`, `PRAGMA mmap_size = ` + mmapSizeText}
)

// txWith is [DB.Tx] on a connection set up with pragmas for the
// transaction's duration. The settings are reset before the connection
// goes back to the pool; if that fails, the connection is closed instead,
// so that no other transaction ever runs with them.
func (db *DB) txWith(ctx context.Context, pragmas []connPragma, fn func(tx *sql.Tx) error) (err error) {
	if err := db.takeWriter(ctx); err != nil {
		return err
	}
	defer db.releaseWriter()
	if db.engine == Postgres {
		// The pragmas are SQLite's: a group's own checkpointing has no
		// counterpart, and a lazy commit is synchronous_commit off.
		if slices.Contains(pragmas, lazyPragmas[0]) {
			return db.txLazyPostgres(ctx, fn)
		}
		return db.txPostgres(ctx, fn)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer conn.Close()
	return txOn(ctx, conn, pragmas, fn)
}

// txOn runs fn in a transaction on conn, set up with pragmas for its
// duration (see withPragmas); the caller holds the writer slot.
func txOn(ctx context.Context, conn *sql.Conn, pragmas []connPragma, fn func(tx *sql.Tx) error) error {
	return withPragmas(ctx, conn, pragmas, func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("db: begin: %w", err)
		}
		return runTx(tx, fn)
	})
}

// txLazyPostgres is TxLazy on PostgreSQL: the transaction's commit does not
// wait for its WAL flush (synchronous_commit off for this transaction
// only). PostgreSQL commits it atomically all the same, and a crash loses
// at most the last few such transactions, never a durable one.
func (db *DB) txLazyPostgres(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.beginLocked(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		tx.Rollback()
		return fmt.Errorf("db: begin: %w", err)
	}
	return runTx(tx, fn)
}
