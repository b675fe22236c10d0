package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/password"
)

func TestInviteLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()

	tok, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: " Anna@Example.ORG ", DisplayName: "Anna Lind", Role: RoleMember, Groups: []string{"board"}}, cl)
	if err != nil {
		t.Fatalf("CreateInvite: %v", err)
	}
	inv, err := s.PeekInvite(ctx, tok)
	if err != nil {
		t.Fatalf("PeekInvite: %v", err)
	}
	if inv.Account.Login != "anna@example.org" || inv.Account.State != StateInvited || inv.Account.Role != RoleMember {
		t.Errorf("PeekInvite account = %+v", inv.Account)
	}
	if want := testEpoch.Add(72 * time.Hour); !inv.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", inv.ExpiresAt, want)
	}
	if g, _ := s.GroupsOf(ctx, inv.Account.ID); len(g) != 1 || g[0] != "board" {
		t.Errorf("GroupsOf = %v, want [board]", g)
	}

	// Weak passwords are refused and leave the invite usable.
	for _, tc := range []struct {
		pw   string
		want error
	}{
		{"short", password.ErrTooShort},
		{"password1234", password.ErrCommon},
		{"qwertyuiopasdf", password.ErrCommon},
		{"anna-is-my-name-1", password.ErrRelated},
	} {
		if _, err := s.AcceptInvite(ctx, tok, tc.pw, cl); !errors.Is(err, tc.want) {
			t.Errorf("AcceptInvite(%q) = %v, want %v", tc.pw, err, tc.want)
		}
		if _, err := s.PeekInvite(ctx, tok); err != nil {
			t.Errorf("after refused password %q: PeekInvite = %v", tc.pw, err)
		}
	}

	enrol, err := s.AcceptInvite(ctx, tok, testPassword, cl)
	if err != nil {
		t.Fatalf("AcceptInvite: %v", err)
	}
	sess, err := s.Session(ctx, enrol)
	if err != nil {
		t.Fatalf("Session(enrol): %v", err)
	}
	if sess.Stage != StageEnrol || sess.Account.Login != "anna@example.org" || sess.CSRF == "" {
		t.Errorf("enrol session = stage %q account %q csrf %q", sess.Stage, sess.Account.Login, sess.CSRF)
	}
	if _, err := s.AcceptInvite(ctx, tok, testPassword, cl); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("AcceptInvite again = %v, want ErrInviteInvalid", err)
	}
	if _, err := s.PeekInvite(ctx, tok); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("PeekInvite used = %v, want ErrInviteInvalid", err)
	}
}

func TestInviteExpires(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	tok, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: "bo@example.org", DisplayName: "Bo", Role: RoleMember}, cl)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(72*time.Hour - time.Second)
	if _, err := s.PeekInvite(ctx, tok); err != nil {
		t.Fatalf("PeekInvite just before expiry: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := s.PeekInvite(ctx, tok); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("PeekInvite at 72h = %v, want ErrInviteInvalid", err)
	}
	if _, err := s.AcceptInvite(ctx, tok, testPassword, cl); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("AcceptInvite at 72h = %v, want ErrInviteInvalid", err)
	}
}

func TestInviteBadTokens(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	for _, tok := range []string{"", "nope", strings.Repeat("x", 101), strings.Repeat("A", 43)} {
		if _, err := s.PeekInvite(ctx, tok); !errors.Is(err, ErrInviteInvalid) {
			t.Errorf("PeekInvite(%q) = %v, want ErrInviteInvalid", tok, err)
		}
		if _, err := s.AcceptInvite(ctx, tok, testPassword, cl); !errors.Is(err, ErrInviteInvalid) {
			t.Errorf("AcceptInvite(%q) = %v, want ErrInviteInvalid", tok, err)
		}
	}
}

