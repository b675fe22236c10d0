package db

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// Engine names the database engine a [DB] runs on.
type Engine string

// The engines caucus stores its metadata in: SQLite in one file for one
// machine (the default), PostgreSQL for several nodes.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// writeLockKey is the PostgreSQL advisory lock every write transaction
// takes first (pg_advisory_xact_lock), the cross-node counterpart of
// SQLite's BEGIN IMMEDIATE: one writer at a time in the whole cluster of
// caucus nodes, so that the read-then-write steps caucus's packages were
// written for on SQLite (the audit hash chain, quota re-checks, blob holds
// against garbage collection, "is this address free") stay atomic on
// PostgreSQL without each package re-deriving its own locking. Readers are
// never blocked (MVCC), as in SQLite's WAL mode. The key is arbitrary and
// only has to be the same on every node: "caucus" in ASCII.
const writeLockKey = 0x636175637573

// Pool sizes for PostgreSQL: every node keeps at most maxOpenPG server
// connections (a PostgreSQL backend is a process, unlike a SQLite
// connection), and keeps them all while busy: with fewer allowed idle, a
// load of more concurrent queries than that (50 SMTP sessions) closed
// connections as they came back and opened new ones (a fork, a sign-in
// and every cached statement prepared again) at every burst. Idle ones
// still close after a minute (SetConnMaxIdleTime).
const (
	maxOpenPG = 32
	maxIdlePG = maxOpenPG
)

// OpenPostgres connects to the PostgreSQL database named by dsn (a libpq
// keyword string or a postgres:// URL, as pgx reads them), signing in with
// password unless it is empty, and checks that it answers. The SQL caucus's packages write is in the subset both engines
// take, with '?' placeholders; the connection turns them into PostgreSQL's
// $1, $2 … (see [Rebind]). A nil log discards log records.
//
// Durability is PostgreSQL's: a commit returns once its WAL record is
// flushed (synchronous_commit on, the server's default), which the server's
// operator must not turn off.
func OpenPostgres(ctx context.Context, dsn, password string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's error quotes the DSN, password included: say less.
		return nil, fmt.Errorf("db: open postgres: the connection string cannot be read")
	}
	if password != "" {
		cfg.Password = password
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// Every session in UTC with the ISO date style, whatever the server's
	// defaults, so that text the database formats is the same everywhere.
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.RuntimeParams["datestyle"] = "ISO, YMD"
	// Every handle's sessions by a name of their own, which triggers can
	// put in what they NOTIFY so that a handle knows its own writes (see
	// Session).
	var b [6]byte
	rand.Read(b[:])
	cfg.RuntimeParams["application_name"] = cmp.Or(cfg.RuntimeParams["application_name"], "caucus") + "-" + hex.EncodeToString(b[:])
	// Values kept out of line (TOAST: a small file's content) compressed
	// with lz4 rather than pglz, whose attempts on a content that does
	// not compress were a tenth of PostgreSQL's CPU per small upload; a
	// server built without lz4 refuses the value (22023), one older than
	// 14 the setting (42704), and either keeps pglz.
	cfg.RuntimeParams["default_toast_compression"] = "lz4"
	db, err := openPostgres(ctx, log, cfg)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && (pe.Code == "22023" || pe.Code == "42704") { // invalid_parameter_value, undefined_object
		delete(cfg.RuntimeParams, "default_toast_compression")
		db, err = openPostgres(ctx, log, cfg)
	}
	return db, err
}

// openPostgres opens a [DB] on cfg and checks that it answers.
func openPostgres(ctx context.Context, log *slog.Logger, cfg *pgx.ConnConfig) (*DB, error) {
	trips := new(atomic.Int64)
	sqldb := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg), trips, &rebinds{m: map[string]string{}}})
	sqldb.SetMaxOpenConns(maxOpenPG)
	sqldb.SetMaxIdleConns(maxIdlePG)
	sqldb.SetConnMaxIdleTime(time.Minute)
	db := &DB{DB: sqldb, log: log, engine: Postgres, pgcfg: cfg.Copy(), writer: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}, trips: trips}
	db.listener = newListener(db)
	if err := db.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("db: open postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return db, nil
}

