package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Blob holds let a backup pause blob garbage collection. A backup takes a
// hold, snapshots the database, copies the blobs and releases the hold; a
// collector that deletes blobs calls [BlobsHeld] inside the write
// transaction that deletes, and deletes nothing while a hold is active.
// SQLite admits one writer at a time, so either the deletion commits before
// the hold (and the snapshot, taken after the hold, no longer refers to the
// blob) or the collector sees the hold. Holds are rows in the database, so
// they work across processes: `caucus backup` run beside the server holds
// the server's collector. A hold that its holder never released (it
// crashed) expires after its time to live.
const createBlobHoldsTable = `CREATE TABLE IF NOT EXISTS blob_holds (
	id    INTEGER PRIMARY KEY,
	until INTEGER NOT NULL -- Unix seconds
)`

// HoldBlobs records a hold on blob deletion for at most ttl and returns the
// function that releases it. See [BlobsHeld].
func (db *DB) HoldBlobs(ctx context.Context, ttl time.Duration) (release func(context.Context) error, err error) {
	if _, err := db.ExecContext(ctx, createBlobHoldsTable); err != nil {
		return nil, fmt.Errorf("db: hold blobs: %w", err)
	}
	var id int64
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		until := time.Now().Add(ttl).Unix()
		return tx.QueryRowContext(ctx, `INSERT INTO blob_holds (until) VALUES (?) RETURNING id`, until).Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("db: hold blobs: %w", err)
	}
	return func(ctx context.Context) error {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM blob_holds WHERE id = ? OR until < unixepoch()`, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("db: release blob hold: %w", err)
		}
		return nil
	}, nil
}

// Querier is what [*sql.DB], [*sql.Tx] and [*sql.Conn] have in common for
// reading one row.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// BlobsHeld reports whether a hold taken with [DB.HoldBlobs] is active. Call
// it inside the write transaction that deletes blobs, and delete none if it
// reports true. A deleter that runs after the commit that removed the last
// reference (a trash emptied later) may call it with the [DB] itself: a
// snapshot taken after that commit does not refer to the blob, and one
// taken before it was preceded by its hold.
func BlobsHeld(ctx context.Context, q Querier) (bool, error) {
	var held bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_holds WHERE until >= unixepoch())`).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("db: reading blob holds: %w", err)
	}
	return held, nil
}

// Snapshot writes a consistent copy of the whole database to the new file
// path (VACUUM INTO, which reads in one read transaction, so writers go on
// meanwhile, also those of other processes), makes it mode 0600 and fsyncs
// it and its directory. It refuses to overwrite an existing file.
func (db *DB) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("db: snapshot: %s exists", path)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("db: snapshot: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("db: snapshot: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("db: snapshot: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("db: snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("db: snapshot: %w", err)
	}
	return nil
}
