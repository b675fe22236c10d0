package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestStepUp(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "vic@example.org")
	full := m.signIn(t, s, clk)

	if _, _, err := s.CreateAppPassword(ctx, mustSession(t, s, full), "laptop", ScopeMail, cl); err != nil {
		t.Fatalf("CreateAppPassword right after sign-in: %v", err)
	}
	clk.Advance(s.Config().StepUpWindow)
	sess := mustSession(t, s, full)
	if s.Fresh(sess) {
		t.Error("Fresh after the step-up window")
	}
	if _, _, err := s.CreateAppPassword(ctx, sess, "tablet", ScopeMail, cl); !errors.Is(err, ErrStepUp) {
		t.Errorf("CreateAppPassword after window = %v, want ErrStepUp", err)
	}
	if err := s.RemoveFactor(ctx, sess, 0, cl); !errors.Is(err, ErrStepUp) {
		t.Errorf("RemoveFactor after window = %v, want ErrStepUp", err)
	}
	if _, err := s.BeginTOTP(ctx, sess); !errors.Is(err, ErrStepUp) {
		t.Errorf("BeginTOTP after window = %v, want ErrStepUp", err)
	}
	if _, err := s.VerifyTOTP(ctx, sess, wrongCode(m.code(t, clk)), cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("step-up with wrong code = %v, want ErrBadCode", err)
	}
	tok, err := s.VerifyTOTP(ctx, sess, m.code(t, clk), cl)
	if err != nil || tok != "" {
		t.Fatalf("step-up VerifyTOTP = %q, %v; want \"\", nil", tok, err)
	}
	sess = mustSession(t, s, full)
	if !s.Fresh(sess) || sess.Stage != StageFull {
		t.Errorf("after step-up: fresh %v, stage %q", s.Fresh(sess), sess.Stage)
	}
	if _, _, err := s.CreateAppPassword(ctx, sess, "tablet", ScopeMail, cl); err != nil {
		t.Errorf("CreateAppPassword after step-up: %v", err)
	}
}