// Session returns, on PostgreSQL, the application_name of db's sessions,
// unique to this handle: a trigger's current_setting('application_name')
// says which handle wrote. "" on SQLite.
func (db *DB) Session() string {
	if db.pgcfg == nil {
		return ""
	}
	return db.pgcfg.RuntimeParams["application_name"]
}

// Engine reports which engine db runs on.
func (db *DB) Engine() Engine { return db.engine }

// txPostgres runs fn in a durable write transaction on PostgreSQL, the
// caller holding this process's writer slot.
func (db *DB) txPostgres(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.beginLocked(ctx)
	if err != nil {
		return err
	}
	return runTx(tx, fn)
}

// txPostgresConn is txPostgres, with the writer slot taken here, on a
// connection of its own that fn may also use raw (see pipe), its BEGIN
// deferred (beginDeferred). If fn succeeds and handOff is not nil, the
// writer slot is given back and handOff runs before the COMMIT is sent.
func (db *DB) txPostgresConn(ctx context.Context, fn func(tx *sql.Tx, conn *sql.Conn) error, handOff func()) error {
	if err := db.takeWriter(ctx); err != nil {
		return err
	}
	handed := false
	defer func() {
		if !handed {
			db.releaseWriter()
		}
	}()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(context.WithValue(ctx, lockedBeginKey{}, beginDeferred), nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	return runTx(tx, func(tx *sql.Tx) error {
		if err := fn(tx, conn); err != nil || handOff == nil {
			return err
		}
		handed = true
		db.releaseWriter()
		handOff()
		return nil
	})
}

// pipe runs stmts on conn, in the transaction open there, as one
// pipeline (pgx's Batch: every statement sent, then one Sync; one round
// trip), and returns each statement's first row. If a statement fails,
// the transaction is aborted and the statements after it are not run:
// pipe returns the error.
func (db *DB) pipe(ctx context.Context, conn *sql.Conn, stmts []*piped) ([]Row, error) {
	rows := make([]Row, len(stmts))
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*pgConn)
		if !ok {
			return fmt.Errorf("db: pipe: unexpected driver connection %T", dc)
		}
		var b pgx.Batch
		began := c.deferred
		if began { // BEGIN and the lock first, in the same message
			c.deferred = false
			b.Queue(lockedBeginQuery)
			b.Queue(lockQuery)
		}
		for _, st := range stmts {
			b.Queue(c.rebound.of(st.query), st.args...)
		}
		c.trips.Add(1)
		pc := c.Conn.Conn()
		br := pc.SendBatch(ctx, &b)
		if began {
			for range 2 {
				if _, err := br.Exec(); err != nil {
					br.Close()
					return fmt.Errorf("taking the write lock: %w", err)
				}
			}
		}
		for i := range stmts {
			r, err := firstRow(pc.TypeMap(), br)
			if err != nil {
				br.Close()
				return err
			}
			rows[i] = r
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("db: pipe: %w", err)
	}
	return rows, nil
}

// firstRow reads the next result of br and keeps its first row.
func firstRow(m *pgtype.Map, br pgx.BatchResults) (*pipedRow, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &pipedRow{m: m, err: sql.ErrNoRows}
	if rows.Next() {
		r.err = nil
		r.fields = slices.Clone(rows.FieldDescriptions())
		for _, v := range rows.RawValues() {
			r.values = append(r.values, bytes.Clone(v)) // nil stays nil: NULL
		}
	}
	rows.Close()
	return r, rows.Err()
}

// pipedRow is a statement's first row read from a pipeline, to scan once
// the pipeline's results are all read (see pipe), as [sql.Row] does.
type pipedRow struct {
	m      *pgtype.Map // the connection's, used in the goroutine holding it
	fields []pgconn.FieldDescription
	values [][]byte
	err    error // sql.ErrNoRows if there was none
}

func (r *pipedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return pgx.ScanRow(r.m, r.fields, r.values, dest...)
}

