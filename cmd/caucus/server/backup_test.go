package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/BurntSushi/toml"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// TestBackupCommands backs up a running --dev server from a second
// "process" (the command line, with its own database handle), verifies the
// backup, restores it and starts a server on the restored directory.
func TestBackupCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A member's file, stored over WebDAV, must come back identical and
	// the member's app password must work on the restored server.
	_, secret := enrolWithAppPassword(t, srv, "vol@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeFiles)
	plan := bytes.Repeat([]byte("campaign plan, page after page. "), 4096)
	davDo(t, srv, dir, "PUT", "/dav/Home/plan.txt", secret, plan, http.StatusCreated)
	// A content of 64 KiB is kept in the database (files.DefaultInlineBytes),
	// not in the blob directory: it comes back with the database's copy.
	photo := bytes.Repeat([]byte("a photo of the stand, 64 KiB... "), 2048)
	davDo(t, srv, dir, "PUT", "/dav/Home/photo.jpg", secret, photo, http.StatusCreated)

	dest := filepath.Join(t.TempDir(), "backups")
	cmd := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != want {
			t.Fatalf("caucus %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	// An upload in progress on the server: the backup command beside it
	// must leave its temporary file alone.
	upload := filepath.Join(dir, "blobs", "files", "tmp", "00", "put-1000000")
	if err := os.MkdirAll(filepath.Dir(upload), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(upload, []byte("half an upload"), 0o400); err != nil {
		t.Fatal(err)
	}
	out := cmd(0, "backup", "--data", dir, "--recipient", id.Recipient().String(), dest)
	if _, err := os.Stat(upload); err != nil {
		t.Errorf("the backup command removed the server's upload in progress: %v", err)
	}
	if !strings.HasPrefix(out, "backup ") {
		t.Errorf("backup printed %q", out)
	}
	cmd(0, "backup", "verify", "--identity", idFile, dest)
	other, _ := age.GenerateX25519Identity()
	otherFile := filepath.Join(t.TempDir(), "other.txt")
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	if out := cmd(1, "backup", "verify", dest, "--identity", otherFile); !strings.Contains(out, "wrong identity") {
		t.Errorf("verify with another identity printed %q", out)
	}
	if out := cmd(0, "backup", "list", dest); strings.Count(out, "\n") != 1 {
		t.Errorf("list printed %q, want one backup", out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	cmd(0, "restore", "--identity", idFile, "--data", restored, dest)
	cmd(1, "restore", "--identity", idFile, "--data", restored, dest) // not empty
	// Every file but the live database is back, identical: the keys and
	// the certificate.
	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() { // the control socket is no file to restore
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, "caucus.db") || strings.Contains(rel, "/tmp/") {
			return nil
		}
		a, _ := os.ReadFile(path)
		b, err := os.ReadFile(filepath.Join(restored, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s after restore: %v", rel, err)
		}
		n++
		return nil
	})
	if err != nil || n < 3 {
		t.Errorf("compared %d files: %v", n, err)
	}
	for _, c := range []struct{ dir, kind string }{{dir, "backup.create"}, {restored, "backup.restore"}} {
		d, err := db.Open(t.Context(), filepath.Join(c.dir, "caucus.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := audit.New(d, time.Now, nil).List(t.Context(), audit.Filter{Kind: c.kind})
		d.Close()
		if err != nil || len(recs) != 1 {
			t.Errorf("audit log of %s: %d %s records, %v; want 1", c.dir, len(recs), c.kind, err)
		}
	}
	srv2, _ := startDev(t, restored)
	if got := davDo(t, srv2, restored, "GET", "/dav/Home/plan.txt", secret, nil, http.StatusOK); !bytes.Equal(got, plan) {
		t.Errorf("the restored file differs: %d bytes, want %d", len(got), len(plan))
	}
	if got := davDo(t, srv2, restored, "GET", "/dav/Home/photo.jpg", secret, nil, http.StatusOK); !bytes.Equal(got, photo) {
		t.Errorf("the restored small file differs: %d bytes, want %d", len(got), len(photo))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv2.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(restored, "backups")); len(entries) != 0 {
		t.Errorf("start after restore saved the database before a migration: %v", entries)
	}
}

// TestServeBackupConfig checks that serve refuses a [backup] section whose
// recipient is not an age public key, before it serves anything.
func TestServeBackupConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Backup.Dest, cfg.Backup.Recipient = t.TempDir(), "age1notakey"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err) // the configuration checks only the prefix
	}
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: io.Discard})
	if err == nil {
		srv.Shutdown(t.Context())
		t.Fatal("start accepted a bad backup recipient")
	}
	if !strings.Contains(err.Error(), "backup.recipient") {
		t.Errorf("start: %v, want an error naming backup.recipient", err)
	}
}

// davDo sends one WebDAV request to srv (whose dev certificate is in dir)
// as vol@localhost with the files app password secret, checks the status
// and returns the response body.
func davDo(t *testing.T, srv *Server, dir, method, path, secret string, body []byte, want int) []byte {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: devTLS(t, dir)}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("vol@localhost", secret)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != want {
		t.Fatalf("%s %s: %s, %v; want %d", method, path, res.Status, err, want)
	}
	return b
}