func TestAppPassword(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "wyn@example.org")
	other := enrolMember(t, s, clk, "xan@example.org")
	sess := mustSession(t, s, m.Token)

	secret, info, err := s.CreateAppPassword(ctx, sess, "  Wyn's phone ", ScopeMail, cl)
	if err != nil {
		t.Fatalf("CreateAppPassword: %v", err)
	}
	if info.ID == 0 || info.Name != "Wyn's phone" || info.Scope != ScopeMail || info.CreatedAddr != cl.Addr.String() {
		t.Errorf("info = %+v", info)
	}
	n := normalizeAppPassword(secret)
	raw, err := appPassEncoding.DecodeString(strings.ToUpper(n))
	if err != nil || len(raw)*8 < 128 || len(n)*5 < 128 {
		t.Errorf("secret %q: %d characters, %d bytes, %v; want ≥ 128 bits", secret, len(n), len(raw), err)
	}
	if secret != strings.ToLower(secret) || strings.Count(secret, "-") != len(n)/4-1 {
		t.Errorf("secret %q not in lower-case groups of four", secret)
	}

	g, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl)
	if err != nil {
		t.Fatalf("AppPassword: %v", err)
	}
	if g.Account.ID != m.ID || g.Account.Login != m.Login || g.AppPasswordID != info.ID {
		t.Errorf("grant = %+v", g)
	}

	for _, tc := range []struct {
		name          string
		login, secret string
		scope         Scope
		want          error
	}{
		{"upper case, no dashes", strings.ToUpper(m.Login), strings.ToUpper(strings.ReplaceAll(secret, "-", "")), ScopeMail, nil},
		{"spaces", " " + m.Login, strings.ReplaceAll(secret, "-", " "), ScopeMail, nil},
		{"wrong scope", m.Login, secret, ScopeFiles, ErrScope},
		{"both scopes", m.Login, secret, ScopeMail | ScopeFiles, ErrScope},
		{"account password", m.Login, m.Password, ScopeMail, ErrBadCredentials},
		{"unknown account", "nobody@example.org", secret, ScopeMail, ErrBadCredentials},
		{"other account", other.Login, secret, ScopeMail, ErrBadCredentials},
		{"wrong secret", m.Login, map[bool]string{true: "b", false: "a"}[secret[0] == 'a'] + secret[1:], ScopeMail, ErrBadCredentials},
		{"empty", m.Login, "", ScopeMail, ErrBadCredentials},
		{"huge", m.Login, secret + strings.Repeat(" ", 200), ScopeMail, ErrBadCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) { // not parallel: the failures add up in the throttle
			_, err := s.AppPassword(ctx, tc.login, tc.secret, tc.scope, Client{})
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Errorf("AppPassword = %v, want %v", err, tc.want)
			}
		})
	}

	// The table made six failures for the account: forget them.
	forgetFailures(s, m.Login, Client{})

	// Last use, recorded lazily.
	clk.Advance(time.Minute)
	addr := netip.MustParseAddr("2001:db8::25")
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, Client{Addr: addr}); err != nil {
		t.Fatal(err)
	}
	if err := s.flushAppPasswordUse(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := s.AppPasswords(ctx, m.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("AppPasswords = %+v, %v", list, err)
	}
	if !list[0].LastUsedAt.Equal(clk.Now()) || list[0].LastUsedAddr != addr.String() || !list[0].RevokedAt.IsZero() {
		t.Errorf("AppPasswords[0] = %+v; want last use %v from %v", list[0], clk.Now(), addr)
	}

	// Revocation closes what is open and refuses the secret.
	ctxConn, release := s.Connect(ctx, g)
	defer release()
	if s.Hub().Live(m.ID) != 1 {
		t.Errorf("Live = %d, want 1", s.Hub().Live(m.ID))
	}
	clk.Advance(time.Minute)
	if err := s.RevokeAppPassword(ctx, m.Login, m.ID, info.ID, cl); err != nil {
		t.Fatalf("RevokeAppPassword: %v", err)
	}
	select {
	case <-ctxConn.Done():
	default:
		t.Fatal("connection context not cancelled by RevokeAppPassword")
	}
	if c := context.Cause(ctxConn); c != ErrRevoked {
		t.Errorf("cause = %v, want ErrRevoked", c)
	}
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, Client{}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("AppPassword after revoke = %v, want ErrBadCredentials", err)
	}
	if err := s.RevokeAppPassword(ctx, m.Login, m.ID, info.ID, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeAppPassword again = %v, want ErrNotFound", err)
	}
	if err := s.RevokeAppPassword(ctx, other.Login, other.ID, info.ID, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeAppPassword of another account's id = %v, want ErrNotFound", err)
	}
	list, _ = s.AppPasswords(ctx, m.ID)
	if len(list) != 1 || !list[0].RevokedAt.Equal(clk.Now()) || list[0].RevokedBy != m.Login {
		t.Errorf("AppPasswords after revoke = %+v", list)
	}
}

// The in-memory index is loaded lazily from the database: a service started
// on an existing database accepts the app passwords made before.
func TestAppPasswordCacheLoad(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "yara@example.org")
	sess := mustSession(t, s, m.Token)
	mail, _, err := s.CreateAppPassword(ctx, sess, "phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	both, _, err := s.CreateAppPassword(ctx, sess, "laptop", ScopeMail|ScopeFiles, cl)
	if err != nil {
		t.Fatal(err)
	}
	s.apMu.Lock()
	s.apCache = nil // as after a restart
	s.apMu.Unlock()
	if _, err := s.AppPassword(ctx, m.Login, mail, ScopeMail, Client{}); err != nil {
		t.Errorf("AppPassword(mail) after reload = %v", err)
	}
	for _, sc := range []Scope{ScopeMail, ScopeFiles, ScopeMail | ScopeFiles} {
		if _, err := s.AppPassword(ctx, m.Login, both, sc, Client{}); err != nil {
			t.Errorf("AppPassword(both, %v) after reload = %v", sc, err)
		}
	}
	// Made after the load: works at once.
	files, _, err := s.CreateAppPassword(ctx, sess, "webdav", ScopeFiles, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppPassword(ctx, m.Login, files, ScopeFiles, Client{}); err != nil {
		t.Errorf("AppPassword(files) = %v", err)
	}
	list, _ := s.AppPasswords(ctx, m.ID)
	if len(list) != 3 {
		t.Errorf("AppPasswords = %d, want 3", len(list))
	}
}

func TestCreateAppPasswordInvalid(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "zed@example.org")
	sess := mustSession(t, s, m.Token)
	for _, tc := range []struct {
		name  string
		scope Scope
	}{
		{"", ScopeMail},
		{strings.Repeat("x", 65), ScopeMail},
		{"tab\there", ScopeMail},
		{"phone", 0},
		{"phone", 8},
		{"phone", ScopeAll | 8},
	} {
		if _, _, err := s.CreateAppPassword(ctx, sess, tc.name, tc.scope, cl); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateAppPassword(%q, %d) = %v, want ErrInvalid", tc.name, tc.scope, err)
		}
	}
}

