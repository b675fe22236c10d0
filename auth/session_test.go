package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "jan@example.org")
	clk.Advance(29 * time.Minute)
	sess := mustSession(t, s, m.Token) // touches it
	if !sess.LastSeen.Equal(clk.Now()) {
		t.Errorf("LastSeen = %v, want %v", sess.LastSeen, clk.Now())
	}
	clk.Advance(29 * time.Minute)
	mustSession(t, s, m.Token)
	clk.Advance(31 * time.Minute)
	if _, err := s.Session(ctx, m.Token); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("Session after 31 idle minutes = %v, want ErrSessionInvalid", err)
	}
	// Gone for good, not only refused.
	if list, _ := s.Sessions(ctx, m.ID); len(list) != 0 {
		t.Errorf("Sessions = %+v, want none", list)
	}
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "kai@example.org")
	start := clk.Now()
	for clk.Now().Sub(start) < 12*time.Hour-20*time.Minute {
		clk.Advance(20 * time.Minute)
		if _, err := s.Session(ctx, m.Token); err != nil {
			t.Fatalf("Session after %v of use: %v", clk.Now().Sub(start), err)
		}
	}
	clk.Advance(20 * time.Minute)
	if d := clk.Now().Sub(start); d != 12*time.Hour {
		t.Fatalf("at %v, want 12h", d)
	}
	if _, err := s.Session(ctx, m.Token); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("Session at 12h = %v, want ErrSessionInvalid", err)
	}
}

func TestSessionBadTokens(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	for _, tok := range []string{"", "x", strings.Repeat("a", 101), "\x00\xff"} {
		if _, err := s.Session(t.Context(), tok); !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("Session(%q) = %v, want ErrSessionInvalid", tok, err)
		}
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "lou@example.org")
	other := m.signIn(t, s, clk)
	if err := s.SignOut(ctx, m.Token, cl); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if _, err := s.Session(ctx, m.Token); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("after SignOut: %v, want ErrSessionInvalid", err)
	}
	mustSession(t, s, other) // the other session is untouched
	if err := s.SignOut(ctx, m.Token, cl); err != nil {
		t.Errorf("SignOut twice = %v, want nil", err)
	}
	if err := s.SignOut(ctx, "garbage", cl); err != nil {
		t.Errorf("SignOut(garbage) = %v, want nil", err)
	}
}

func TestSessionsAndEndSession(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "mo@example.org")
	bystander := enrolMember(t, s, clk, "nia@example.org")
	tokens := []string{m.Token}
	for range 2 {
		clk.Advance(time.Minute)
		tokens = append(tokens, m.signIn(t, s, clk))
	}
	list, err := s.Sessions(ctx, m.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("Sessions = %+v, %v; want 3", list, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i].LastSeen.After(list[i-1].LastSeen) {
			t.Errorf("Sessions not newest first: %v after %v", list[i].LastSeen, list[i-1].LastSeen)
		}
	}
	if list[0].Stage != StageFull || list[0].Addr != cl.Addr.String() || list[0].UserAgent != cl.UserAgent {
		t.Errorf("Sessions[0] = %+v", list[0])
	}

	// A connection bound to each session.
	conns := map[string]context.Context{}
	for _, tok := range tokens {
		sess := mustSession(t, s, tok)
		c, release := s.Hub().Register(ctx, m.ID, SessionCred(sess.ID), s.Hub().Epoch(m.ID))
		t.Cleanup(release)
		conns[tok] = c
	}
	// One app-password connection, which ending sessions must not touch.
	secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, tokens[2]), "phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	appConn, release := s.Connect(ctx, g)
	defer release()

	one := mustSession(t, s, tokens[0])
	n, err := s.EndSession(ctx, testAdmin, m.ID, one.ID, cl)
	if err != nil || n != 1 {
		t.Errorf("EndSession(one) = %d, %v; want 1", n, err)
	}
	if _, err := s.Session(ctx, tokens[0]); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("ended session: %v, want ErrSessionInvalid", err)
	}
	if context.Cause(conns[tokens[0]]) != ErrRevoked || conns[tokens[1]].Err() != nil {
		t.Errorf("after EndSession(one): its conn %v, another %v", context.Cause(conns[tokens[0]]), conns[tokens[1]].Err())
	}
	// Another account's session id ends nothing.
	bs := mustSession(t, s, bystander.Token)
	if n, err := s.EndSession(ctx, testAdmin, m.ID, bs.ID, cl); err != nil || n != 0 {
		t.Errorf("EndSession(other's id) = %d, %v; want 0", n, err)
	}
	mustSession(t, s, bystander.Token)

	n, err = s.EndSession(ctx, testAdmin, m.ID, 0, cl)
	if err != nil || n != 2 {
		t.Errorf("EndSession(all) = %d, %v; want 2", n, err)
	}
	for i, tok := range tokens {
		if _, err := s.Session(ctx, tok); !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("session %d after EndSession(all): %v", i, err)
		}
		if context.Cause(conns[tok]) != ErrRevoked {
			t.Errorf("conn of session %d after EndSession(all): %v", i, context.Cause(conns[tok]))
		}
	}
	if appConn.Err() != nil {
		t.Errorf("app-password connection ended by EndSession: %v", context.Cause(appConn))
	}
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl); err != nil {
		t.Errorf("app password after EndSession = %v", err)
	}
	if list, _ := s.Sessions(ctx, m.ID); len(list) != 0 {
		t.Errorf("Sessions after EndSession(all) = %d", len(list))
	}
	if _, err := s.EndSession(ctx, testAdmin, 999, 0, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("EndSession(unknown account) = %v, want ErrNotFound", err)
	}
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "oz@example.org")
	if _, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BeginPasskeySignIn(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.Cleanup(ctx); err != nil || count("sessions") != 2 || count("ceremonies") != 1 {
		t.Fatalf("Cleanup at once: %v; sessions %d, ceremonies %d", err, count("sessions"), count("ceremonies"))
	}
	clk.Advance(6 * time.Minute) // the second-stage session and the ceremony expire
	if err := s.Cleanup(ctx); err != nil || count("sessions") != 1 || count("ceremonies") != 0 {
		t.Errorf("Cleanup after 6 min: %v; sessions %d, ceremonies %d", err, count("sessions"), count("ceremonies"))
	}
	clk.Advance(30 * time.Minute) // idle
	if err := s.Cleanup(ctx); err != nil || count("sessions") != 0 {
		t.Errorf("Cleanup after idle: %v; sessions %d", err, count("sessions"))
	}
}

