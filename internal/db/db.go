// Package db opens the embedded SQLite database (modernc.org/sqlite, pure Go)
// and applies numbered schema migrations that each package owns for its own
// tables.
//
// The database runs in WAL mode with synchronous=FULL, so a committed
// transaction is on disk before Commit returns and before caucus acknowledges
// anything that depends on it. Write transactions begin with BEGIN IMMEDIATE
// and wait up to ten seconds for the write lock, so concurrent writers queue
// instead of failing with SQLITE_BUSY or deadlocking on a lock upgrade.
//
// Each component (auth, mail, files, …) passes its own list of migrations to
// [DB.Migrate]; applied versions are recorded per component in the table
// schema_migrations.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite"
)

// ErrNewerSchema reports that the database records a migration version that
// this binary does not know: it was written by a newer caucus, and running an
// older one on it (a downgrade) is refused.
var ErrNewerSchema = errors.New("db: database schema is newer than this binary")

// dsnParams are the connection parameters every connection in the pool gets.
// busy_timeout comes first (the driver also sorts it first) so that the
// pragmas after it wait for locks instead of failing.
const dsnParams = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=mmap_size(" + mmapSizeText + ")" +
	"&_pragma=journal_size_limit(" + walSizeLimitText + ")" +
	"&_txlock=immediate"

// walSizeLimit is the most bytes the write-ahead log file keeps once the
// log starts over (SQLite's journal_size_limit): a burst of writes
// (small file contents are written in the log, then copied into the
// database file) grows the file, and without the limit it stays that
// large, beside a database that holds the same pages. 64 MiB is the
// group's defaultBulkLogFrames of 4 KiB pages.
const (
	walSizeLimit     = 64 << 20
	walSizeLimitText = "67108864"
)

// mmapSize is how much of the database file each connection reads through
// a shared memory map instead of read calls. In WAL mode a connection
// drops its page cache whenever another connection has written, which on
// a busy server is before nearly every transaction: without the map, the
// same pages are read again and again with pread (7% of the CPU of the
// IMAP steady-session benchmark). Writes still go through write calls.
//
// Every page a connection has read through its map stays in the
// process's resident memory (RSS) until the map is dropped, once per
// connection that read it: work that reads much of the database once
// (a mailbox import) runs unmapped instead ([Group.DoUnmapped],
// [DB.ReadUnmapped]), which also drops what the connection had mapped
// before; the index file (see Index) is never mapped.
const (
	mmapSize     = 1 << 30
	mmapSizeText = "1073741824"
)

// maxIdleConns is how many idle connections the pool keeps.
const maxIdleConns = 64

// DB is the open database. The embedded *sql.DB is safe for concurrent use;
// use [DB.Tx] for anything that writes more than one row.
type DB struct {
	*sql.DB
	log    *slog.Logger
	path   string // the SQLite file; "" on PostgreSQL
	engine Engine
	pgcfg  *pgx.ConnConfig // PostgreSQL's connection settings, for Listen
	// listener is the connection the watchers share (see Watch); nil on
	// SQLite.
	listener *listener
	// writer admits one write transaction of this process at a time.
	// SQLite serialises writers anyway; queueing them here, in order and
	// without busy-wait sleeps, keeps the tail latency of concurrent
	// deliveries low (p99 to 250 fell from about 2 s to 0.24 s with 50
	// concurrent SMTP sessions).
	writer chan struct{}

	// index is the index file's database (see [DB.Index]); indexKeep
	// one of its connections, kept open. Both nil on PostgreSQL.
	index     *DB
	indexKeep *sql.Conn

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // see Prepared

	trips *atomic.Int64 // PostgreSQL's round trips (RoundTrips); nil on SQLite

	keptMu sync.Mutex
	kept   []*keptConn // the groups' (see keptConn), given back by Close
}

