package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

// TestBackupPostgres: the backup of a server whose database is in
// PostgreSQL holds its blobs and the data directory's files (the keys),
// not the database, which PostgreSQL's own tools back up; its manifest
// says so, Verify checks what it holds, and Restore brings the blobs and
// the keys back and makes no SQLite database. The run is recorded in
// PostgreSQL.
func TestBackupPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	d, err := db.OpenPostgres(ctx, srv.DSN("postgres"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx, backup.Component()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := []byte(rand.Text())
	if err := os.WriteFile(filepath.Join(dir, "keys", "blob.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := blob.OpenDir(filepath.Join(dir, "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[blob.Ref][]byte{}
	for i := range 5 {
		b := []byte(rand.Text() + strings.Repeat("x", i*100))
		ref, _, err := files.Put(ctx, bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		want[ref] = b
	}

	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	id := newIdentity(t)
	dest := filepath.Join(t.TempDir(), "dest")
	svc, err := backup.New(d, backup.Config{DataDir: dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()},
		Blobs: map[string]blob.Store{"files": files}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Backup(ctx)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if res.Database != backup.DatabasePostgres {
		t.Errorf("Backup's result: database %q, want %q", res.Database, backup.DatabasePostgres)
	}
	ids := []age.Identity{id}
	_, m, err := backup.ReadManifest(dest, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	if m.Database != backup.DatabasePostgres {
		t.Errorf("manifest: database %q, want %q", m.Database, backup.DatabasePostgres)
	}
	paths := map[string]bool{}
	for _, f := range m.Files {
		paths[f.Path] = true
	}
	if paths["caucus.db"] || !paths["keys/blob.key"] || len(m.Files) < len(want)+1 {
		t.Errorf("manifest lists %v: want the key and the blobs, no caucus.db", paths)
	}
	var runs int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM backup_runs WHERE id = ?`, res.ID).Scan(&runs); err != nil || runs != 1 {
		t.Errorf("backup %s recorded %d times, %v", res.ID, runs, err)
	}

	if v, err := backup.Verify(ctx, dest, "", ids, ""); err != nil || v.Database != backup.DatabasePostgres {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	target := filepath.Join(t.TempDir(), "restored")
	if r, err := backup.Restore(ctx, dest, "", ids, target); err != nil || r.Database != backup.DatabasePostgres {
		t.Fatalf("Restore: %+v, %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(target, "caucus.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Restore made %s: %v", filepath.Join(target, "caucus.db"), err)
	}
	if got, err := os.ReadFile(filepath.Join(target, "keys", "blob.key")); err != nil || !bytes.Equal(got, key) {
		t.Errorf("restored key: %q, %v", got, err)
	}
	checkBlobs(t, filepath.Join(target, "blobs", "files"), want)

	// With Dump, the backup holds the dump, made under the blob hold; a
	// dump restored into the data directory earlier is not taken for it.
	if err := os.WriteFile(filepath.Join(dir, backup.PGDumpFile), []byte("an old dump"), 0o600); err != nil {
		t.Fatal(err)
	}
	dump := []byte("PGDMP " + rand.Text())
	clk.Advance(time.Minute) // the newest backup from now on
	svc, err = backup.New(d, backup.Config{DataDir: dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()},
		Blobs: map[string]blob.Store{"files": files}, Dump: func(ctx context.Context, path string) error {
			if held, err := db.BlobsHeld(ctx, d); err != nil || !held {
				return fmt.Errorf("dump without the blob hold: %v, %v", held, err)
			}
			return os.WriteFile(path, dump, 0o644)
		}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = svc.Backup(ctx); err != nil || !res.Dump {
		t.Fatalf("Backup with Dump: %+v, %v", res, err)
	}
	if v, err := backup.Verify(ctx, dest, res.ID, ids, ""); err != nil || !v.Dump {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	target = filepath.Join(t.TempDir(), "restored2")
	if r, err := backup.Restore(ctx, dest, res.ID, ids, target); err != nil || !r.Dump {
		t.Fatalf("Restore: %+v, %v", r, err)
	}
	if got, err := os.ReadFile(filepath.Join(target, backup.PGDumpFile)); err != nil || !bytes.Equal(got, dump) {
		t.Errorf("restored dump: %q, %v; want %q", got, err, dump)
	}
	if fi, err := os.Stat(filepath.Join(target, backup.PGDumpFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored dump: %v, %v; want mode 0600", fi, err)
	}
	checkBlobs(t, filepath.Join(target, "blobs", "files"), want)

	t.Run("PGDump", func(t *testing.T) {
		pgRestore := testtool.Need(t, "pg_restore")
		testtool.Need(t, "pg_dump")
		dump, err := backup.PGDump(srv.DSN("postgres"), "")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), backup.PGDumpFile)
		if err := dump(ctx, path); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pgRestore, "--list", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "TABLE public backup_runs") {
			t.Errorf("pg_restore --list: %v\n%s", err, out)
		}
		bad, err := backup.PGDump(srv.DSN("no_such_database"), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := bad(ctx, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "no_such_database") {
			t.Errorf("dump of a database that is not there: %v; want pg_dump's complaint", err)
		}
	})
}

// checkBlobs checks that the blob directory dir holds want.
func checkBlobs(t *testing.T, dir string, want map[blob.Ref][]byte) {
	t.Helper()
	restored, err := blob.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for ref, b := range want {
		r, err := restored.Open(ref)
		if err != nil {
			t.Fatalf("restored blob %s: %v", ref, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("restored blob %s: %d bytes, %v", ref, len(got), err)
		}
	}
}