// A session-bound connection whose check read the epoch before EndSession
// ended all sessions is cancelled when it registers, as after Revoke.
func TestEndSessionAllRacingRegister(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "pip@example.org")
	epoch := s.Hub().Epoch(m.ID)
	sess := mustSession(t, s, m.Token) // the request checked its session…
	if _, err := s.EndSession(ctx, testAdmin, m.ID, 0, cl); err != nil {
		t.Fatal(err)
	}
	c, release := s.Hub().Register(ctx, m.ID, SessionCred(sess.ID), epoch) // … and registers after
	defer release()
	if context.Cause(c) != ErrRevoked {
		t.Errorf("connection registered after EndSession(all): cause %v, want ErrRevoked", context.Cause(c))
	}
}

func TestFreshWebAuthn(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	m := enrolMember(t, s, clk, "tess@example.org")
	// A TOTP sign-in is fresh, but not a WebAuthn proof.
	sess := mustSession(t, s, m.signIn(t, s, clk))
	if sess.Method != MethodTOTP || !s.Fresh(sess) || s.FreshWebAuthn(sess) {
		t.Errorf("after TOTP: Method %q, Fresh %v, FreshWebAuthn %v; want totp, true, false", sess.Method, s.Fresh(sess), s.FreshWebAuthn(sess))
	}
	// A session made by a WebAuthn sign-in is, until the step-up window ends.
	web := mustSession(t, s, fullSession(t, s, m.ID))
	if web.Method != MethodWebAuthn || !s.FreshWebAuthn(web) {
		t.Errorf("after WebAuthn: Method %q, FreshWebAuthn %v; want webauthn, true", web.Method, s.FreshWebAuthn(web))
	}
	clk.Advance(s.Config().StepUpWindow)
	if web := mustSession(t, s, fullSession(t, s, m.ID)); !s.FreshWebAuthn(web) {
		t.Error("a new WebAuthn session is not fresh")
	}
	if s.FreshWebAuthn(web) {
		t.Error("FreshWebAuthn still true after the step-up window")
	}
	// A TOTP step-up in a WebAuthn session makes it a TOTP one.
	tok := fullSession(t, s, m.ID)
	if _, err := s.VerifyTOTP(t.Context(), mustSession(t, s, tok), m.code(t, clk), cl); err != nil {
		t.Fatal(err)
	}
	if sess := mustSession(t, s, tok); sess.Method != MethodTOTP || s.FreshWebAuthn(sess) {
		t.Errorf("after a TOTP step-up: Method %q, FreshWebAuthn %v; want totp, false", sess.Method, s.FreshWebAuthn(sess))
	}
}

// ConnectSession: a browser transfer's context ends when its session is
// signed out, and one that registers after the session ended is cancelled
// on arrival.
func TestConnectSession(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "quin@example.org")
	sess := mustSession(t, s, m.Token)
	c, release := s.ConnectSession(ctx, sess)
	defer release()
	if c.Err() != nil {
		t.Fatalf("live session: %v", context.Cause(c))
	}
	if _, err := s.EndSession(ctx, testAdmin, m.ID, sess.ID, cl); err != nil {
		t.Fatal(err)
	}
	if context.Cause(c) != ErrRevoked {
		t.Errorf("after sign-out: cause %v, want ErrRevoked", context.Cause(c))
	}
	late, release2 := s.ConnectSession(ctx, sess) // the request had checked the session before
	defer release2()
	if context.Cause(late) != ErrRevoked {
		t.Errorf("registering after sign-out: cause %v, want ErrRevoked", context.Cause(late))
	}
}
