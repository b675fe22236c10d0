package db

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"
)

// reprepares returns how many times the statements open on conn have been
// prepared again since their counters were last reset, and resets them:
// FTS5's own statements are among them (sqlite3_next_stmt lists every
// statement of the connection).
func reprepares(t *testing.T, conn *sql.Conn) int {
	t.Helper()
	var n int
	err := conn.Raw(func(dc any) error {
		tls, db, err := rawHandle(dc)
		if err != nil {
			return err
		}
		for st := sqlite3.Xsqlite3_next_stmt(tls, db, 0); st != 0; st = sqlite3.Xsqlite3_next_stmt(tls, db, st) {
			n += int(sqlite3.Xsqlite3_stmt_status(tls, st, sqlite3.SQLITE_STMTSTATUS_REPREPARE, 1))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPlannerStable checks that every connection runs with the query
// planner stability guarantee, so that an FTS5 MATCH over an index of
// several segments is not parsed and planned again at each run: FTS5's
// lookup of a term in segment 1 and then in segment 2 crossed SQLite's
// "small integer" rule (qpsg.go). It failed before: 60 reprepares in 10
// runs over six segments.
func TestPlannerStable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for _, q := range []string{
		`CREATE VIRTUAL TABLE f USING fts5(body, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none)`,
		`INSERT INTO f (f, rank) VALUES ('automerge', 0)`, // keep the segments apart
	} {
		if _, err := d.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	const segments = 6
	for i := range segments {
		if _, err := d.ExecContext(ctx, `INSERT INTO f (rowid, body) VALUES (?, ?)`, i+1, fmt.Sprintf("a needle %d", i)); err != nil {
			t.Fatal(err)
		}
	}

	// A few connections at once, so the pool opens more than one.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		if conns[i], err = d.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	for i, conn := range conns {
		err := conn.Raw(func(dc any) error {
			tls, db, err := rawHandle(dc)
			if err != nil {
				return err
			}
			on, err := dbConfigBool(tls, db, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, -1)
			if err == nil && !on {
				err = fmt.Errorf("query planner stability guarantee off")
			}
			return err
		})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}

	conn := conns[0]
	st, err := conn.PrepareContext(ctx, `SELECT rowid FROM f WHERE f MATCH ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	match := func() {
		if n := countRows(ctx, t, st, `"nee" AND "eed" AND "edl"`); n != segments {
			t.Fatalf("MATCH found %d rows, want %d", n, segments)
		}
	}
	match() // FTS5 prepares its own statements on first use
	reprepares(t, conn)
	const runs = 10
	for range runs {
		match()
	}
	if n := reprepares(t, conn); n != 0 {
		t.Errorf("%d statements prepared again in %d runs of a MATCH over %d segments, want 0", n, runs, segments)
	}
}

// countRows runs st with args and counts its rows.
func countRows(ctx context.Context, t *testing.T, st *sql.Stmt, args ...any) int {
	t.Helper()
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
