package backup_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sqliteOnly skips a test of the SQLite file's backup on the PostgreSQL
// pass: a PostgreSQL database is backed up by its operator
// (TestPostgresDatabaseRefused).
func sqliteOnly(t testing.TB) {
	t.Helper()
	if dbtest.Engine() != db.SQLite {
		t.Skip("backs up the SQLite database file; on PostgreSQL see TestPostgresDatabaseRefused")
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

// TestPostgresDatabaseRefused: on PostgreSQL caucus does not copy the
// database (its operator's pg_dump, base backups and WAL archive do):
// a backup and the save before a migration say so, with ErrPostgres,
// and write nothing.
func TestPostgresDatabaseRefused(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("PostgreSQL only; on SQLite see TestBackupRestore and TestBeforeMigrate")
	}
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Open(t)
	if err := d.Migrate(ctx, backup.Component()); err != nil {
		t.Fatal(err)
	}
	data, dest := t.TempDir(), filepath.Join(t.TempDir(), "dest")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := backup.New(d, backup.Config{DataDir: data, Dest: dest, Recipients: []age.Recipient{id.Recipient()}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Backup(ctx)
	if !errors.Is(err, backup.ErrPostgres) || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Backup on PostgreSQL = %v, want ErrPostgres naming pg_dump", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the destination was made: %v", err)
	}
	if at, _, err := svc.LastSuccess(ctx); err != nil || !at.IsZero() {
		t.Errorf("LastSuccess = %v, %v; want none", at, err)
	}
	v1 := db.Component{Name: "x", Migrations: []db.Migration{{Version: 1, SQL: `CREATE TABLE t (v TEXT)`}}}
	if err := d.Migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v1.Migrations = append(v1.Migrations, db.Migration{Version: 2, SQL: `DROP TABLE t`})
	p, err := backup.BeforeMigrate(ctx, d, data, time.Now(), v1)
	if !errors.Is(err, backup.ErrPostgres) || p != "" {
		t.Errorf("BeforeMigrate on PostgreSQL = %q, %v; want ErrPostgres", p, err)
	}
	if _, err := os.Stat(filepath.Join(data, "backups")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BeforeMigrate made %s/backups: %v", data, err)
	}
}
