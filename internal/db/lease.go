package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leases let one node among several run a housekeeping job (garbage
// collection, backups, resuming imports, expiries) while the others wait
// to take over. A lease is a row naming its holder and when it lapses, by
// the database's clock (so the nodes' clocks need not agree); its holder
// renews it well before then, and another node takes it once it has
// lapsed (its holder stopped or lost the database).
const createLeasesTablePG = `CREATE TABLE IF NOT EXISTS leases (
	name  TEXT PRIMARY KEY,
	node  TEXT NOT NULL,
	until DOUBLE PRECISION NOT NULL -- Unix seconds, by the database's clock
)`

// LeaseTTL is how long a lease lasts unless renewed; it is renewed every
// third of it.
const LeaseTTL = 30 * time.Second

// RunAsLeader runs fn on this node only while it holds the lease name
// among the nodes (node names this process), until ctx is done. On
// PostgreSQL it waits until it can take the lease, runs fn with a context
// that ends if the lease is lost (not renewed in time), and tries again
// after fn returned. On SQLite (one node) it simply runs fn(ctx). A node
// stopping releases its lease, so another takes over at its next try.
// The leases table is made by [DB.Migrate].
func (db *DB) RunAsLeader(ctx context.Context, name, node string, fn func(ctx context.Context)) {
	if db.engine != Postgres {
		fn(ctx)
		return
	}
	every := LeaseTTL / 3
	for ctx.Err() == nil {
		held, err := db.takeLease(ctx, name, node)
		if err != nil && ctx.Err() == nil {
			db.log.Warn("db: lease", "lease", name, "err", err)
		}
		if held {
			db.lead(ctx, name, node, every, fn)
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// lead runs fn while renewing the lease every period; it returns when fn
// returned (releasing the lease) or once fn ended after the lease was lost.
func (db *DB) lead(ctx context.Context, name, node string, every time.Duration, fn func(ctx context.Context)) {
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(fctx)
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			cancel()
			db.releaseLease(context.WithoutCancel(ctx), name, node)
			return
		case <-t.C:
			held, err := db.takeLease(fctx, name, node)
			if err != nil && fctx.Err() == nil {
				db.log.Warn("db: renewing lease", "lease", name, "err", err)
			}
			if !held && fctx.Err() == nil {
				db.log.Warn("db: lease lost; stopping its job on this node", "lease", name)
				cancel()
				<-done
				return
			}
		}
	}
}

// takeLease takes or renews the lease if it is free, lapsed or already
// this node's, and reports whether this node holds it now.
func (db *DB) takeLease(ctx context.Context, name, node string) (bool, error) {
	var holder string
	err := db.QueryRowContext(ctx, `INSERT INTO leases (name, node, until)
		VALUES (?, ?, extract(epoch FROM clock_timestamp()) + ?)
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, until = excluded.until
		WHERE leases.node = excluded.node OR leases.until < extract(epoch FROM clock_timestamp())
		RETURNING node`, name, node, LeaseTTL.Seconds()).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: lease %s: %w", name, err)
	}
	return holder == node, nil
}

// releaseLease gives the lease up, if this node holds it.
func (db *DB) releaseLease(ctx context.Context, name, node string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND node = ?`, name, node); err != nil {
		db.log.Warn("db: releasing lease", "lease", name, "err", err)
	}
}
