package files_test

import (
	"maps"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestUsageMigration: migration 6 fills files_usage and
// files_usage_blobs from the versions a store already holds, on both
// engines: contents shared by files, versions and spaces, a folder, and
// a space with no versions.
func TestUsageMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Create(t).Open(t)
	all := files.Component()
	if err := d.Migrate(ctx, db.Component{Name: all.Name, Migrations: all.Migrations[:5]}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO files_nodes (id, space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES
			(1, 'home', 1, NULL, '', 1, 0, 0), (2, 'home', 1, 1, 'a', 0, 0, 0), (3, 'home', 1, 1, 'b', 0, 0, 0),
			(4, 'home', 1, 1, 'd', 1, 0, 0), (5, 'home', 1, 4, 'c', 0, 0, 0),
			(6, 'group', 1, NULL, '', 1, 0, 0), (7, 'group', 1, 6, 'a', 0, 0, 0), (8, 'home', 2, NULL, '', 1, 0, 0)`,
		`INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES
			(2, 'x', 10, 0, 'a'), (2, 'y', 20, 0, 'a'), (3, 'x', 10, 0, 'a'), (5, 'z', 40, 0, 'a'), (5, 'x', 10, 0, 'a'),
			(7, 'x', 10, 0, 'a'), (7, 'w', 7, 0, 'a')`,
	} {
		if _, err := d.ExecContext(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if err := d.Migrate(ctx, all); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, d, "migration 6")
	got := usageRows(t, d, `SELECT space_kind || ' ' || space_id, bytes FROM files_usage`)
	if want := map[string]int64{"home 1": 70, "group 1": 17}; !maps.Equal(got, want) {
		t.Fatalf("usage after migration 6: %v, want %v", got, want)
	}
}
