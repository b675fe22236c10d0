package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
)

// keptConn is the connection a [Group]'s transactions run on, on SQLite,
// kept from one to the next instead of taken from the pool each time.
//
// In WAL mode a connection keeps its page cache from one transaction to
// the next only if no other connection has committed meanwhile: when the
// log's header has changed, SQLite drops the whole cache and, with a
// memory map (see mmapSize), unmaps the database file (pager_reset and
// unixUnfetch in pagerBeginReadTransaction), so that every page the
// transaction touches is read again or faulted in again. A connection
// taken from the pool for each group commit was nearly always one that
// had not made the last commit, and began with an empty cache. The kept
// connection made the last commit whenever no other connection wrote
// since (the group's commits are most of a busy server's writes): the
// B-tree pages its next commit touches are in its cache already. It is
// also set up once for the group's commits (noCheckpoint) rather than
// twice per commit.
//
// A connection idle for keepIdle goes back to the pool; so does one whose
// transaction failed, and the kept one when the database is closed.
type keptConn struct {
	db      *DB
	idleFor time.Duration // keepIdle; tests shorten it
	mu      sync.Mutex
	c       *sql.Conn // nil: none kept
	// used is when c last carried a transaction; timer gives c back once
	// it has been idle for idleFor.
	used   time.Time
	timer  *time.Timer
	closed bool // the database is closed: keep nothing more
}

// keptPragmas set up a kept connection: no checkpoint in its commits
// (see [Group]); no memory map, so that the pages it reads stay in its
// cache, parsed, from one transaction to the next (SQLite does not cache
// a page it read through the map: each use maps it and parses its
// header anew, btreeInitPage); and temporary files in memory: a job's
// savepoint (Do's jobs; every job of a batch run again) keeps the pages
// it changes in the statement journal, which SQLite writes to a
// temporary file once it exceeds 64 KiB (SQLITE_STMTJRNL_SPILL), as a
// group of a few 10 KiB uploads did when each had a savepoint: 5.7
// pwrite calls per upload, beside its 9.3 frames of the log. In memory
// it holds what the group's transaction changed, as the log will.
//
// The page cache keeps SQLite's size (2000 KiB): a 16 MiB one made each
// commit's end (pcache1TruncateUnsafe, which walks the whole cache's hash
// table) and each reset after another connection's commit (which frees
// every page, and the allocator gives the memory back with madvise) cost
// more than the pages it kept saved.
var keptPragmas = []connPragma{noCheckpoint, unmapped,
	{`PRAGMA temp_store = MEMORY`, `PRAGMA temp_store = DEFAULT`}}

// keepConn returns a new keptConn of db, which Close closes.
func (db *DB) keepConn() *keptConn {
	k := &keptConn{db: db, idleFor: keepIdle}
	db.keptMu.Lock()
	db.kept = append(db.kept, k)
	db.keptMu.Unlock()
	return k
}

// keepIdle is how long a group keeps its connection without a commit.
const keepIdle = 10 * time.Second

// take returns the kept connection, or one from the pool set up for a
// group's commits, for the caller alone until it calls put.
func (k *keptConn) take(ctx context.Context) (*sql.Conn, error) {
	k.mu.Lock()
	c := k.c
	k.c = nil
	k.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := k.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: begin: %w", err)
	}
	for _, p := range keptPragmas {
		if _, err := c.ExecContext(ctx, p.set); err != nil {
			release(c)
			return nil, fmt.Errorf("db: setting %q: %w", p.set, err)
		}
	}
	return c, nil
}

// put keeps c, taken from take, for the next transaction if ok (its
// transaction ended without an error); otherwise, or if one is kept
// already or the database is closed, it gives c back to the pool.
func (k *keptConn) put(c *sql.Conn, ok bool) {
	k.mu.Lock()
	if ok && k.c == nil && !k.closed {
		k.c, k.used = c, time.Now()
		if k.timer == nil {
			k.timer = time.AfterFunc(k.idleFor, k.idle)
		}
		k.mu.Unlock()
		return
	}
	k.mu.Unlock()
	release(c)
}

// idle gives the kept connection back to the pool if it has not been
// used for idleFor, and otherwise looks again when it will have been.
func (k *keptConn) idle() {
	k.mu.Lock()
	c := k.c
	if d := k.idleFor - time.Since(k.used); c != nil && d > 0 {
		k.timer.Reset(d)
		k.mu.Unlock()
		return
	}
	k.c, k.timer = nil, nil
	k.mu.Unlock()
	if c != nil {
		release(c)
	}
}

// close gives the kept connection back to the pool and keeps none from
// now on.
func (k *keptConn) close() {
	k.mu.Lock()
	c := k.c
	k.c, k.closed = nil, true
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.mu.Unlock()
	if c != nil {
		release(c)
	}
}

// release gives c back to the pool with keptPragmas reset, or closes it
// if that fails.
func release(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range keptPragmas {
		if _, err := c.ExecContext(ctx, p.reset); err != nil {
			c.Raw(func(any) error { return driver.ErrBadConn })
			break
		}
	}
	c.Close()
}

// tx runs fn in a write transaction on the kept connection set up with
// pragmas for its duration (see [DB.txWith]).
func (k *keptConn) tx(ctx context.Context, pragmas []connPragma, fn func(tx *sql.Tx) error) (err error) {
	if err := k.db.takeWriter(ctx); err != nil {
		return err
	}
	defer k.db.releaseWriter()
	conn, err := k.take(ctx)
	if err != nil {
		return err
	}
	defer func() { k.put(conn, err == nil) }()
	return txOn(ctx, conn, pragmas, fn)
}
