package files_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
)

// TestPutNewPlan checks, on PostgreSQL, that putNewPG (the statement
// that commits a new file) walks up the folder chain by the primary key,
// one index probe per level, whatever the table's statistics say: with
// custom and generic plans, while files_nodes is small and not analyzed
// (a prepared statement's plan made then was kept as the table grew, up
// to the next ANALYZE) and once it holds thousands of analyzed rows.
// Planned as a hash join, each level up read all of files_nodes, and
// that was PostgreSQL's largest CPU item in the WebDAV upload benchmark
// (about 1 ms of PostgreSQL CPU per 10 KiB upload). The room it checks
// is one row of files_usage (TestUploadReadsNoVersions): the check looks
// at the walk alone.
func TestPutNewPlan(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	d := files.DB(e.Store)
	if d.Engine() != db.Postgres {
		t.Skip("putNewPG is PostgreSQL's")
	}
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, err := s.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := s.Mkdir(ctx, alice, home.ID, "docs")
	if err != nil {
		t.Fatal(err)
	}
	st := files.PutNewStatement(s, files.SpaceHome, alice.ID, docs.ID)
	for _, step := range []struct{ analyze bool }{{false}, {true}} {
		n := 300
		if step.analyze {
			n = 4000
		}
		if _, err := d.ExecContext(ctx, fmt.Sprintf(`INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at)
			SELECT 'home', %d, %d, 'f%d-' || g, 0, 0, 0 FROM generate_series(1, %d) g`, alice.ID, docs.ID, n, n)); err != nil {
			t.Fatal(err)
		}
		if step.analyze {
			if _, err := d.ExecContext(ctx, `ANALYZE files_nodes`); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := between(explain(t, d, mode, st[0].(string), st[1:]), "CTE up", "CTE folder")
			if plan == "" || strings.Contains(plan, "Seq Scan on files_nodes") {
				t.Errorf("%d nodes (analyzed: %t), %s: the walk up reads all of files_nodes:\n%s", n, step.analyze, mode, plan)
			}
		}
	}
}

// between returns the lines of plan from the one that starts with from
// (after its indent) to the next that starts with to; "" if from is not
// there.
func between(plan, from, to string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(plan) {
		switch trimmed := strings.TrimSpace(line); {
		case strings.HasPrefix(trimmed, from):
			in = true
		case strings.HasPrefix(trimmed, to):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	return b.String()
}
