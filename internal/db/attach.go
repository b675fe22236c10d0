package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The index file: a second SQLite file beside the database, for data that
// can be rebuilt from the database and whose commits are long (the mail
// store's full-text index, whose FTS5 tables flush and merge their
// segments at every commit). SQLite has one write lock per file, so a
// commit in the index file never holds the database's write lock: the
// database's writers (a session's STORE) never wait behind it.
//
// The index file has its own pool of connections ([DB.Index]), the only
// ones that write it. Every connection of the database's pool attaches it
// read-only as schema [IndexSchema], so that one query reads both files
// (a search joins the index's candidates with the messages). Attached
// read-only, it takes no write lock when a write transaction of the
// database begins (BEGIN IMMEDIATE starts a write transaction on every
// attached file that is not read-only, sqlite3BeginTransaction).
//
// A statement reads each file in a snapshot of its own; SQLite begins
// them in the order of the schemas (the database first, then the index
// file; the transaction opcodes of a statement's prologue, see
// sqlite3FinishCoding), so a statement that reads both sees the index
// file as it was at the same moment as the database or later.
//
// Nothing commits to both files at once: the index file's commits are
// not atomic with the database's, and its users must order them so that
// a crash between the two loses nothing that cannot be rebuilt.

// IndexSchema is the name under which the database's connections attach
// the index file.
const IndexSchema = "mail_index"

// indexDSNParams are the index file's connection parameters: WAL, and
// commits that do not wait for the disk (synchronous=NORMAL: atomic, and
// durable with the next sync of its log; a crash of the machine may lose
// the last ones, which its users rebuild). Its pool reads without a
// memory map: its work (merging FTS5 segments) reads much of the file
// once.
const indexDSNParams = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=mmap_size(0)" +
	"&_txlock=immediate"

// IndexPath is the index file of the database at path: path + "-index",
// beside SQLite's own path + "-wal" and "-shm", so that whatever treats
// those as the database's files (the backup leaves them out: it copies a
// snapshot of the database) treats the index file alike. A backup holds
// no index file: the mail store rebuilds it from the database.
func IndexPath(path string) string { return path + "-index" }

// Index returns the index file's database: its own pool and writer slot,
// for the transactions that write the index file. Nil on PostgreSQL,
// which has no write lock per table and keeps such data in the database.
func (db *DB) Index() *DB { return db.index }

// Close closes the database and its index file.
func (db *DB) Close() error {
	db.keptMu.Lock()
	kept := db.kept
	db.kept = nil
	db.keptMu.Unlock()
	for _, k := range kept {
		k.close()
	}
	var err error
	if db.DB != nil {
		err = db.DB.Close()
	}
	if db.index != nil {
		if db.indexKeep != nil {
			db.indexKeep.Close()
		}
		err = errors.Join(err, db.index.DB.Close())
	}
	return err
}

// openIndex opens (creating if needed) the index file of the database at
// path, mode 0600, in WAL mode. One connection stays open for as long as
// the database is, so that its log and shared-memory file exist whenever
// a connection of the database attaches it read-only.
func openIndex(ctx context.Context, path string, db *DB) error {
	ipath := IndexPath(path)
	if err := createPrivate(ipath); err != nil {
		return err
	}
	conn, err := newConnector(ipath+"?"+indexDSNParams, "")
	if err != nil {
		return fmt.Errorf("db: open %s: %w", ipath, err)
	}
	sqldb := sql.OpenDB(conn)
	sqldb.SetMaxIdleConns(4)
	idx := &DB{DB: sqldb, log: db.log, path: ipath, engine: SQLite, writer: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	if err := idx.check(ctx); err != nil {
		sqldb.Close()
		return fmt.Errorf("db: open %s: %w", ipath, err)
	}
	keep, err := sqldb.Conn(ctx)
	if err != nil {
		sqldb.Close()
		return fmt.Errorf("db: open %s: %w", ipath, err)
	}
	db.index, db.indexKeep = idx, keep
	return nil
}

// attachIndex attaches the index file at ipath read-only to conn, a new
// connection of the database's pool, with the database's memory map
// (ATTACH gives an attached file the connection's mmap_size).
func attachIndex(ctx context.Context, conn driver.Conn, ipath string) error {
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return errors.New("db: the sqlite driver's connection cannot execute statements")
	}
	uri := "file:" + (&url.URL{Path: ipath}).EscapedPath() + "?mode=ro"
	q := `ATTACH DATABASE '` + strings.ReplaceAll(uri, "'", "''") + `' AS ` + IndexSchema
	if _, err := ex.ExecContext(ctx, q, nil); err != nil {
		return fmt.Errorf("db: attaching the index file: %w", err)
	}
	return nil
}

// Vacuum rebuilds the database file without its free pages (VACUUM) with
// the process's writer slot held, then truncates its log, which VACUUM
// filled with the whole file. For the index file, whose only writers
// are this process's; the database's own is vacuumed with its group
// commit's turn held (the mail store's reclaimSpace).
func (db *DB) Vacuum(ctx context.Context) error {
	if err := db.takeWriter(ctx); err != nil {
		return err
	}
	defer db.releaseWriter()
	for _, q := range []string{`VACUUM`, `PRAGMA main.wal_checkpoint(TRUNCATE)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("db: vacuum: %w", err)
		}
	}
	return nil
}
