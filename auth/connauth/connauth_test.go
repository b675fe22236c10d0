package connauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
)

// fakeAuth knows one app password per login, and registers connections
// with a real revocation hub.
type fakeAuth struct {
	hub    *auth.Hub
	secret map[string]string
	ids    map[string]int64
	err    error // returned by every check when set
}

func (f *fakeAuth) AppPassword(ctx context.Context, login, secret string, _ auth.Scope, _ auth.Client) (auth.Grant, error) {
	if f.err != nil {
		return auth.Grant{}, f.err
	}
	if s, ok := f.secret[login]; !ok || s != secret {
		return auth.Grant{}, auth.ErrBadCredentials
	}
	return auth.Grant{Account: auth.Account{ID: f.ids[login], Login: login, State: auth.StateActive}, AppPasswordID: 1}, nil
}

func (f *fakeAuth) Connect(parent context.Context, g auth.Grant) (context.Context, func()) {
	return f.hub.Register(parent, g.Account.ID, auth.AppPasswordCred(g.AppPasswordID), 0)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func setup(t *testing.T, max int) (*connauth.Gate, *fakeAuth, *lockedBuffer) {
	t.Helper()
	f := &fakeAuth{hub: auth.NewHub(), secret: map[string]string{"anna@example.org": "s3cret"}, ids: map[string]int64{"anna@example.org": 7}}
	var logs lockedBuffer
	g := connauth.New(connauth.Config{Proto: "imap", Scope: auth.ScopeMail, MaxConnsPerAccount: max,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}, f)
	return g, f, &logs
}

var addr = netip.MustParseAddr("192.0.2.1")

func TestSignInErrors(t *testing.T) {
	t.Parallel()
	g, f, _ := setup(t, 0)
	c := g.Open(t.Context(), addr)
	defer c.Close()
	if err := c.SignIn("anna@example.org", "wrong", "test", nil); !errors.Is(err, connauth.ErrFailed) {
		t.Errorf("wrong secret: %v, want ErrFailed", err)
	}
	f.err = &auth.ThrottledError{Wait: time.Minute}
	if err := c.SignIn("anna@example.org", "s3cret", "test", nil); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("throttled: %v, want ErrThrottled", err)
	}
	f.err = errors.New("database gone")
	if err := c.SignIn("anna@example.org", "s3cret", "test", nil); !errors.Is(err, connauth.ErrFailed) {
		t.Errorf("internal error: %v, want ErrFailed", err)
	}
	f.err = nil
	if err := c.SignIn("anna@example.org", "s3cret", "test", nil); err != nil {
		t.Fatal(err)
	}
	if c.Account.ID != 7 || !c.SignedIn() {
		t.Errorf("signed in as %+v", c.Account)
	}
	if err := c.SignIn("anna@example.org", "s3cret", "test", nil); !errors.Is(err, connauth.ErrSignedIn) {
		t.Errorf("second sign-in: %v, want ErrSignedIn", err)
	}
}

// TestAccountLimit: the limit refuses the N+1th connection and a closed
// connection gives its slot back (also when closed twice).
func TestAccountLimit(t *testing.T) {
	t.Parallel()
	g, _, _ := setup(t, 2)
	var open []*connauth.Conn
	for range 2 {
		c := g.Open(t.Context(), addr)
		if err := c.SignIn("anna@example.org", "s3cret", "test", nil); err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	third := g.Open(t.Context(), addr)
	defer third.Close()
	if err := third.SignIn("anna@example.org", "s3cret", "test", nil); !errors.Is(err, connauth.ErrTooManyConns) {
		t.Fatalf("third: %v, want ErrTooManyConns", err)
	}
	open[0].Close()
	open[0].Close()
	if err := third.SignIn("anna@example.org", "s3cret", "test", nil); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	fourth := g.Open(t.Context(), addr)
	defer fourth.Close()
	if err := fourth.SignIn("anna@example.org", "s3cret", "test", nil); !errors.Is(err, connauth.ErrTooManyConns) {
		t.Fatalf("a double close gave two slots back: %v", err)
	}
}

// TestContextEnds: a connection's context ends at Shutdown (signed in or
// not), at revocation (cause auth.ErrRevoked, onRevoke called) and at Close.
func TestContextEnds(t *testing.T) {
	t.Parallel()
	g, f, logs := setup(t, 0)
	anon := g.Open(context.Background(), addr)
	in := g.Open(context.Background(), addr)
	revoked := make(chan struct{})
	if err := in.SignIn("anna@example.org", "s3cret", "test", func() { close(revoked) }); err != nil {
		t.Fatal(err)
	}
	f.hub.RevokeAccount(7)
	<-revoked
	if cause := context.Cause(in.Context()); cause != auth.ErrRevoked {
		t.Errorf("revoked: cause %v", cause)
	}
	if anon.Context().Err() != nil {
		t.Fatal("a revocation ended a connection not signed in")
	}
	closed := g.Open(context.Background(), addr)
	closed.Close()
	<-closed.Context().Done()
	if anon.Context().Err() != nil {
		t.Fatal("closing one connection ended another")
	}
	g.Shutdown()
	<-anon.Context().Done()
	late := g.Open(context.Background(), addr)
	<-late.Context().Done()
	for l := range strings.Lines(logs.String()) {
		if !strings.Contains(l, " conn=") || !strings.Contains(l, " addr=192.0.2.1") {
			t.Errorf("log line without conn= and addr=: %s", l)
		}
	}
	if !strings.Contains(logs.String(), "access revoked") {
		t.Errorf("revocation not logged: %s", logs.String())
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	g, _, _ := setup(t, 0)
	a, b := g.Open(t.Context(), addr), g.Open(t.Context(), addr)
	defer a.Close()
	defer b.Close()
	if a.ID == b.ID || a.ID == 0 {
		t.Errorf("ids %d and %d", a.ID, b.ID)
	}
}

// TestSignInBasicAllocations bounds the allocations of a WebDAV request's
// sign-in and its end (SignInBasic, Close) around auth's own: each
// request signs in, so these are per request. They were 44 with a text
// logger (the gate's logger cloned twice, its attributes formatted each
// time, the address as a string, a reaction to a revocation registered on
// the context, two closures); the revocation hub's registration (10) and
// the Authorization header's decoding (2) are counted too.
func TestSignInBasicAllocations(t *testing.T) {
	g, _, logs := setup(t, 0)
	r := httptest.NewRequestWithContext(t.Context(), "GET", "/dav/", nil)
	r.SetBasicAuth("anna@example.org", "s3cret")
	w := httptest.NewRecorder()
	realm := connauth.BasicRealm{Realm: "caucus files"}
	n := testing.AllocsPerRun(200, func() {
		c := g.SignInBasic(w, r, addr, realm)
		if c == nil {
			t.Fatal("refused")
		}
		c.Close()
	})
	const bound = 20
	if n > bound {
		t.Errorf("%v allocations a sign-in, want at most %d", n, bound)
	}
	// The connection's lines still carry it.
	c := g.SignInBasic(w, r, addr, realm)
	c.Log.Info("a request")
	c.Close()
	if l := logs.String(); !strings.Contains(l, "a request") || !strings.Contains(l, " conn=") || !strings.Contains(l, " addr=192.0.2.1") || !strings.Contains(l, " account=anna@example.org") {
		t.Errorf("log line without conn=, addr= and account=: %s", l)
	}
}