// TestS3BackupCommand: `caucus backup --config FILE`, run beside a server
// whose blobs are in S3 ([storage] blobs = "s3"), backs up the blobs of
// the stores the server opens (it once backed up none and said it had
// succeeded), and `caucus restore` puts them into blob directories, says
// so, and a server on the restored directory with blobs = "dir" serves
// the message and the file byte for byte without the object store.
func TestS3BackupCommand(t *testing.T) {
	t.Parallel()
	s3srv := s3test.Start(t)
	dir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s3srv.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	storage := config.Storage{Blobs: "s3", S3: config.S3{Endpoint: s3srv.Endpoint, Bucket: s3srv.Bucket(t),
		AccessKey: s3srv.AccessKey, SecretFile: secretFile, InsecureHTTP: true}}
	srv := startDevWith(t, dir, func(c *config.Config) { c.Storage = storage })
	// The command opens the stores the server opens, no fewer.
	if got, want := slices.Sorted(maps.Keys(srv.blobStores)), slices.Sorted(slices.Values(blobOwners())); !slices.Equal(got, want) {
		t.Errorf("the server's blob stores %v, the command's %v", got, want)
	}
	cfgFile := filepath.Join(t.TempDir(), "caucus.toml")
	cfg := config.Dev(dir)
	cfg.Storage = storage
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	anna := newMailAccount(t, srv, "anna@localhost")
	msg := "From: anna@localhost\r\nTo: anna@localhost\r\nSubject: list\r\n\r\nThe list of candidates for Lombardy\r\n"
	uid := imapAppend(t, srv.addrs["imaps"], dir, anna, msg)
	secret := newFilesAccount(t, srv, "vol@localhost")
	plan := bytes.Repeat([]byte("campaign plan, page after page. "), 4096)
	davDo(t, srv, dir, "PUT", "/dav/Home/plan.txt", secret, plan, http.StatusCreated)

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backups")
	cmd := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("caucus %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	// Without the configuration the command cannot know where the blobs
	// are, and says so rather than back up none.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup", "--data", dir, "--recipient", id.Recipient().String(), dest}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "give --config") {
		t.Errorf("backup --data of an S3 server: exit %d, %q; want 1 and to ask for --config", code, stdout.String()+stderr.String())
	}
	cmd("backup", "--config", cfgFile, "--recipient", id.Recipient().String(), dest)
	s3srv.Stop()
	restored := filepath.Join(t.TempDir(), "restored")
	out := cmd("restore", "--identity", idFile, "--data", restored, dest)
	if want := filepath.Join(restored, "blobs"); !strings.Contains(out, want) || !strings.Contains(out, `blobs = "dir"`) {
		t.Errorf("restore printed %q; want it to say the blobs are in %s, for blobs = \"dir\"", out, want)
	}

	srv2 := startDevWith(t, restored, func(*config.Config) {}) // blobs = "dir"
	if got := imapFetch(t, srv2.addrs["imaps"], restored, anna, uid); got != msg {
		t.Errorf("the restored message: %q, want %q", got, msg)
	}
	if got := davDo(t, srv2, restored, "GET", "/dav/Home/plan.txt", secret, nil, http.StatusOK); !bytes.Equal(got, plan) {
		t.Errorf("the restored file: %d bytes, want %d", len(got), len(plan))
	}
}

// imapAppend appends msg to the INBOX of a over IMAPS at addr (the dev
// server's, whose certificate is in dir) and returns its UID.
func imapAppend(t *testing.T, addr, dir string, a mailAccount, msg string) imap.UID {
	t.Helper()
	ic := imapLogin(t, addr, dir, a)
	app := ic.Append("INBOX", int64(len(msg)), nil)
	io.WriteString(app, msg)
	app.Close()
	appended, err := app.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return appended.UID
}

// imapFetch returns the message of INBOX with uid, over IMAPS as
// imapAppend.
func imapFetch(t *testing.T, addr, dir string, a mailAccount, uid imap.UID) string {
	t.Helper()
	ic := imapLogin(t, addr, dir, a)
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sect := &imap.FetchItemBodySection{}
	msgs, err := ic.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH UID %d: %v, %v", uid, msgs, err)
	}
	return string(msgs[0].FindBodySection(sect))
}

// imapLogin logs a in over IMAPS, until the test ends; the connection
// ends after a minute, so that a server that does not answer fails the
// test instead of hanging it.
func imapLogin(t *testing.T, addr, dir string, a mailAccount) *imapclient.Client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, devTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	ic := imapclient.New(conn, nil)
	t.Cleanup(func() { ic.Close() })
	if err := ic.Login(a.login, a.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	return ic
}
