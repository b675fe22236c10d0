package auth

import (
	"errors"
	"github.com/caucus-org/caucus/internal/audit"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPasswordSignInEnrolmentWindow(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	login := "fay@example.org"
	invite(t, s, login, RoleMember)

	// The enrolment session was lost; the password continues enrolment only.
	tok, st, err := s.PasswordSignIn(ctx, login, testPassword, cl)
	if err != nil || st != StageEnrol {
		t.Fatalf("PasswordSignIn in window = %q, %v; want StageEnrol", st, err)
	}
	sess := mustSession(t, s, tok)
	if sess.Stage != StageEnrol {
		t.Errorf("session stage = %q, want enrol", sess.Stage)
	}
	// An enrolment session opens nothing else.
	if _, _, err := s.CreateAppPassword(ctx, sess, "phone", ScopeMail, cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("CreateAppPassword(enrol) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.NewRecoveryCodes(ctx, sess, cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("NewRecoveryCodes(enrol) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.VerifyTOTP(ctx, sess, "123456", cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("VerifyTOTP(enrol) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.VerifyRecoveryCode(ctx, sess, "aaaa-bbbb-cccc-dddd", cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("VerifyRecoveryCode(enrol) = %v, want ErrSessionInvalid", err)
	}
	if err := s.RemoveFactor(ctx, sess, 0, cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("RemoveFactor(enrol) = %v, want ErrSessionInvalid", err)
	}

	// After the invite's 72 hours, a password alone gives nothing.
	clk.Advance(72 * time.Hour)
	if tok, st, err := s.PasswordSignIn(ctx, login, testPassword, cl); !errors.Is(err, ErrNeedsFactor) || tok != "" || st != "" {
		t.Errorf("PasswordSignIn after window = %q, %q, %v; want ErrNeedsFactor", tok, st, err)
	}
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("enrol session after window: %v, want ErrSessionInvalid", err)
	}
}

func TestSecondStageSessionOpensNothing(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "gil@example.org")
	tok, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil || st != StageSecond {
		t.Fatalf("PasswordSignIn = %q, %v", st, err)
	}
	sess := mustSession(t, s, tok)
	if _, _, err := s.CreateAppPassword(ctx, sess, "phone", ScopeMail, cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("CreateAppPassword(second) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.NewRecoveryCodes(ctx, sess, cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("NewRecoveryCodes(second) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.BeginTOTP(ctx, sess); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("BeginTOTP(second) = %v, want ErrSessionInvalid", err)
	}
	if _, err := s.BeginRegistration(ctx, sess, KindPasskey); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("BeginRegistration(second) = %v, want ErrSessionInvalid", err)
	}
	if err := s.RenameFactor(ctx, sess, 0, "x", cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("RenameFactor(second) = %v, want ErrSessionInvalid", err)
	}
	// A second-stage session lives 5 minutes.
	clk.Advance(5 * time.Minute)
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("second-stage session after 5 min: %v, want ErrSessionInvalid", err)
	}
}

// An admin's reset of an enrolled account's factors must not let a password
// alone enrol a new factor, even within the original invite's window.
func TestFactorResetClosesPasswordEnrolment(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "hal@example.org")
	if err := s.RemoveAllFactors(ctx, testAdmin, m.ID, cl); err != nil {
		t.Fatal(err)
	}
	if _, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); !errors.Is(err, ErrNeedsFactor) {
		t.Errorf("PasswordSignIn after factor reset = %q, %v; want ErrNeedsFactor", st, err)
	}
	// The way back is a new enrolment link.
	tok, err := s.NewEnrolmentLink(ctx, testAdmin, m.ID, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptInvite(ctx, tok, "another-fine-pass-phrase", cl); err != nil {
		t.Fatal(err)
	}
	if _, st, err := s.PasswordSignIn(ctx, m.Login, "another-fine-pass-phrase", cl); err != nil || st != StageEnrol {
		t.Errorf("PasswordSignIn after reissue = %q, %v; want StageEnrol", st, err)
	}
}

