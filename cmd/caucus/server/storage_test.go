package server

import (
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// TestS3Storage runs the --dev server with [storage] blobs = "s3" on a
// real S3 server, over HTTPS with a private CA (ca_file): a message appended over IMAP and a file put over WebDAV
// are read back through the server, their objects sit under each owner's
// prefix, encrypted (the gateway's disk holds none of their text), and
// /healthz names the engines, and says when the object store is gone.
func TestS3Storage(t *testing.T) {
	t.Parallel()
	s3srv := s3test.StartTLS(t)
	bucket := s3srv.Bucket(t)
	dir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s3srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startDevWith(t, dir, func(c *config.Config) {
		c.Storage = config.Storage{Blobs: "s3", S3: config.S3{Endpoint: s3srv.Endpoint, Bucket: bucket, Prefix: "caucus/",
			AccessKey: s3srv.AccessKey, SecretFile: secretFile, CAFile: s3srv.CAFile}}
	})

	const mailText, fileText = "The list of candidates for Lombardy", "Budget of the autumn campaign"
	anna := newMailAccount(t, srv, "anna@localhost")
	ic, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(anna.login, anna.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "From: anna@localhost\r\nTo: anna@localhost\r\nSubject: list\r\n\r\n" + mailText + "\r\n"
	app := ic.Append("INBOX", int64(len(msg)), nil)
	io.WriteString(app, msg)
	app.Close()
	appended, err := app.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bodySect := &imap.FetchItemBodySection{}
	// By UID: a notice of the new app password may be in INBOX too.
	msgs, err := ic.Fetch(imap.UIDSetNum(appended.UID), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{bodySect}}).Collect()
	if err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(bodySect)) != msg {
		t.Fatalf("FETCH of the appended message: %v, %v", msgs, err)
	}

	secret := newFilesAccount(t, srv, "vol@localhost")
	// Larger than what the file store keeps in its database.
	file := bytes.Repeat([]byte(fileText+"\n"), 2000)
	davDo(t, srv, dir, "PUT", "/dav/Home/budget.txt", secret, file, http.StatusCreated)
	if got := davDo(t, srv, dir, "GET", "/dav/Home/budget.txt", secret, nil, http.StatusOK); !bytes.Equal(got, file) {
		t.Fatalf("WebDAV GET: %d bytes, want %d", len(got), len(file))
	}

	// The operator's view: objects under caucus/mail/ and caucus/files/,
	// none readable.
	owners := map[string]int{}
	filepath.WalkDir(filepath.Join(s3srv.Root, bucket), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(s3srv.Root, bucket), p)
		if parts := strings.Split(rel, string(filepath.Separator)); len(parts) > 2 && parts[0] == "caucus" {
			owners[parts[1]]++
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(mailText)) || bytes.Contains(b, []byte(fileText)) {
			t.Errorf("the object store holds plaintext in %s", rel)
		}
		return nil
	})
	if owners["mail"] == 0 || owners["files"] == 0 {
		t.Errorf("objects by owner: %v; want mail and files", owners)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "mail")); err == nil {
		t.Error("a blob directory was made with blobs = \"s3\"")
	}

	health := func() (int, string) {
		t.Helper()
		c := &http.Client{Timeout: 20 * time.Second}
		res, err := c.Get("http://" + srv.addrs["metrics"] + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := health(); code != http.StatusOK || body != "ok\ndatabase: sqlite ok\nblobs: s3 ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	s3srv.Stop()
	if code, body := health(); code != http.StatusServiceUnavailable || body != "unavailable\ndatabase: sqlite ok\nblobs: s3 unavailable\n" {
		t.Errorf("/healthz with the object store stopped: %d %q", code, body)
	}
}

// TestS3BackupRestore: the scheduled backup of a server whose blobs are in
// S3 holds them (decrypted, inside the backup's own encryption), and a
// restore brings them back as a blob directory: the restored party serves
// its file without the object store.
func TestS3BackupRestore(t *testing.T) {
	t.Parallel()
	s3srv := s3test.Start(t)
	dir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s3srv.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startDevWith(t, dir, func(c *config.Config) {
		c.Storage = config.Storage{Blobs: "s3", S3: config.S3{Endpoint: s3srv.Endpoint, Bucket: s3srv.Bucket(t),
			AccessKey: s3srv.AccessKey, SecretFile: secretFile, InsecureHTTP: true}}
	})
	secret := newFilesAccount(t, srv, "vol@localhost")
	plan := bytes.Repeat([]byte("campaign plan, page after page. "), 4096)
	davDo(t, srv, dir, "PUT", "/dav/Home/plan.txt", secret, plan, http.StatusCreated)

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	svc, err := backup.New(srv.db, backup.Config{DataDir: dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()},
		Keep: 1, Audit: srv.audit, Blobs: srv.blobStores}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backup(t.Context()); err != nil {
		t.Fatal(err)
	}
	s3srv.Stop()
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), dest, "", []age.Identity{id}, restored); err != nil {
		t.Fatal(err)
	}
	srv2 := startDevWith(t, restored, func(*config.Config) {}) // blobs = "dir"
	if got := davDo(t, srv2, restored, "GET", "/dav/Home/plan.txt", secret, nil, http.StatusOK); !bytes.Equal(got, plan) {
		t.Errorf("the restored file: %d bytes, want %d", len(got), len(plan))
	}
}

// TestS3StorageRefused: a server whose object store refuses its secret,
// lacks its bucket, or whose key file is missing does not start, and says
// which key is wrong without showing the secret.
func TestS3StorageRefused(t *testing.T) {
	t.Parallel()
	s3srv := s3test.Start(t)
	bucket := s3srv.Bucket(t)
	secretFile := filepath.Join(t.TempDir(), "s3-secret")
	const wrong = "not-the-secret-Xy7Qz"
	if err := os.WriteFile(secretFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	base := config.S3{Endpoint: s3srv.Endpoint, Bucket: bucket, AccessKey: s3srv.AccessKey, SecretFile: secretFile, InsecureHTTP: true}
	for name, c := range map[string]struct {
		change func(*config.S3)
		key    string
	}{
		"wrong secret":     {func(*config.S3) {}, "storage.s3"},
		"no secret file":   {func(s *config.S3) { s.SecretFile = filepath.Join(t.TempDir(), "none") }, "storage.s3.secret_file"},
		"missing key file": {func(s *config.S3) { s.KeyFile = filepath.Join(t.TempDir(), "blob.key") }, "storage.s3.key_file"},
	} {
		s3c := base
		c.change(&s3c)
		cfg := config.Dev(t.TempDir())
		cfg.Storage = config.Storage{Blobs: "s3", S3: s3c}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfg.Listen = FreeListen(cfg.Listen)
		var logs bytes.Buffer
		srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(&logs, nil)), Out: io.Discard})
		if err == nil {
			srv.Shutdown(t.Context())
			t.Errorf("%s: the server started", name)
			continue
		}
		if !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v; want it to name %s", name, err, c.key)
		}
		if strings.Contains(err.Error()+logs.String(), wrong) {
			t.Errorf("%s: the secret is shown: %v", name, err)
		}
	}
}