// Open opens (creating if needed) the SQLite database file at path, with
// mode 0600 in a parent directory created with mode 0700 if missing. It
// checks that the database really is in WAL mode and that it answers a ping.
// A nil log discards log records.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver splits the DSN at the first '?' and treats "file:" as
		// a URI; refuse both rather than open some other file.
		return nil, fmt.Errorf("db: open: invalid database path %q", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}

	// SQLite then commits with fdatasync, as a Linux build of SQLite does
	// (see syncData).
	if err := syncData(); err != nil {
		return nil, fmt.Errorf("db: open: %w", err)
	}
	db := &DB{log: log, path: path, engine: SQLite, writer: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	if err := openIndex(ctx, path, db); err != nil {
		return nil, err
	}
	conn, err := newConnector(path+"?"+dsnParams, db.index.path)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	sqldb := sql.OpenDB(conn)
	// Keep the connections that a burst of readers (50 SMTP sessions
	// resolving recipients) opened: the pool's default keeps 2, and each
	// new connection runs the pragmas above and parses the whole schema
	// (7% of the CPU time of the MX load benchmark). Idle ones close
	// after a while.
	sqldb.SetMaxIdleConns(maxIdleConns)
	sqldb.SetConnMaxIdleTime(time.Minute)
	db.DB = sqldb
	if err := db.check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	return db, nil
}

// createPrivate creates the file at path if it is missing, with mode 0600
// in a parent directory created with mode 0700 if missing, so that SQLite
// does not create it with the umask's mode (it gives the -wal and -shm
// files the mode of the database file).
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("db: open: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("db: open: %w", err)
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("db: open: %w", err)
	}
	return nil
}

// Prepared returns a prepared statement for query, prepared once and then
// kept for as long as the database is open (database/sql prepares it again
// on each connection that runs it), so that hot queries are not parsed at
// every call. Pass only constant query texts: the cache never shrinks.
// The statement runs outside any transaction; use tx.StmtContext to bind
// it to one.
func (db *DB) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.stmts[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("db: prepare: %w", err)
	}
	db.stmts[query] = st
	return st, nil
}

// check pings the database and verifies the journal mode.
func (db *DB) check(ctx context.Context) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("reading journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}

// Tx runs fn in a write transaction (BEGIN IMMEDIATE on SQLite; on
// PostgreSQL a transaction that first takes the cluster-wide write lock,
// see writeLockKey). It commits if fn
// returns nil and rolls back otherwise, also when fn panics. An error from fn
// is returned as it is, so callers can match their own sentinels; errors
// from beginning, committing or rolling back are wrapped with a "db: "
// prefix.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := db.takeWriter(ctx); err != nil {
		return err
	}
	defer db.releaseWriter()
	tx, err := db.beginLocked(ctx)
	if err != nil {
		return err
	}
	return runTx(tx, fn)
}

// takeWriter waits for the one writer slot (see [DB.Tx]); releaseWriter
// gives it back.
func (db *DB) takeWriter(ctx context.Context) error {
	select {
	case db.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("db: begin: %w", ctx.Err())
	}
}

func (db *DB) releaseWriter() { <-db.writer }

// runTx runs fn in tx and commits if it returns nil; it rolls back
// otherwise, also when fn panics.
func runTx(tx *sql.Tx, fn func(tx *sql.Tx) error) (err error) {
	committed := false
	defer func() {
		if committed {
			return
		}
		rerr := tx.Rollback()
		if rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && err != nil {
			err = fmt.Errorf("%w (db: rollback: %v)", err, rerr)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		// A failed Commit has already ended the transaction.
		committed = true
		return fmt.Errorf("db: commit: %w", err)
	}
	committed = true
	return nil
}

// syncData makes SQLite commit with fdatasync(2) instead of fsync(2). Both
// put the written data on disk before returning, and fdatasync also the
// metadata needed to read it back (the size of a WAL that grew); it leaves
// out only timestamps, whose journal write on ext4 is much of what a
// commit waits for. SQLite's own Linux builds use fdatasync; the driver's
// transpiled copy keeps fsync unless told (sqlite.Fdatasync), a setting
// for the whole process that every Open sets alike. Where fdatasync does
// not exist (macOS, Windows), commits keep SQLite's own full sync.
func syncData() error {
	if _, err := sqlite.Fdatasync(true); err != nil && !errors.Is(err, sqlite.ErrFdatasyncUnavailable) {
		return err
	}
	return nil
}