func TestPasswordSignInThrottled(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ida@example.org")

	// Different addresses, so that only the account key counts.
	free := s.throttle.Config().Free
	for i := range free + 1 {
		c := Client{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})}
		if _, _, err := s.PasswordSignIn(ctx, m.Login, "wrong-password-"+strings.Repeat("x", i), c); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v, want ErrBadCredentials", i+1, err)
		}
	}
	_, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, clOther)
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("right password while throttled = %v, want ErrThrottled", err)
	}
	var te *ThrottledError
	if !errors.As(err, &te) || te.Wait <= 0 {
		t.Errorf("throttled error = %#v, want a *ThrottledError with a wait", err)
	}
	clk.Advance(te.Wait)
	if _, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, clOther); err != nil || st != StageSecond {
		t.Errorf("after waiting: %q, %v", st, err)
	}
}

// Unknown accounts, accounts without a password and wrong passwords answer
// alike, and are throttled alike.
func TestPasswordSignInUnknownLikeKnown(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "jo@example.org")
	// An invited account that has not chosen a password yet.
	if _, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: "kim@example.org", DisplayName: "Kim", Role: RoleMember}, cl); err != nil {
		t.Fatal(err)
	}
	logins := []string{m.Login, "nobody@example.org", "kim@example.org"}
	errs := make([][]error, len(logins))
	for i, login := range logins {
		for n := range 8 {
			_, _, err := s.PasswordSignIn(ctx, login, "not-the-password-1", Client{})
			errs[i] = append(errs[i], err)
			if n < 5 && !errors.Is(err, ErrBadCredentials) {
				t.Errorf("%s attempt %d: %v, want ErrBadCredentials", login, n+1, err)
			}
			if n > 5 && !errors.Is(err, ErrThrottled) {
				t.Errorf("%s attempt %d: %v, want ErrThrottled", login, n+1, err)
			}
		}
	}
	for i := 1; i < len(logins); i++ {
		if !reflect.DeepEqual(errs[0], errs[i]) {
			t.Errorf("errors for %s:\n%v\ndiffer from errors for %s:\n%v", logins[i], errs[i], logins[0], errs[0])
		}
	}
}

func TestPasswordSignInInactive(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "lea@example.org")
	for _, st := range []State{StateSuspended, StateOffboarded} {
		if err := s.SetState(ctx, testAdmin, m.ID, st, cl); err != nil {
			t.Fatalf("SetState(%s): %v", st, err)
		}
		// Issue 12 item 9: the right password of a suspended or departed
		// account is answered exactly like a wrong one (it said "suspended
		// or expired", confirming the password).
		_, _, right := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
		_, _, wrong := s.PasswordSignIn(ctx, m.Login, "wrong-password-xyz", cl)
		if !errors.Is(wrong, ErrBadCredentials) {
			t.Errorf("PasswordSignIn(%s, wrong) = %v, want ErrBadCredentials", st, wrong)
		}
		if !reflect.DeepEqual(right, wrong) {
			t.Errorf("PasswordSignIn(%s): right password %#v, wrong password %#v: they differ", st, right, wrong)
		}
		recs, _ := s.Audit().List(ctx, audit.Filter{Account: m.Login, Kind: "login.password"})
		if len(recs) < 2 || recs[1].Reason != "inactive" {
			t.Errorf("audit of the right password of a %s account: %+v, want reason inactive", st, recs)
		}
	}
	if err := s.SetState(ctx, testAdmin, m.ID, StateActive, cl); err != nil {
		t.Fatal(err)
	}
	m.signIn(t, s, clk)
	if err := s.SetState(ctx, testAdmin, m.ID, StateInvited, cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetState(invited) = %v, want ErrInvalid", err)
	}
	// An account without a factor cannot be made active.
	id, _ := invite(t, s, "max@example.org", RoleMember)
	if err := s.SetState(ctx, testAdmin, id, StateActive, cl); !errors.Is(err, ErrNeedsFactor) {
		t.Errorf("SetState(active) without factor = %v, want ErrNeedsFactor", err)
	}
}

func TestPasswordSignInOversized(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ned@example.org")
	for _, tc := range []struct{ login, pw string }{
		{m.Login, strings.Repeat("p", 1025)},
		{strings.Repeat("l", 255), m.Password},
		{"", ""},
	} {
		if _, _, err := s.PasswordSignIn(ctx, tc.login, tc.pw, cl); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("PasswordSignIn(%d bytes, %d bytes) = %v, want ErrBadCredentials", len(tc.login), len(tc.pw), err)
		}
	}
	// Logins are case- and space-insensitive.
	if _, st, err := s.PasswordSignIn(ctx, "  NED@Example.org ", m.Password, cl); err != nil || st != StageSecond {
		t.Errorf("PasswordSignIn(upper case) = %q, %v", st, err)
	}
}
