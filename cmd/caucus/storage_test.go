package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/BurntSushi/toml"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"github.com/caucus-org/caucus/mail/queue"
)

// TestCommandsOnPostgres: the commands that open the database themselves
// (queue, audit verify, backup) open the one the configuration names,
// here PostgreSQL: they once opened data_dir/caucus.db whatever it said,
// and so showed an empty queue, found no audit log, and backed up an
// empty SQLite file made for the occasion. The backup holds the blobs,
// the keys and the database's pg_dump, which restore puts in the new
// data directory and pg_restore brings back.
func TestCommandsOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	testtool.Need(t, "pg_dump")
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Storage.Database = "postgres"
	cfg.Storage.Postgres.DSN = srv.DSN("postgres")
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "caucus.toml")
	if err := os.WriteFile(cfgFile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// What the server would have written: a queued message, an audit
	// record, a file's blob and a key.
	d, err := db.OpenPostgres(ctx, cfg.Storage.Postgres.DSN, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, audit.Component(), queue.Component()); err != nil {
		t.Fatal(err)
	}
	qblobs, err := blob.OpenDir(filepath.Join(dir, "blobs", "queue"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(queue.Config{Hostname: "mail.example-party.org", Resolver: &dns.Mock{}}, d, qblobs, nil)
	if _, err := q.Enqueue(ctx, "alice@example-party.org", []string{"bob@example.org"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := audit.New(d, time.Now, nil).Record(ctx, audit.Event{Actor: "admin@example-party.org", Kind: "test.event"}); err != nil {
		t.Fatal(err)
	}
	files, err := blob.OpenDir(filepath.Join(dir, "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	plan := bytes.Repeat([]byte("campaign plan, page after page. "), 100)
	ref, _, err := files.Put(ctx, bytes.NewReader(plan), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "auth.key"), []byte("a key"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != want {
			t.Fatalf("caucus %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	if out := cmd(0, "queue", "list", "--config", cfgFile); !strings.Contains(out, "bob@example.org") {
		t.Errorf("queue list:\n%s\nwant the message queued in PostgreSQL", out)
	}
	if out := cmd(0, "audit", "verify", "--config", cfgFile); !strings.Contains(out, "1 records verified") {
		t.Errorf("audit verify: %s", out)
	}

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backups")
	if out := cmd(0, "backup", "--config", cfgFile, "--recipient", id.Recipient().String(), dest); !strings.Contains(out, "its dump (pg_dump") {
		t.Errorf("backup printed %q: want it to say the database's dump is in it", out)
	}
	if out := cmd(0, "backup", "verify", "--identity", idFile, dest); !strings.Contains(out, "with the PostgreSQL database's dump") {
		t.Errorf("backup verify printed %q", out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out := cmd(0, "restore", "--identity", idFile, "--data", restored, dest); !strings.Contains(out, "pg_restore") {
		t.Errorf("restore printed %q: want it to say the database comes back with pg_restore", out)
	}
	// The dump restores into a new database, with what the server wrote.
	if _, err := d.ExecContext(ctx, `CREATE DATABASE restored`); err != nil {
		t.Fatal(err)
	}
	pgRestore := testtool.Need(t, "pg_restore")
	if out, err := exec.Command(pgRestore, "--no-owner", "--dbname="+srv.DSN("restored"), filepath.Join(restored, backup.PGDumpFile)).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	d2, err := db.OpenPostgres(ctx, srv.DSN("restored"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	var events, queued int
	if err := d2.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_log WHERE kind = 'test.event'), (SELECT count(*) FROM queue_messages)`).Scan(&events, &queued); err != nil || events != 1 || queued != 1 {
		t.Errorf("the restored database: %d audit records of the test, %d queued messages, %v; want 1 and 1", events, queued, err)
	}
	for _, d := range []string{dir, restored} {
		if _, err := os.Stat(filepath.Join(d, "caucus.db")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a SQLite database in %s: %v", d, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(restored, "keys", "auth.key")); err != nil || string(got) != "a key" {
		t.Errorf("restored key: %q, %v", got, err)
	}
	rb, err := blob.OpenDir(filepath.Join(restored, "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := rb.Open(ref)
	if err != nil {
		t.Fatalf("restored file blob: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, plan) {
		t.Errorf("restored file blob: %d bytes, %v", len(got), err)
	}
	var n int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE kind = 'backup.create'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("backup.create records in PostgreSQL's audit log: %d, %v", n, err)
	}
}

// TestCommandsConfigSQLite: with --config naming a SQLite server, the
// commands open data_dir/caucus.db as before; audit verify creates no
// database where there is none.
func TestCommandsConfigSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(config.Dev(dir)); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "caucus.toml")
	if err := os.WriteFile(cfgFile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"audit", "verify", "--config", cfgFile}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no database") {
		t.Errorf("audit verify without a database: exit %d, %q", code, stdout.String()+stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "caucus.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("audit verify made a database: %v", err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"queue", "list", "--config", cfgFile}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "empty") {
		t.Errorf("queue list: exit %d, %q", code, stdout.String()+stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "caucus.db")); err != nil {
		t.Errorf("queue list did not open data_dir/caucus.db: %v", err)
	}
}
