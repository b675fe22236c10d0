package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

// serveOn starts a --dev server on dir with storage, or returns New's
// error; stop shuts it down.
func serveOn(t *testing.T, dir string, storage config.Storage) (srv *Server, stop func(), err error) {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Storage = storage
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen)
	var out bytes.Buffer
	srv, err = start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: &out, NoNotices: true})
	if err != nil {
		return nil, nil, err
	}
	return srv, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}, nil
}

// writeConfig writes the --dev configuration of dir with storage to a
// file and returns its name.
func writeConfig(t *testing.T, dir string, storage config.Storage) string {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Storage = storage
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "caucus.toml")
	if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// caucusCmd runs the caucus command and checks its exit code.
func caucusCmd(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	t.Logf("caucus %s:\n%s", strings.Join(args, " "), out)
	if code != want {
		t.Fatalf("caucus %s: exit %d, want %d", strings.Join(args, " "), code, want)
	}
	return out
}

// TestStorageMigrate moves a demo party (two members' mail put in by IMAP
// APPEND, a volunteer's file by WebDAV PUT, the audit log, app
// passwords) from SQLite and a blob directory to PostgreSQL and S3 with
// `caucus storage migrate`, and back to SQLite and a directory. On each
// new storage a server starts, every member signs in with their app
// password and reads their message, the file reads back, the audit
// chain verifies and a search finds a word of a migrated message. The
// command refuses while the server runs; a copy that fails midway (the
// target refuses a row) leaves a target the server refuses to start on,
// and the command run again finishes it.
func TestStorageMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	sqlite := config.Dev(dir).Storage
	oldCfg := writeConfig(t, dir, sqlite)

	srv, stop, err := serveOn(t, dir, sqlite)
	if err != nil {
		t.Fatal(err)
	}
	anna := newMailAccount(t, srv, "anna@localhost")
	bob := newMailAccount(t, srv, "bob@localhost")
	msgs := map[string]string{
		anna.login: "From: anna@localhost\r\nTo: anna@localhost\r\nSubject: list\r\n\r\nThe candidates for Lombardy\r\n",
		bob.login:  "From: bob@localhost\r\nTo: bob@localhost\r\nSubject: rally\r\n\r\nThe rally moves to Piacenza\r\n",
	}
	uids := map[string]imap.UID{}
	for _, a := range []mailAccount{anna, bob} {
		uids[a.login] = imapAppend(t, srv.addrs["imaps"], dir, a, msgs[a.login])
	}
	volSecret := newFilesAccount(t, srv, "vol@localhost")
	plan := bytes.Repeat([]byte("campaign plan, page after page. "), 4096)
	davDo(t, srv, dir, "PUT", "/dav/Home/plan.txt", volSecret, plan, http.StatusCreated)
	// A 64 KiB content is kept in the database (files.DefaultInlineBytes):
	// it moves with the database's rows, not with the blobs.
	davDo(t, srv, dir, "PUT", "/dav/Home/photo.jpg", volSecret, plan[:64<<10], http.StatusCreated)

	pgS3 := pgS3Storage(t, pgtest.Options{})
	newCfg := writeConfig(t, dir, pgS3)
	if out := caucusCmd(t, 1, "storage", "migrate", "--config", oldCfg, "--to", newCfg); !strings.Contains(out, "stop it first") {
		t.Errorf("storage migrate while the server runs: %q; want a refusal", out)
	}
	stop()

	// The target refuses a row midway (PostgreSQL's text takes no NUL,
	// SQLite's does): the copy stops, and the target is no database a
	// server starts on.
	src, err := db.Open(ctx, filepath.Join(dir, "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ExecContext(ctx, `INSERT INTO blob_orphans (ref, since) VALUES (?, 1)`, "bad\x00ref"); err != nil {
		t.Fatal(err)
	}
	if out := caucusCmd(t, 1, "storage", "migrate", "--config", oldCfg, "--to", newCfg); !strings.Contains(out, "blob_orphans") {
		t.Errorf("storage migrate with a row the target refuses: %q; want the table named", out)
	}
	if _, _, err := serveOn(t, dir, pgS3); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("a server on the target of an unfinished migration: %v; want a refusal", err)
	}
	if _, err := src.ExecContext(ctx, `DELETE FROM blob_orphans WHERE ref = ?`, "bad\x00ref"); err != nil {
		t.Fatal(err)
	}
	src.Close()

	out := caucusCmd(t, 0, "storage", "migrate", "--config", oldCfg, "--to", newCfg)
	for _, want := range []string{"database: sqlite -> postgres", "blobs: dir -> s3", "audit_log", "all there and whole", "refs blobs.ref", "refs files_versions.blob"} {
		if !strings.Contains(out, want) {
			t.Errorf("storage migrate printed no %q", want)
		}
	}
	if strings.Contains(out, "DIFFERS") {
		t.Errorf("the verification found a difference")
	}
	caucusCmd(t, 0, "storage", "migrate", "--verify", "--config", oldCfg, "--to", newCfg)
	checkParty(t, dir, pgS3, newCfg, []mailAccount{anna, bob}, uids, msgs, volSecret, plan)

	// A node on PostgreSQL still running (its control socket elsewhere,
	// on another machine) stops the move.
	_, stop, err = serveOn(t, dir, pgS3)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := writeConfig(t, t.TempDir(), pgS3)
	if out := caucusCmd(t, 1, "storage", "migrate", "--config", elsewhere, "--to", writeConfig(t, t.TempDir(), sqlite)); !strings.Contains(out, "in use by") {
		t.Errorf("storage migrate while a node uses the PostgreSQL source: %q; want a refusal", out)
	}
	stop()

	// And back, into a new data directory with the party's keys.
	back := t.TempDir()
	copyKeys(t, dir, back)
	backStorage := config.Dev(back).Storage
	backCfg := writeConfig(t, back, backStorage)
	out = caucusCmd(t, 0, "storage", "migrate", "--config", newCfg, "--to", backCfg)
	if !strings.Contains(out, "database: postgres -> sqlite") || !strings.Contains(out, "blobs: s3 -> dir") {
		t.Errorf("storage migrate back printed %q", out)
	}
	checkParty(t, back, backStorage, backCfg, []mailAccount{anna, bob}, uids, msgs, volSecret, plan)
}

