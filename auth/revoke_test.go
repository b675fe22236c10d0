package auth

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
)

// live is a member with everything that revocation must end: two web
// sessions, two app passwords, and three live connections.
type live struct {
	*member
	tokens  []string
	secrets []string
	conns   []context.Context
}

func makeLive(t *testing.T, s *Service, clk *fakeClock, login string) *live {
	t.Helper()
	ctx := t.Context()
	l := &live{member: enrolMember(t, s, clk, login)}
	l.tokens = []string{l.Token, l.signIn(t, s, clk)}
	for _, name := range []string{"phone", "laptop"} {
		secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, l.tokens[1]), name, ScopeMail|ScopeFiles, cl)
		if err != nil {
			t.Fatal(err)
		}
		l.secrets = append(l.secrets, secret)
		g, err := s.AppPassword(ctx, login, secret, ScopeMail, cl)
		if err != nil {
			t.Fatal(err)
		}
		c, release := s.Connect(ctx, g)
		t.Cleanup(release)
		l.conns = append(l.conns, c)
	}
	sess := mustSession(t, s, l.tokens[0])
	c, release := s.Hub().Register(ctx, l.ID, SessionCred(sess.ID), s.Hub().Epoch(l.ID))
	t.Cleanup(release)
	l.conns = append(l.conns, c)
	if n := s.Hub().Live(l.ID); n != 3 {
		t.Fatalf("Live = %d, want 3", n)
	}
	return l
}

// checkRevoked checks that nothing of l works any more.
func (l *live) checkRevoked(t *testing.T, s *Service) {
	t.Helper()
	ctx := t.Context()
	for i, tok := range l.tokens {
		if _, err := s.Session(ctx, tok); !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("session %d after revocation: %v, want ErrSessionInvalid", i, err)
		}
	}
	for i, secret := range l.secrets {
		if _, err := s.AppPassword(ctx, l.Login, secret, ScopeMail, cl); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("app password %d after revocation: %v, want ErrBadCredentials", i, err)
		}
	}
	for i, c := range l.conns {
		if c.Err() == nil || context.Cause(c) != ErrRevoked {
			t.Errorf("connection %d after revocation: err %v, cause %v; want ErrRevoked", i, c.Err(), context.Cause(c))
		}
	}
	if n := s.Hub().Live(l.ID); n != 0 {
		t.Errorf("Live after revocation = %d, want 0", n)
	}
	list, err := s.AppPasswords(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p.RevokedAt.IsZero() {
			t.Errorf("app password %+v not marked revoked", p)
		}
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	l := makeLive(t, s, clk, "bea@example.org")
	bystander := makeLive(t, s, clk, "cal@example.org")

	rep, err := s.Revoke(ctx, testAdmin, l.ID, cl)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if want := (RevokeReport{Sessions: 2, AppPasswords: 2, Connections: 3}); rep != want {
		t.Errorf("RevokeReport = %+v, want %+v", rep, want)
	}
	l.checkRevoked(t, s)
	recs, err := s.Audit().List(ctx, audit.Filter{Kind: "revoke", Account: l.Login})
	if err != nil || len(recs) != 1 || recs[0].Actor != testAdmin || recs[0].Detail != rep.String() {
		t.Errorf("audit records of the revocation = %+v, %v", recs, err)
	}
	// Nothing of the bystander was touched.
	for _, tok := range bystander.tokens {
		mustSession(t, s, tok)
	}
	for _, c := range bystander.conns {
		if c.Err() != nil {
			t.Errorf("bystander's connection cancelled: %v", context.Cause(c))
		}
	}
	// Factors are kept: the person may sign in again.
	l.signIn(t, s, clk)
	// A second revocation has less to do.
	rep, err = s.Revoke(ctx, testAdmin, l.ID, cl)
	if want := (RevokeReport{Sessions: 1}); err != nil || rep != want {
		t.Errorf("second Revoke = %+v, %v; want %+v", rep, err, want)
	}
	if _, err := s.Revoke(ctx, testAdmin, 12345, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
}

func TestSuspend(t *testing.T) {
	t.Parallel()
	for _, st := range []State{StateSuspended, StateOffboarded} {
		t.Run(string(st), func(t *testing.T) {
			t.Parallel()
			s, clk := newTestService(t)
			ctx := t.Context()
			l := makeLive(t, s, clk, "dan@example.org")
			if err := s.SetState(ctx, testAdmin, l.ID, st, cl); err != nil {
				t.Fatalf("SetState: %v", err)
			}
			l.checkRevoked(t, s)
			if _, _, err := s.PasswordSignIn(ctx, l.Login, l.Password, cl); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("PasswordSignIn = %v, want ErrBadCredentials (as a wrong password)", err)
			}
			recs, _ := s.Audit().List(ctx, audit.Filter{Account: l.Login, Kind: "account.state"})
			if len(recs) != 1 || recs[0].Detail != "active -> "+string(st) {
				t.Errorf("account.state records = %+v", recs)
			}
			a, _ := s.Account(ctx, l.ID)
			if a.State != st {
				t.Errorf("state = %q, want %q", a.State, st)
			}
		})
	}
}

