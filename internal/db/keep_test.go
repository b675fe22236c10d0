package db

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// connSettings are the settings of one connection that a kept
// connection changes (keptPragmas).
type connSettings struct{ mmap, cache, temp, autoCheckpoint int64 }

func readSettings(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (s connSettings, err error) {
	for _, p := range []struct {
		pragma string
		v      *int64
	}{{"mmap_size", &s.mmap}, {"cache_size", &s.cache}, {"temp_store", &s.temp}, {"wal_autocheckpoint", &s.autoCheckpoint}} {
		if err := q.QueryRowContext(ctx, `PRAGMA `+p.pragma).Scan(p.v); err != nil {
			return s, err
		}
	}
	return s, nil
}

// TestGroupKeptConn checks that a group's commits on SQLite run on one
// connection, kept between them with its settings (no memory map,
// temporary files in memory, no checkpoint in a commit), and that the connection goes back to the pool with SQLite's
// settings again once it has been idle, and when the database is closed.
func TestGroupKeptConn(t *testing.T) {
	t.Parallel()
	d := open(t)
	d.SetMaxOpenConns(2)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	pool, err := readSettings(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := (connSettings{mmapSize, -2000, 0, 1000}); pool != want {
		t.Fatalf("a pool connection's settings: %+v, want %+v", pool, want)
	}
	g := d.NewGroup(64, nil)
	// A temporary table lives on its connection: the second commit
	// finds the one the first made, if it runs on the same connection.
	var found int
	var inside connSettings
	for i, q := range []string{`CREATE TEMP TABLE kept (v INTEGER)`, `SELECT count(*) FROM temp.sqlite_master WHERE name = 'kept'`} {
		err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if i == 0 {
				_, err := tx.ExecContext(ctx, q)
				return err
			}
			if err := tx.QueryRowContext(ctx, q).Scan(&found); err != nil {
				return err
			}
			inside, err = readSettings(ctx, tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found != 1 {
		t.Errorf("the second commit's connection has no table the first made: not the same connection")
	}
	if want := (connSettings{0, -2000, 2, 0}); inside != want {
		t.Errorf("settings in a group's commit: %+v, want %+v", inside, want)
	}
	// Idle for longer than idleFor: given back to the pool (by the
	// timer, which now waits for an hour), whose two connections then
	// both have SQLite's settings.
	g.conn.mu.Lock()
	g.conn.used = time.Now().Add(-time.Hour)
	g.conn.mu.Unlock()
	g.conn.idle()
	if g.conn.c != nil {
		t.Fatal("the group still keeps its connection after it has been idle")
	}
	c1, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, c := range []*sql.Conn{c1, c2} {
		if s, err := readSettings(ctx, c); err != nil || s != pool {
			t.Errorf("a pool connection's settings after the group gave its back: %+v (%v), want %+v", s, err, pool)
		}
	}
}

// TestGroupKeptConnClose checks that closing the database gives back the
// connection a group keeps, so that it closes too: a connection left
// open would keep the write-ahead log from being checkpointed and
// removed, as SQLite does when the last connection to a database closes.
func TestGroupKeptConnClose(t *testing.T) {
	t.Parallel()
	d := open(t)
	ctx := t.Context()
	g := d.NewGroup(64, nil)
	if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().OpenConnections; n != 0 {
		t.Errorf("%d connections open after Close, want 0", n)
	}
	if err := g.Do(ctx, func(ctx context.Context, tx *sql.Tx) error { return nil }); !errors.Is(err, sql.ErrConnDone) && err == nil {
		t.Errorf("a commit after Close succeeded, want an error")
	}
}
