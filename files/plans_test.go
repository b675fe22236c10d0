package files_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
)

// TestPlansUseIndexes checks, on PostgreSQL, that the statements every
// lookup and upload runs probe indexes rather than read whole tables,
// with custom and generic plans alike, in a database of a few thousand
// files: PostgreSQL estimates a recursive CTE at ~31 rows, and the chain
// and walk statements (written for SQLite) were planned as hash joins
// over every node and every version, so each upload cost more than the
// last (the PUT benchmark fell to 20 files/s).
func TestPlansUseIndexes(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	d := files.DB(e.Store)
	if d.Engine() != db.Postgres {
		t.Skip("plans are PostgreSQL's")
	}
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, err := s.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := s.Mkdir(ctx, alice, home.ID, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.Mkdir(ctx, alice, home.ID, "small")
	if err != nil {
		t.Fatal(err)
	}
	f := put(t, s, alice, "/Home/small", "a.txt", "a")
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at)
			SELECT 'home', %d, %d, 'f' || g, 0, 0, 0 FROM generate_series(1, 4000) g`, alice.ID, bulk.ID),
		fmt.Sprintf(`INSERT INTO files_versions (node_id, blob, size, created_at, author)
			SELECT id, md5(id::text), 1, 0, 'a' FROM files_nodes WHERE parent_id = %d`, bulk.ID),
		`ANALYZE files_nodes`, `ANALYZE files_versions`,
	} {
		if _, err := d.ExecContext(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	stmts := files.LookupStatements(s, files.SpaceHome, alice.ID, small.ID, f.ID, `["small","new.txt"]`)
	for name, st := range stmts {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explain(t, d, mode, st[0].(string), st[1:])
			for _, table := range []string{"files_nodes", "files_versions"} {
				if strings.Contains(plan, "Seq Scan on "+table) {
					t.Errorf("%s (%s) reads all of %s:\n%s", name, mode, table, plan)
				}
			}
		}
	}
}

// explain returns the plan of query with args under plan_cache_mode mode.
func explain(t *testing.T, d *db.DB, mode, query string, args []any) string {
	t.Helper()
	conn, err := d.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = `+mode); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `RESET plan_cache_mode; DEALLOCATE plan_check`)
	if _, err := conn.ExecContext(ctx, `PREPARE plan_check AS `+query); err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	lits := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case int, int64:
			lits[i] = fmt.Sprint(a)
		default: // text: a string, a SpaceKind
			lits[i] = "'" + strings.ReplaceAll(fmt.Sprint(a), "'", "''") + "'"
		}
	}
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE plan_check(`+strings.Join(lits, ", ")+`)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
