package backup_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sqliteOnly skips a test of the SQLite file's backup on the PostgreSQL
// pass.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if dbtest.Engine() != db.SQLite {
		t.Skip("a test of the SQLite database file's backup")
	}
}

// TestLastSuccess: the newest finished backup, the later recorded of two
// that finished in the same second, on either engine.
func TestLastSuccess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Open(t)
	if err := d.Migrate(ctx, backup.Component()); err != nil {
		t.Fatal(err)
	}
	if at, size, err := backup.LastSuccess(ctx, d); err != nil || !at.IsZero() || size != 0 {
		t.Fatalf("LastSuccess with no backup = %v, %d, %v", at, size, err)
	}
	for _, r := range []struct {
		id        string
		at, bytes int64
	}{{"b", 100, 2}, {"a", 100, 3}, {"c", 90, 4}} {
		if _, err := d.ExecContext(ctx, `INSERT INTO backup_runs (id, finished_at, dest, size, written) VALUES (?, ?, '/backups', ?, 1)`, r.id, r.at, r.bytes); err != nil {
			t.Fatal(err)
		}
	}
	if at, size, err := backup.LastSuccess(ctx, d); err != nil || at.Unix() != 100 || size != 3 {
		t.Fatalf("LastSuccess = %v, %d, %v; want the run recorded last at 100, 3 bytes", at, size, err)
	}
}

// TestBeforeMigratePostgres: on PostgreSQL caucus does not save the
// database before a migration (its operator's pg_dump, base backups and
// WAL archive do): BeforeMigrate says so, with ErrPostgres, and writes
// nothing.
func TestBeforeMigratePostgres(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("PostgreSQL only; on SQLite see TestBeforeMigrate")
	}
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Open(t)
	data := t.TempDir()
	v1 := db.Component{Name: "x", Migrations: []db.Migration{{Version: 1, SQL: `CREATE TABLE t (v TEXT)`}}}
	if err := d.Migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v1.Migrations = append(v1.Migrations, db.Migration{Version: 2, SQL: `DROP TABLE t`})
	p, err := backup.BeforeMigrate(ctx, d, data, time.Now(), v1)
	if !errors.Is(err, backup.ErrPostgres) || p != "" || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("BeforeMigrate on PostgreSQL = %q, %v; want ErrPostgres naming pg_dump", p, err)
	}
	if _, err := os.Stat(filepath.Join(data, "backups")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BeforeMigrate made %s/backups: %v", data, err)
	}
}