func TestNewEnrolmentLinkInvalidatesOlder(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	tok1, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: "cy@example.org", DisplayName: "Cy", Role: RoleMember}, cl)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := s.PeekInvite(ctx, tok1)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	tok2, err := s.NewEnrolmentLink(ctx, testAdmin, inv.Account.ID, cl)
	if err != nil {
		t.Fatalf("NewEnrolmentLink: %v", err)
	}
	if _, err := s.PeekInvite(ctx, tok1); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("old link after reissue: PeekInvite = %v, want ErrInviteInvalid", err)
	}
	if _, err := s.AcceptInvite(ctx, tok1, testPassword, cl); !errors.Is(err, ErrInviteInvalid) {
		t.Errorf("old link after reissue: AcceptInvite = %v, want ErrInviteInvalid", err)
	}
	if _, err := s.AcceptInvite(ctx, tok2, testPassword, cl); err != nil {
		t.Errorf("new link: AcceptInvite = %v", err)
	}
	if _, err := s.NewEnrolmentLink(ctx, testAdmin, 9999, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("NewEnrolmentLink(unknown) = %v, want ErrNotFound", err)
	}
}

// A reissued link on an enrolled account resets its factors: sessions end,
// app passwords stop working, TOTP is gone and the account enrols again.
func TestEnrolmentLinkResetsFactors(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "dee@example.org")
	secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, m.Token), "phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	conn, release := s.Connect(ctx, g)
	defer release()

	tok, err := s.NewEnrolmentLink(ctx, testAdmin, m.ID, cl)
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := s.AcceptInvite(ctx, tok, "a-whole-new-secret-phrase", cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, m.Token); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("old session after reset: %v, want ErrSessionInvalid", err)
	}
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("app password after reset: %v, want ErrBadCredentials", err)
	}
	if context.Cause(conn) != ErrRevoked {
		t.Errorf("live connection after reset: cause %v, want ErrRevoked", context.Cause(conn))
	}
	if f, _ := s.Factors(ctx, m.ID); len(f) != 0 {
		t.Errorf("factors after reset = %+v, want none", f)
	}
	if sess := mustSession(t, s, enrol); sess.Stage != StageEnrol || sess.Account.State != StateInvited {
		t.Errorf("after reset: stage %q state %q", sess.Stage, sess.Account.State)
	}
	if _, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after reset: %v, want ErrBadCredentials", err)
	}
}

func TestCreateInviteInvalid(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	if _, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: "eve@example.org", DisplayName: "Eve", Role: RoleMember}, cl); err != nil {
		t.Fatal(err)
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			na   NewAccount
			want error
		}{
			{"duplicate", NewAccount{Login: "eve@example.org", DisplayName: "Eve 2", Role: RoleMember}, ErrExists},
			{"duplicate other case", NewAccount{Login: "EVE@example.ORG", DisplayName: "Eve 2", Role: RoleAdmin}, ErrExists},
			{"empty login", NewAccount{Login: "", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"no at", NewAccount{Login: "eve.example.org", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"no domain", NewAccount{Login: "eve@", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"no local part", NewAccount{Login: "@example.org", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"display name form", NewAccount{Login: "Eve <x@example.org>", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"space", NewAccount{Login: "e ve@example.org", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"two addresses", NewAccount{Login: "a@example.org, b@example.org", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"too long", NewAccount{Login: strings.Repeat("a", 250) + "@example.org", DisplayName: "X", Role: RoleMember}, ErrInvalid},
			{"empty name", NewAccount{Login: "f@example.org", DisplayName: "  ", Role: RoleMember}, ErrInvalid},
			{"control in name", NewAccount{Login: "f@example.org", DisplayName: "F\x1b[31m", Role: RoleMember}, ErrInvalid},
			{"bad role", NewAccount{Login: "f@example.org", DisplayName: "F", Role: "root"}, ErrInvalid},
			{"bad group", NewAccount{Login: "f@example.org", DisplayName: "F", Role: RoleMember, Groups: []string{"no spaces"}}, ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if _, err := s.CreateInvite(ctx, testAdmin, tc.na, cl); !errors.Is(err, tc.want) {
					t.Errorf("CreateInvite(%+v) = %v, want %v", tc.na, err, tc.want)
				}
			})
		}
	})
	// Nothing half-created by the refused attempts.
	if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
		t.Errorf("CountAccounts = %d, %v; want 1", n, err)
	}
}