// beginLocked begins a transaction holding the cluster-wide write lock
// (on SQLite, BEGIN IMMEDIATE has taken the database's). On PostgreSQL
// BEGIN and the lock go in one message (see lockedBegin): the lock
// itself is not a round trip of its own.
func (db *DB) beginLocked(ctx context.Context) (*sql.Tx, error) {
	if db.engine == Postgres {
		ctx = context.WithValue(ctx, lockedBeginKey{}, beginNow)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: begin: %w", err)
	}
	return tx, nil
}

// lockedBeginKey marks, in the context of a BeginTx on PostgreSQL, a
// transaction that takes the cluster-wide write lock as it begins; its
// value is a beginMode.
type lockedBeginKey struct{}

// beginMode says when a transaction that takes the write lock sends its
// BEGIN (see lockedBegin).
type beginMode int

const (
	// beginNow sends BEGIN and the lock at once, in one message.
	beginNow beginMode = iota + 1
	// beginDeferred sends them with the transaction's first statement
	// or pipeline, in the same message: a transaction whose first work
	// is a pipeline (pipe) costs that message and COMMIT. Nothing is
	// sent for a transaction that runs nothing.
	beginDeferred
)

// lockedBegin begins a transaction and takes the cluster-wide write lock
// (see writeLockKey) in one simple-protocol message of two statements
// (PostgreSQL protocol 3.0, "Multiple Statements in a Simple Query": after
// an explicit BEGIN the transaction block outlives the message): the lock
// waits for the writer before, if any, without a second round trip.
// The key is writeLockKey in decimal (TestLockedBeginKey).
const lockedBegin = lockedBeginQuery + "; " + lockQuery

// The statements of lockedBegin, which pipe sends as two of a pipeline
// (PostgreSQL protocol 3.0, "Pipelining": a BEGIN makes the statements
// after it an explicit transaction block, which the Sync does not end).
const (
	lockedBeginQuery = "begin"
	lockQuery        = "select pg_advisory_xact_lock(109270232429939)"
)

// RoundTrips returns how many messages that wait for PostgreSQL's answer
// the database's connections have sent since it was opened: statements
// (prepared or not, a multi-statement text counting once), preparations,
// BEGIN, COMMIT and ROLLBACK. It is how tests and load tools count what
// an operation costs on PostgreSQL, where each one is a trip to another
// process and often another machine. 0 on SQLite.
func (db *DB) RoundTrips() int64 {
	if db.trips == nil {
		return 0
	}
	return db.trips.Load()
}

// pgConnector hands out connections that rebind placeholders.
type pgConnector struct {
	driver.Connector
	trips   *atomic.Int64 // see DB.RoundTrips
	rebound *rebinds      // shared by the connections
}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("db: postgres: unexpected driver connection %T", conn)
	}
	return &pgConn{Conn: sc, trips: c.trips, rebound: c.rebound}, nil
}

// pgConn is pgx's database/sql connection with every query's placeholders
// rebound first, counting its round trips. Everything else (session reset,
// argument checks) is pgx's own.
type pgConn struct {
	*stdlib.Conn
	trips   *atomic.Int64
	rebound *rebinds

	// deferred is set while a transaction begun with beginDeferred has
	// not sent its BEGIN yet (database/sql uses a connection from one
	// goroutine at a time).
	deferred bool
}

