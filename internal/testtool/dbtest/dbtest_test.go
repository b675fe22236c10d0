package dbtest_test

import (
	"os"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestPasses checks that each pass opens the engine it says, and that a
// database closed and opened again keeps what was written (a restart).
func TestPasses(t *testing.T) {
	want := db.SQLite
	if os.Getenv("CAUCUS_TEST_ENGINE") == "postgres" {
		want = db.Postgres
	}
	if got := dbtest.Engine(); got != want {
		t.Fatalf("Engine() = %s, want %s", got, want)
	}
	d := dbtest.Create(t)
	first := d.Open(t)
	if first.Engine() != want {
		t.Fatalf("opened %s, want %s", first.Engine(), want)
	}
	if err := first.Migrate(t.Context(), db.Component{Name: "t", Migrations: []db.Migration{{Version: 1, SQL: `CREATE TABLE x (v TEXT); INSERT INTO x VALUES ('kept')`}}}); err != nil {
		t.Fatal(err)
	}
	first.Close()
	var v string
	if err := d.Open(t).QueryRowContext(t.Context(), `SELECT v FROM x`).Scan(&v); err != nil || v != "kept" {
		t.Fatalf("after reopening: %q, %v", v, err)
	}
}

// TestApart checks that two databases of one test do not share tables.
func TestApart(t *testing.T) {
	a, b := dbtest.Open(t), dbtest.Open(t)
	if _, err := a.ExecContext(t.Context(), `CREATE TABLE only_a (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExecContext(t.Context(), `SELECT * FROM only_a`); err == nil {
		t.Fatal("the second database sees the first one's table")
	}
}