// checkParty starts a server on dir with storage and checks the demo
// party of [TestStorageMigrate] there.
func checkParty(t *testing.T, dir string, storage config.Storage, cfgFile string, members []mailAccount, uids map[string]imap.UID, msgs map[string]string, volSecret string, plan []byte) {
	t.Helper()
	srv, stop, err := serveOn(t, dir, storage)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, a := range members {
		if got := imapFetch(t, srv.addrs["imaps"], dir, a, uids[a.login]); got != msgs[a.login] {
			t.Errorf("%s's message on the new storage: %q, want %q", a.login, got, msgs[a.login])
		}
	}
	ic := imapLogin(t, srv.addrs["imaps"], dir, members[0])
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found, err := ic.UIDSearch(&imap.SearchCriteria{Body: []string{"Lombardy"}}, nil).Wait()
	if err != nil || len(found.AllUIDs()) != 1 || found.AllUIDs()[0] != uids[members[0].login] {
		t.Errorf("SEARCH BODY Lombardy on the new storage: %v, %v; want UID %d", found, err, uids[members[0].login])
	}
	if got := davDo(t, srv, dir, "GET", "/dav/Home/plan.txt", volSecret, nil, http.StatusOK); !bytes.Equal(got, plan) {
		t.Errorf("the file on the new storage: %d bytes, want %d", len(got), len(plan))
	}
	if got := davDo(t, srv, dir, "GET", "/dav/Home/photo.jpg", volSecret, nil, http.StatusOK); !bytes.Equal(got, plan[:64<<10]) {
		t.Errorf("the small file on the new storage: %d bytes, want %d", len(got), 64<<10)
	}
	if out := caucusCmd(t, 0, "audit", "verify", "--config", cfgFile); !strings.Contains(out, "records verified") {
		t.Errorf("audit verify on the new storage: %q", out)
	}
}