// An app password made with a session that was revoked after it was read
// must not outlive the revocation.
func TestCreateAppPasswordRacingRevoke(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "eli@example.org")
	// Load the index, as a running server has.
	if _, err := s.AppPassword(ctx, m.Login, "x", ScopeMail, Client{}); !errors.Is(err, ErrBadCredentials) {
		t.Fatal(err)
	}
	sess := mustSession(t, s, m.Token) // the request reads its session…
	if _, err := s.Revoke(ctx, testAdmin, m.ID, cl); err != nil {
		t.Fatal(err)
	}
	// … and goes on after the admin's revocation.
	secret, _, err := s.CreateAppPassword(ctx, sess, "phone", ScopeMail, cl)
	if !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("CreateAppPassword with a revoked session = %v, want ErrSessionInvalid", err)
	}
	if secret != "" {
		if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, Client{}); err == nil {
			t.Errorf("app password made after the revocation works")
		}
	}
}

func TestExpiredAccountRefused(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	exp := testEpoch.Add(48 * time.Hour)
	tok, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: "fin@example.org", DisplayName: "Fin", Role: RoleMember, ExpiresAt: exp}, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptInvite(ctx, tok, testPassword, cl); err != nil {
		t.Fatal(err)
	}
	keep := makeLive(t, s, clk, "hew@example.org")
	a, _ := s.AccountByLogin(ctx, "fin@example.org")
	if !a.ExpiresAt.Equal(exp) {
		t.Errorf("ExpiresAt = %v, want %v", a.ExpiresAt, exp)
	}
	if _, _, err := s.PasswordSignIn(ctx, "fin@example.org", testPassword, cl); err != nil {
		t.Errorf("PasswordSignIn(before expiry) = %v", err)
	}
	clk.Advance(48 * time.Hour)
	// Expired accounts stop signing in at once, before any sweep suspends them.
	if _, _, err := s.PasswordSignIn(ctx, "fin@example.org", testPassword, cl); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("PasswordSignIn(expired) = %v, want ErrBadCredentials (as a wrong password)", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, keep.Login, testPassword, cl); err != nil {
		t.Errorf("PasswordSignIn(never expires) = %v", err)
	}
}

func TestHub(t *testing.T) {
	t.Parallel()
	h := NewHub()
	ctx := t.Context()
	const acct, other = 1, 2

	e0 := h.Epoch(acct)
	a, releaseA := h.Register(ctx, acct, AppPasswordCred(1), e0)
	b, releaseB := h.Register(ctx, acct, AppPasswordCred(2), e0)
	o, releaseO := h.Register(ctx, other, AppPasswordCred(1), h.Epoch(other))
	defer releaseA()
	defer releaseB()
	defer releaseO()
	if h.Live(acct) != 2 || h.Live(other) != 1 {
		t.Fatalf("Live = %d, %d; want 2, 1", h.Live(acct), h.Live(other))
	}

	if n := h.RevokeCredential(acct, ""); n != 0 {
		t.Errorf("RevokeCredential(\"\") = %d, want 0", n)
	}
	if n := h.RevokeCredential(acct, AppPasswordCred(1)); n != 1 {
		t.Errorf("RevokeCredential = %d, want 1", n)
	}
	if context.Cause(a) != ErrRevoked || b.Err() != nil || o.Err() != nil {
		t.Errorf("after RevokeCredential: a %v, b %v, other %v", context.Cause(a), b.Err(), o.Err())
	}
	if h.Epoch(acct) == e0 {
		t.Error("epoch did not change with a revocation")
	}
	// A check that read the epoch before the revocation is cancelled on arrival.
	late, releaseLate := h.Register(ctx, acct, AppPasswordCred(3), e0)
	defer releaseLate()
	if context.Cause(late) != ErrRevoked {
		t.Errorf("Register with an old epoch: cause %v, want ErrRevoked", context.Cause(late))
	}
	if h.Live(acct) != 1 {
		t.Errorf("Live = %d, want 1", h.Live(acct))
	}

	if n := h.RevokeAccount(acct); n != 1 || context.Cause(b) != ErrRevoked || o.Err() != nil {
		t.Errorf("RevokeAccount = %d; b %v, other %v", n, context.Cause(b), o.Err())
	}

	// Release ends the context with Canceled, not ErrRevoked, and is idempotent.
	releaseO()
	releaseO()
	if context.Cause(o) != context.Canceled || h.Live(other) != 0 {
		t.Errorf("after release: cause %v, Live %d", context.Cause(o), h.Live(other))
	}
	// A parent's end reaches the connection.
	pctx, cancel := context.WithCancel(ctx)
	c, release := h.Register(pctx, other, SessionCred(7), h.Epoch(other))
	defer release()
	cancel()
	if c.Err() == nil {
		t.Error("parent cancel did not reach the connection")
	}
}

