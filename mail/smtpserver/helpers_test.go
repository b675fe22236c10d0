package smtpserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// fakeQueue records what would be sent to other domains.
type fakeQueue struct {
	mu   sync.Mutex
	sent []queued
}

type queued struct {
	from  string
	rcpts []string
	msg   string
}

func (q *fakeQueue) Enqueue(_ context.Context, from string, rcpts []string, r io.Reader) (int64, error) {
	b, _ := io.ReadAll(r)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, queued{from, rcpts, string(b)})
	return int64(len(q.sent)), nil
}

func (q *fakeQueue) all() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.sent...)
}

// fakeInbound refuses or files as junk by the subject, to test the MX's
// handling.
type fakeInbound struct{}

func (fakeInbound) Check(_ context.Context, in InboundMessage) (InboundVerdict, error) {
	if bytes.Contains(in.Message, []byte("Subject: REJECTME")) {
		return InboundVerdict{Reject: "DMARC policy of the sender's domain says reject"}, nil
	}
	junk := bytes.Contains(in.Message, []byte("Subject: JUNKME")) // as DMARC p=quarantine would
	return InboundVerdict{Message: append([]byte("Authentication-Results: test; spf=pass\r\n"), in.Message...), Junk: junk}, nil
}

// envDeps are what a test may change before the servers start: the
// servers' deps and those of the submission service they send through.
type envDeps struct {
	Deps
	Sub    submit.Deps
	SubCfg submit.Config
}

// withSubmitConfig sets the submission service's limits.
func withSubmitConfig(c submit.Config) func(*testEnv, *envDeps) {
	return func(_ *testEnv, d *envDeps) { d.SubCfg = c }
}

type testEnv struct {
	auth    *authtest.Env
	store   *store.Store
	dir     *route.Directory
	queue   *fakeQueue
	submit  *submit.Service
	srv     *Server
	mx, sub string // STARTTLS listeners
	subs    string // implicit TLS
	roots   *x509.CertPool
}

// newEnv starts the servers; opts may complete their deps.
func newEnv(t testing.TB, cfg Config, opts ...func(*testEnv, *envDeps)) *testEnv {
	t.Helper()
	return newEnvLog(t, cfg, slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}), opts...)
}

func newEnvLog(t testing.TB, cfg Config, h slog.Handler, opts ...func(*testEnv, *envDeps)) *testEnv {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), route.Component(), autoreply.Component())
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, err := devcert.Ensure(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	e := &testEnv{auth: a, queue: &fakeQueue{}, roots: devcert.Pool(cert)}
	e.store = store.New(a.DB, blobs, log, store.Options{})
	e.dir = route.New(a.DB, a.Auth, []string{"example-party.org"}, a.Clock.Now)
	cfg.Hostname = "mx.example-party.org"
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	deps := envDeps{
		Deps: Deps{Auth: a.Auth, Inbound: fakeInbound{}, Log: log, Now: a.Clock.Now},
		Sub:  submit.Deps{Store: e.store, Dir: e.dir, Queue: e.queue, Audit: a.Auth.Audit(), Log: log, Now: a.Clock.Now},
	}
	for _, o := range opts {
		o(e, &deps)
	}
	deps.SubCfg.Hostname = cfg.Hostname
	e.submit = submit.New(deps.SubCfg, deps.Sub)
	deps.Submit = e.submit
	e.srv = New(cfg, deps.Deps)
	listen := func(serve func(net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(ln)
		return ln.Addr().String()
	}
	e.mx, e.sub, e.subs = listen(e.srv.ServeMX), listen(e.srv.ServeSubmission), listen(e.srv.ServeSubmissions)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

func (e *testEnv) tls() *tls.Config { return &tls.Config{RootCAs: e.roots, ServerName: "localhost"} }

// dial connects to a STARTTLS port and says EHLO (optionally upgrading).
func (e *testEnv) dial(t *testing.T, addr string, startTLS bool) *gosmtp.Client {
	t.Helper()
	var c *gosmtp.Client
	var err error
	if startTLS {
		c, err = gosmtp.DialStartTLS(addr, e.tls())
	} else {
		c, err = gosmtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// member enrols login and returns it with a mail app password.
type member struct {
	*authtest.User
	secret string
}

func (e *testEnv) member(t testing.TB, login string) *member {
	t.Helper()
	u := e.auth.User(t, login, auth.RoleMember)
	return &member{User: u, secret: e.auth.AppPassword(t, u, "phone", auth.ScopeMail)}
}

// inbox returns the messages in an account's INBOX.
func (e *testEnv) inbox(t *testing.T, accountID int64) []string {
	t.Helper()
	return e.mailbox(t, accountID, "INBOX")
}

// mailbox returns the messages in the account's mailbox name, oldest first.
func (e *testEnv) mailbox(t *testing.T, accountID int64, name string) []string {
	t.Helper()
	ctx := t.Context()
	if err := e.store.EnsureAccount(ctx, accountID); err != nil {
		t.Fatal(err)
	}
	mb, err := e.store.Mailbox(ctx, accountID, name)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.store.UIDs(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.store.Messages(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		r, err := e.store.OpenBody(m.Blob)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		out = append(out, string(b))
	}
	return out
}

func msg(from, to, subject string) string {
	return strings.ReplaceAll("From: "+from+"\nTo: "+to+"\nSubject: "+subject+"\nDate: Mon, 01 Jun 2026 10:00:00 +0000\nMessage-ID: <"+strings.ReplaceAll(subject, " ", ".")+"@client.example>\n\nHello.\n", "\n", "\r\n")
}

var _ = imap.UID(0)