func TestAppPasswordThrottled(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "abe@example.org")
	secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, m.Token), "phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	// Wrong app passwords for one login from one address are slowed down.
	guesser := Client{Addr: netip.MustParseAddr("203.0.113.1")}
	for i := range 6 {
		if _, err := s.AppPassword(ctx, m.Login, "guess-"+strings.Repeat("x", i), ScopeMail, guesser); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d = %v, want ErrBadCredentials", i+1, err)
		}
	}
	var te *ThrottledError
	if _, err := s.AppPassword(ctx, m.Login, "guess-again", ScopeMail, guesser); !errors.As(err, &te) {
		t.Fatalf("7th wrong guess = %v, want ErrThrottled", err)
	}
	// The right one is never refused, from there or anywhere.
	for _, c := range []Client{guesser, cl} {
		if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, c); err != nil {
			t.Errorf("right secret from %v while guesses are throttled = %v", c.Addr, err)
		}
	}

	// One address guessing at many accounts is throttled too, and unknown
	// accounts count like known ones.
	sprayer := Client{Addr: netip.MustParseAddr("2001:db8:1:2::99")}
	for i := range addrFree {
		if _, err := s.AppPassword(ctx, fmt.Sprintf("user%d@example.org", i), "guess", ScopeMail, sprayer); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("spray %d = %v, want ErrBadCredentials", i+1, err)
		}
	}
	// Same /64.
	sprayer.Addr = netip.MustParseAddr("2001:db8:1:2::1")
	if _, err := s.AppPassword(ctx, "one-more@example.org", "guess", ScopeMail, sprayer); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("spray %d = %v, want ErrBadCredentials", addrFree+1, err)
	}
	if _, err := s.AppPassword(ctx, "and-another@example.org", "guess", ScopeMail, sprayer); !errors.Is(err, ErrThrottled) {
		t.Errorf("from a throttled /64 = %v, want ErrThrottled", err)
	}
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, sprayer); err != nil {
		t.Errorf("right secret from a throttled /64 = %v, want accepted", err)
	}
}

func TestNormalizeAppPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"abcd-efgh-ijkl", "abcdefghijkl"},
		{"ABCD EFGH-ijkl", "abcdefghijkl"},
		{"", ""},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{strings.Repeat("a", 129), ""},
	} {
		if got := normalizeAppPassword(tc.in); got != tc.want {
			t.Errorf("normalizeAppPassword(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for range 100 {
		p := newAppPassword()
		if len(p) != 34 || seen[p] {
			t.Fatalf("newAppPassword() = %q", p)
		}
		seen[p] = true
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Scope
		err  error
	}{
		{"mail", ScopeMail, nil},
		{"files", ScopeFiles, nil},
		{"mail+files", ScopeMail | ScopeFiles, nil},
		{"both", ScopeMail | ScopeFiles, nil},
		{"calendar", ScopeCalendar, nil},
		{"mail+calendar", ScopeMail | ScopeCalendar, nil},
		{"calendar+mail", ScopeMail | ScopeCalendar, nil},
		{"all", ScopeAll, nil},
		{"mail+files+calendar", ScopeAll, nil},
		{"", 0, ErrInvalid},
		{"imap", 0, ErrInvalid},
		{"mail+", 0, ErrInvalid},
		{"mail+mail", 0, ErrInvalid},
	} {
		got, err := ParseScope(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseScope(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.err)
		}
		if tc.err == nil && got.String() != map[string]string{"both": "mail+files", "calendar+mail": "mail+calendar", "all": "mail+files+calendar"}[tc.in] && got.String() != tc.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}
