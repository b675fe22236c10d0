package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// open opens a fresh database in a temporary directory, logging to t.
func open(t *testing.T) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "caucus.db")
	db, err := Open(t.Context(), path, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func tableExists(t *testing.T, db *DB, name string) bool {
	t.Helper()
	return count(t, db, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name) == 1
}

var auth = Component{Name: "auth", Migrations: []Migration{
	{Version: 1, SQL: `CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
		CREATE TABLE sessions (id TEXT PRIMARY KEY, account INTEGER NOT NULL REFERENCES accounts(id))`},
	{Version: 2, SQL: `ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0`},
}}

func TestOpen(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()

	pragmas := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "10000",
	}
	for name, want := range pragmas {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %q, want %q", name, got, want)
		}
	}

	fi, err := os.Stat(db.path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
	di, err := os.Stat(filepath.Dir(db.path))
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("database directory mode %v, want 0700", mode)
	}
	// Force the WAL file into existence and check it inherited the mode.
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	wi, err := os.Stat(db.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if mode := wi.Mode().Perm(); mode != 0o600 {
		t.Errorf("WAL file mode %v, want 0600", mode)
	}
}

func TestOpenBadPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"", ":memory:", "file:" + dir + "/x.db", dir + "/x.db?mode=ro"} {
		if db, err := Open(t.Context(), p, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want error", p)
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	mail := Component{Name: "mail", Migrations: []Migration{
		{Version: 1, SQL: `CREATE TABLE messages (id INTEGER PRIMARY KEY)`},
	}}

	if err := db.Migrate(ctx, auth, mail); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for _, tbl := range []string{"accounts", "sessions", "messages", "schema_migrations"} {
		if !tableExists(t, db, tbl) {
			t.Errorf("table %s missing", tbl)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); n != 3 {
		t.Errorf("%d schema_migrations rows, want 3", n)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO accounts (name, disabled) VALUES ('alice', 0)`); err != nil {
		t.Fatalf("migration 2 not applied: %v", err)
	}

	// Second run: nothing applied, nothing fails ("table exists").
	if err := db.Migrate(ctx, auth, mail); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); n != 3 {
		t.Errorf("%d schema_migrations rows after second run, want 3", n)
	}

	// A later binary adds a migration: only it is applied.
	auth3 := auth
	auth3.Migrations = append(auth.Migrations[:len(auth.Migrations):len(auth.Migrations)],
		Migration{Version: 3, SQL: `CREATE TABLE app_passwords (id INTEGER PRIMARY KEY)`})
	if err := db.Migrate(ctx, auth3); err != nil {
		t.Fatalf("Migrate with version 3: %v", err)
	}
	if !tableExists(t, db, "app_passwords") {
		t.Error("migration 3 not applied")
	}
	if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'auth'`); n != 3 {
		t.Errorf("%d auth rows, want 3", n)
	}
}

func TestMigrateRefusesBadVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		comps []Component
	}{
		{"gap", []Component{{Name: "a", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE a1 (x)"}, {Version: 3, SQL: "CREATE TABLE a3 (x)"}}}}},
		{"starts at 0", []Component{{Name: "a", Migrations: []Migration{{Version: 0, SQL: "CREATE TABLE a0 (x)"}}}}},
		{"starts at 2", []Component{{Name: "a", Migrations: []Migration{{Version: 2, SQL: "CREATE TABLE a2 (x)"}}}}},
		{"out of order", []Component{{Name: "a", Migrations: []Migration{{Version: 2, SQL: "CREATE TABLE a2 (x)"}, {Version: 1, SQL: "CREATE TABLE a1 (x)"}}}}},
		{"duplicate", []Component{{Name: "a", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE a1 (x)"}, {Version: 1, SQL: "CREATE TABLE b1 (x)"}}}}},
		{"empty name", []Component{{Name: "", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE a1 (x)"}}}}},
		{"same component twice", []Component{
			{Name: "a", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE a1 (x)"}}},
			{Name: "a", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE b1 (x)"}}},
		}},
		// The valid component comes first: it must not be applied either.
		{"second invalid", []Component{
			{Name: "ok", Migrations: []Migration{{Version: 1, SQL: "CREATE TABLE ok1 (x)"}}},
			{Name: "bad", Migrations: []Migration{{Version: 2, SQL: "CREATE TABLE bad2 (x)"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			if err := db.Migrate(t.Context(), tt.comps...); err == nil {
				t.Fatal("Migrate succeeded, want error")
			}
			if tableExists(t, db, "schema_migrations") {
				t.Error("Migrate touched the database before refusing")
			}
		})
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	c := Component{Name: "files", Migrations: []Migration{
		{Version: 1, SQL: `CREATE TABLE files (id INTEGER PRIMARY KEY)`},
		// The first statement succeeds, the second fails: both must go.
		{Version: 2, SQL: `CREATE TABLE shares (id INTEGER PRIMARY KEY); INSERT INTO nosuchtable VALUES (1)`},
	}}
	err := db.Migrate(ctx, c)
	if err == nil {
		t.Fatal("Migrate succeeded, want error")
	}
	t.Logf("error: %v", err)
	if !tableExists(t, db, "files") {
		t.Error("migration 1 should have been applied and kept")
	}
	if tableExists(t, db, "shares") {
		t.Error("table from failed migration 2 exists")
	}
	if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'files' AND version = 2`); n != 0 {
		t.Error("schema_migrations row for failed migration exists")
	}
	if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'files'`); n != 1 {
		t.Errorf("%d files rows, want 1", n)
	}

	// Fixed migration applies on the next run.
	c.Migrations[1].SQL = `CREATE TABLE shares (id INTEGER PRIMARY KEY)`
	if err := db.Migrate(ctx, c); err != nil {
		t.Fatalf("Migrate after fix: %v", err)
	}
	if !tableExists(t, db, "shares") {
		t.Error("fixed migration 2 not applied")
	}
}

func TestMigrateNewerSchema(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	auth3 := Component{Name: "auth", Migrations: append(append([]Migration(nil), auth.Migrations...),
		Migration{Version: 3, SQL: `CREATE TABLE app_passwords (id INTEGER PRIMARY KEY)`})}
	if err := db.Migrate(ctx, auth3); err != nil {
		t.Fatal(err)
	}
	// An older binary that knows only versions 1 and 2.
	err := db.Migrate(ctx, auth)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Migrate on newer schema: %v, want ErrNewerSchema", err)
	}
	t.Logf("error: %v", err)
}

func TestTx(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}

	// Commit.
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES ('a', '1'), ('b', '2')`)
		return err
	})
	if err != nil {
		t.Fatalf("Tx: %v", err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM kv`); n != 2 {
		t.Errorf("%d rows after commit, want 2", n)
	}

	// Rollback on error; fn's error comes back matchable.
	errBoom := errors.New("boom")
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES ('c', '3')`); err != nil {
			return err
		}
		return fmt.Errorf("doing things: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Tx error %v, want errBoom", err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM kv`); n != 2 {
		t.Errorf("%d rows after rollback, want 2", n)
	}

	// Rollback on panic.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not propagated")
			}
		}()
		db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES ('d', '4')`); err != nil {
				return err
			}
			panic("oops")
		})
	}()
	if n := count(t, db, `SELECT COUNT(*) FROM kv`); n != 2 {
		t.Errorf("%d rows after panic, want 2", n)
	}

	// A cancelled context fails at BEGIN.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = db.Tx(cctx, func(tx *sql.Tx) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Tx with cancelled ctx: %v, want context.Canceled", err)
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	if err := db.Migrate(ctx, auth); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO sessions (id, account) VALUES ('s', 42)`)
	if err == nil {
		t.Fatal("insert violating a foreign key succeeded")
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);
		CREATE TABLE log (g INTEGER, i INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const goroutines, inserts = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*inserts)
	for g := range goroutines {
		wg.Go(func() {
			for i := range inserts {
				// Read-modify-write: with a deferred BEGIN this would
				// deadlock on the lock upgrade and fail with SQLITE_BUSY.
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `UPDATE counter SET n = ?`, n+1); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO log VALUES (?, ?)`, g, i)
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM log`); n != goroutines*inserts {
		t.Errorf("%d rows, want %d", n, goroutines*inserts)
	}
	if n := count(t, db, `SELECT n FROM counter`); n != goroutines*inserts {
		t.Errorf("counter %d, want %d (lost update)", n, goroutines*inserts)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	// Two handles on one file, as when the CLI and the server start together.
	path := filepath.Join(t.TempDir(), "caucus.db")
	var dbs []*DB
	for range 2 {
		db, err := Open(t.Context(), path, slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(t.Context(), auth) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := count(t, dbs[0], `SELECT COUNT(*) FROM schema_migrations`); n != 2 {
		t.Errorf("%d schema_migrations rows, want 2", n)
	}
}

func TestBlobHoldsAndSnapshot(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	d, err := Open(ctx, filepath.Join(dir, "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := Component{Name: "t", Migrations: []Migration{{Version: 1, SQL: `CREATE TABLE x (v TEXT)`}}}
	if pending, _, err := d.Pending(ctx, c); err != nil || pending {
		t.Fatalf("fresh database: Pending = %v, %v; want false", pending, err)
	}
	if err := d.Migrate(ctx, c); err != nil {
		t.Fatal(err)
	}
	c2 := Component{Name: "t", Migrations: append(c.Migrations, Migration{Version: 2, SQL: `INSERT INTO x VALUES ('two')`})}
	pending, versions, err := d.Pending(ctx, c2)
	if err != nil || !pending || versions != "t1" {
		t.Fatalf("Pending = %v, %q, %v; want true, t1", pending, versions, err)
	}
	held := func() bool {
		t.Helper()
		var h bool
		err := d.Tx(ctx, func(tx *sql.Tx) (err error) { h, err = BlobsHeld(ctx, tx); return err })
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if held() {
		t.Fatal("held before any hold")
	}
	release, err := d.HoldBlobs(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.HoldBlobs(ctx, -time.Hour) // a crashed holder's
	if err != nil {
		t.Fatal(err)
	}
	if !held() {
		t.Fatal("not held")
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if held() {
		t.Fatal("held after release (an expired hold must not count)")
	}

	snap := filepath.Join(dir, "snap.db")
	if err := d.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(ctx, snap); err == nil {
		t.Fatal("Snapshot overwrote an existing file")
	}
	s, err := Open(ctx, snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("snapshot: %d migrations, %v", n, err)
	}
}

// TestPoolKeepsConnections checks that connections opened by a burst of
// concurrent readers stay in the pool instead of being closed and opened
// again (each opening runs the pragmas and parses the schema).
func TestPoolKeepsConnections(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	const burst = 10
	conns := make([]*sql.Conn, burst)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
	if st := db.Stats(); st.MaxIdleClosed != 0 || st.Idle != burst {
		t.Errorf("after %d connections: %d idle, %d closed for the idle limit; want %d, 0", burst, st.Idle, st.MaxIdleClosed, burst)
	}
	// More than the pool keeps: the excess is closed.
	conns = make([]*sql.Conn, maxIdleConns+1)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
	if st := db.Stats(); st.Idle != maxIdleConns {
		t.Errorf("after %d connections: %d idle, want %d", maxIdleConns+1, st.Idle, maxIdleConns)
	}
}

// TestPrepared checks that a prepared statement is kept per query text and
// still answers after the schema changed under it.
func TestPrepared(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	if err := db.Migrate(ctx, Component{Name: "auth", Migrations: auth.Migrations[:1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO accounts (name) VALUES ('ada')`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT * FROM accounts WHERE name = ?`
	st, err := db.Prepared(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := db.Prepared(ctx, q); err != nil || again != st {
		t.Errorf("Prepared again = %p, %v; want the same statement %p", again, err, st)
	}
	if err := db.Migrate(ctx, auth); err != nil { // adds a column
		t.Fatal(err)
	}
	var id, disabled int64
	var name string
	if err := st.QueryRowContext(ctx, "ada").Scan(&id, &name, &disabled); err != nil || name != "ada" {
		t.Errorf("after the schema changed: %d %q %d, %v", id, name, disabled, err)
	}
	if _, err := db.Prepared(ctx, `SELECT * FROM nowhere`); err == nil {
		t.Error("Prepared of a query on a missing table succeeded")
	}
}

// TestMmap checks that every connection reads the database file through
// a memory map of mmapSize bytes: in WAL mode a connection's page cache is
// dropped whenever another connection has written, so without the map a
// busy server reads the same pages again and again with pread (7% of the
// CPU under imapload -steady).
func TestMmap(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	conns := make([]*sql.Conn, 3) // several connections of the pool, not one
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		var n int64
		if err := c.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != mmapSize {
			t.Errorf("connection %d: mmap_size %d, want %d", i, n, mmapSize)
		}
	}
}

// TestOpenSyncsData checks that commits sync with fdatasync where the
// system has it (db.go, syncData); it failed before (fsync).
func TestOpenSyncsData(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checked on Linux")
	}
	open(t)
	if !sqlite.FdatasyncEnabled() {
		t.Error("SQLite commits with fsync after Open, want fdatasync")
	}
}

// BenchmarkCommit times a small write transaction (one row, one WAL sync)
// synced with fsync and with fdatasync in turn, in the same process, three
// rounds, so that the rest of the machine's load falls on both alike.
func BenchmarkCommit(b *testing.B) {
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "caucus.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(b.Context(), `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		b.Fatal(err)
	}
	defer syncData()
	for round, on := range []bool{false, true, false, true, false, true} {
		name := fmt.Sprintf("%s/round%d", map[bool]string{false: "fsync", true: "fdatasync"}[on], round/2+1)
		b.Run(name, func(b *testing.B) {
			if _, err := sqlite.Fdatasync(on); err != nil {
				b.Skip(err)
			}
			for b.Loop() {
				err := db.Tx(b.Context(), func(tx *sql.Tx) error {
					_, err := tx.ExecContext(b.Context(), `INSERT INTO t (v) VALUES ('x')`)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
