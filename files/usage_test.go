package files_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
)

// versionsRead matches a line of a plan (SQLite's EXPLAIN QUERY PLAN,
// PostgreSQL's EXPLAIN) that reads files_versions (aliased v in the
// statements), as opposed to inserting into it.
var versionsRead = regexp.MustCompile(`^(SCAN|SEARCH) (v|files_versions)\b|Scan.* on files_versions\b`)

// TestUploadReadsNoVersions checks, on both engines, that with a quota
// set the statements an upload runs to find the space's room read no
// row of files_versions: what the space uses was a sum over each of its
// versions, run twice per upload (before the body and in the commit),
// so that each upload into a space of 4,000 files cost more than twice
// as much as into one of 2,000. The usage is kept in files_usage.
func TestUploadReadsNoVersions(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{DefaultQuota: 1 << 30})
	d := files.DB(e.Store)
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, err := s.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		put(t, s, alice, "/Home", fmt.Sprintf("f%d.txt", i), fmt.Sprint(i))
	}
	for name, st := range files.RoomStatements(s, files.SpaceHome, alice.ID, home.ID) {
		var plan string
		if d.Engine() == db.Postgres {
			plan = explain(t, d, "force_generic_plan", st[0].(string), st[1:])
		} else {
			plan = queryPlan(t, d, st[0].(string), st[1:])
		}
		for line := range strings.Lines(plan) {
			if versionsRead.MatchString(strings.TrimSpace(line)) {
				t.Errorf("%s reads the space's versions:\n%s", name, plan)
				break
			}
		}
	}
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN of query with args, one
// step a line.
func queryPlan(t *testing.T, d *db.DB, query string, args []any) string {
	t.Helper()
	rows, err := d.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int64
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