func TestHubConcurrent(t *testing.T) {
	t.Parallel()
	h := NewHub()
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				acct := int64(i % 3)
				c, release := h.Register(ctx, acct, AppPasswordCred(int64(g)), h.Epoch(acct))
				if i%5 == 0 {
					h.RevokeCredential(acct, AppPasswordCred(int64(g)))
				}
				if i%7 == 0 {
					h.RevokeAccount(acct)
				}
				_ = c.Err()
				release()
			}
		})
	}
	wg.Wait()
	for acct := range int64(3) {
		if n := h.Live(acct); n != 0 {
			t.Errorf("Live(%d) = %d after every release", acct, n)
		}
	}
}

// Revocation racing with app-password checks: once Revoke has returned and
// the checks that overlapped it have registered, nothing stays open.
func TestRevokeRacingAppPassword(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t, withLog(io.Discard))
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ivy@example.org")
	for round := range 30 {
		sess := m.signIn(t, s, clk)
		secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, sess), "phone", ScopeMail, cl)
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			conns []context.Context
			stop  = make(chan struct{})
		)
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					g, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, Client{})
					if err != nil {
						return
					}
					c, _ := s.Connect(ctx, g) // never released: the connection stays "open"
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Millisecond)
		if _, err := s.Revoke(ctx, testAdmin, m.ID, cl); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		for i, c := range conns {
			if c.Err() == nil {
				t.Fatalf("round %d: connection %d of %d still open after Revoke", round, i, len(conns))
			}
		}
		forgetFailures(s, m.Login, cl)
	}
}

// recordingRevocations is a Revocations other than the Hub: it passes
// every call on to a Hub and records it, as a multi-node implementation
// would pass them on to the other nodes.
type recordingRevocations struct {
	*Hub
	mu    sync.Mutex
	calls []string
}

func (r *recordingRevocations) record(call string) {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
}

// take forgets the calls so far and returns how many were call.
func (r *recordingRevocations) take(call string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == call {
			n++
		}
	}
	r.calls = nil
	return n
}

func (r *recordingRevocations) Register(parent context.Context, accountID int64, cred string, epoch uint64) (context.Context, func()) {
	r.record("register")
	return r.Hub.Register(parent, accountID, cred, epoch)
}

func (r *recordingRevocations) RevokeAccount(accountID int64) int {
	r.record("revoke account")
	return r.Hub.RevokeAccount(accountID)
}

func (r *recordingRevocations) RevokeCredential(accountID int64, cred string) int {
	r.record("revoke credential")
	return r.Hub.RevokeCredential(accountID, cred)
}

// TestRevocationsDoor: a Service given its own Revocations registers
// connections and revokes access only through it, so that another
// implementation (several nodes) can take the Hub's place.
func TestRevocationsDoor(t *testing.T) {
	t.Parallel()
	revs := &recordingRevocations{Hub: NewHub()}
	s, clk := newTestService(t, withRevocations(revs))
	if s.Hub() != Revocations(revs) {
		t.Fatalf("Hub() = %T, want the Revocations given in Deps", s.Hub())
	}
	l := makeLive(t, s, clk, "eve@example.org")
	if n := revs.Hub.Live(l.ID); n != 3 {
		t.Fatalf("connections registered with the given Revocations = %d, want 3", n)
	}
	if n := revs.take("register"); n != 3 {
		t.Errorf("Register called %d times through the door, want 3", n)
	}
	// Revoking one app password goes through the door too.
	list, err := s.AppPasswords(t.Context(), l.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("AppPasswords = %v, %v", list, err)
	}
	if err := s.RevokeAppPassword(t.Context(), testAdmin, l.ID, list[0].ID, cl); err != nil {
		t.Fatalf("RevokeAppPassword: %v", err)
	}
	if _, err := s.Revoke(t.Context(), testAdmin, l.ID, cl); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	l.checkRevoked(t, s)
	revs.mu.Lock()
	defer revs.mu.Unlock()
	want := []string{"revoke credential", "revoke account"}
	if !slices.Equal(revs.calls, want) {
		t.Errorf("calls through the door %q, want %q", revs.calls, want)
	}
}
