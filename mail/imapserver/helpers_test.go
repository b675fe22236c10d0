package imapserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/mail/store"
)

// TestMain runs the package's tests on SQLite and again on PostgreSQL
// (the store's and auth's tables on each engine).
func TestMain(m *testing.M) { dbtest.Main(m) }

// testEnv is an IMAP server on 127.0.0.1 with a real store and auth.
type testEnv struct {
	auth  *authtest.Env
	store *store.Store
	srv   *Server
	imaps string // implicit TLS address
	imap  string // STARTTLS address
	roots *x509.CertPool
	blobs string // the store's blob directory
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	return newEnvLog(t, cfg, slog.NewTextHandler(t.Output(), nil))
}

// newEnvLog is newEnv with the server's log going to h.
func newEnvLog(t testing.TB, cfg Config, h slog.Handler) *testEnv {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component())
	blobDir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := blob.OpenDir(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, err := devcert.Ensure(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	log := slog.New(h)
	e := &testEnv{auth: a, roots: devcert.Pool(cert), blobs: blobDir}
	e.store = store.New(a.DB, blobs, log, store.Options{Changes: cfg.Changes}) // nil: the store's own bus
	e.srv = New(cfg, e.store, a.Auth, log)
	for _, implicit := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serve := e.srv.Serve
		if implicit {
			serve = e.srv.ServeTLS
			e.imaps = ln.Addr().String()
		} else {
			e.imap = ln.Addr().String()
		}
		go serve(ln)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

// member is an enrolled person with a mail app password.
type member struct {
	*authtest.User
	secret string
}

func (e *testEnv) member(t testing.TB, login string) *member {
	t.Helper()
	u := e.auth.User(t, login, auth.RoleMember)
	return &member{User: u, secret: e.auth.AppPassword(t, u, "phone", auth.ScopeMail)}
}

func (e *testEnv) options(h *imapclient.UnilateralDataHandler) *imapclient.Options {
	return &imapclient.Options{
		TLSConfig:             &tls.Config{RootCAs: e.roots, ServerName: "localhost"},
		UnilateralDataHandler: h,
		Dialer:                &net.Dialer{Timeout: 5 * time.Second},
	}
}

// dial connects over implicit TLS.
func (e *testEnv) dial(t *testing.T, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(e.imaps, e.options(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials and signs m in.
func (e *testEnv) login(t *testing.T, m *member, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c := e.dial(t, h)
	if err := c.Login(m.Account.Login, m.secret).Wait(); err != nil {
		t.Fatalf("login %s: %v", m.Account.Login, err)
	}
	return c
}

// message builds a small RFC 5322 message.
func message(from, to, subject, body string) string {
	return strings.ReplaceAll("From: "+from+"\nTo: "+to+"\nSubject: "+subject+"\nDate: Mon, 01 Jun 2026 10:00:00 +0000\nMessage-ID: <"+subject+"@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"+body+"\n", "\n", "\r\n")
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox, msg string, opts *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return data.UID
}

// waitFor polls cond until it holds. The 10 s bound only turns a hang into
// a failure; it is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openConns counts the server's open connections.
func (e *testEnv) openConns() int { return e.srv.conns.Open() }