// begin sends a deferred BEGIN and the write lock, if any is pending,
// before a statement of the transaction.
func (c *pgConn) begin(ctx context.Context) error {
	if !c.deferred {
		return nil
	}
	c.deferred = false
	c.trips.Add(1)
	if _, err := c.Conn.Conn().Exec(ctx, lockedBegin); err != nil {
		return fmt.Errorf("taking the write lock: %w", err)
	}
	return nil
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.trips.Add(1)
	st, err := c.Conn.PrepareContext(ctx, c.rebound.of(query))
	if err != nil {
		return nil, err
	}
	return &pgStmt{st.(*stdlib.Stmt), c}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.trips.Add(1)
	return c.Conn.ExecContext(ctx, c.rebound.of(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.trips.Add(1)
	return c.Conn.QueryContext(ctx, c.rebound.of(query), args)
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	mode, _ := ctx.Value(lockedBeginKey{}).(beginMode)
	if mode == 0 || opts != (driver.TxOptions{}) {
		c.trips.Add(1)
		tx, err := c.Conn.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		return pgTx{tx, c.trips}, nil
	}
	if c.Conn.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	c.deferred = true
	if mode == beginNow {
		// pgx closes the connection if the message fails (the lock's
		// wait ended by ctx): the pool then drops it.
		if err := c.begin(ctx); err != nil {
			return nil, err
		}
	}
	return &lockedTx{ctx: ctx, c: c}, nil
}

// lockedTx is a transaction begun with the write lock (lockedBegin),
// whose BEGIN may not have been sent yet (beginDeferred).
type lockedTx struct {
	ctx context.Context
	c   *pgConn
}

// Commit commits as pgx's own transactions do: a COMMIT that PostgreSQL
// answers with ROLLBACK (the transaction had failed) is an error.
func (t *lockedTx) Commit() error {
	return t.end("commit")
}

func (t *lockedTx) Rollback() error {
	return t.end("rollback")
}

// end sends query, commit or rollback, unless the BEGIN was never sent.
func (t *lockedTx) end(query string) error {
	if t.c.deferred {
		t.c.deferred = false // nothing was sent: nothing to end
		return nil
	}
	t.c.trips.Add(1)
	conn := t.c.Conn.Conn()
	tag, err := conn.Exec(t.ctx, query)
	if err != nil {
		if conn.PgConn().TxStatus() != 'I' {
			conn.Close(t.ctx) // the pool drops it
		}
		return err
	}
	if query == "commit" && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// pgStmt is pgx's prepared statement, its runs counted.
type pgStmt struct {
	*stdlib.Stmt
	c *pgConn
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.begin(ctx); err != nil {
		return nil, err
	}
	s.c.trips.Add(1)
	return s.Stmt.ExecContext(ctx, args)
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.begin(ctx); err != nil {
		return nil, err
	}
	s.c.trips.Add(1)
	return s.Stmt.QueryContext(ctx, args)
}

// pgTx is pgx's transaction, its end counted.
type pgTx struct {
	driver.Tx
	trips *atomic.Int64
}

func (t pgTx) Commit() error {
	t.trips.Add(1)
	return t.Tx.Commit()
}

func (t pgTx) Rollback() error {
	t.trips.Add(1)
	return t.Tx.Rollback()
}

// maxRebinds bounds the queries a [rebinds] remembers: the program's own
// are a few hundred; queries built with a varying number of placeholders
// beyond that are rebound each time.
const maxRebinds = 4096

// rebinds remembers [Rebind]'s result for each query a database's
// connections send, which are mostly the same few hundred again and
// again: rebinding is a pass over the query byte by byte, a lookup one
// hash of it (BenchmarkRebind).
type rebinds struct {
	mu sync.RWMutex
	m  map[string]string
}

// of returns Rebind(query), remembered.
func (r *rebinds) of(query string) string {
	r.mu.RLock()
	q, ok := r.m[query]
	r.mu.RUnlock()
	if ok {
		return q
	}
	q = Rebind(query)
	r.mu.Lock()
	if len(r.m) < maxRebinds {
		r.m[query] = q
	}
	r.mu.Unlock()
	return q
}

// Rebind turns SQLite's placeholders into PostgreSQL's: each '?' becomes
// $1, $2 … in order, and '?N' becomes $N. Question marks inside string
// literals, quoted identifiers, dollar-quoted bodies and comments are left
// alone. A query with no '?' is returned as it is.
func Rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := endQuoted(query, i, c)
			b.WriteString(query[i:j])
			i = j
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			end := len(query)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(query[i:end])
			i = end
		case c == '$' && strings.HasPrefix(query[i:], "$$"):
			j := strings.Index(query[i+2:], "$$")
			end := len(query)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(query[i:end])
			i = end
		case c == '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteByte('$')
				b.WriteString(query[i+1 : j])
			} else {
				n++
				fmt.Fprintf(&b, "$%d", n)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// endQuoted returns the index just past the literal or identifier that
// starts at query[i] with quote q (a doubled quote inside it is an escaped
// one), or len(query) if it does not end.
func endQuoted(query string, i int, q byte) int {
	for j := i + 1; j < len(query); j++ {
		if query[j] != q {
			continue
		}
		if j+1 < len(query) && query[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(query)
}
