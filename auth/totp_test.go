package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// wrongCode returns a well-formed code that differs from right.
func wrongCode(right string) string {
	var n int
	fmt.Sscan(right, &n)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	id, enrol := invite(t, s, "olga@example.org", RoleMember)
	sess := mustSession(t, s, enrol)

	if _, err := s.FinishTOTP(ctx, sess, "123456", cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishTOTP before BeginTOTP = %v, want ErrInvalid", err)
	}
	key, err := s.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	if key.AccountName() != "olga@example.org" || key.Issuer() != "caucus" || key.Period() != 30 || key.Digits() != otp.DigitsSix {
		t.Errorf("key = %s", key.URL())
	}
	if len(key.Secret()) != 32 { // 20 bytes in base32
		t.Errorf("secret %q has %d characters, want 32", key.Secret(), len(key.Secret()))
	}
	sess = mustSession(t, s, enrol) // the session now holds the ceremony
	pending, err := s.PendingTOTP(sess)
	if err != nil || pending.Secret() != key.Secret() {
		t.Fatalf("PendingTOTP = %v, %v; want the begun key", pending, err)
	}

	right := totpCode(t, key.Secret(), clk.Now())
	for _, bad := range []string{wrongCode(right), "", "12345", "1234567", "abcdef", "+12345", "-12345"} {
		if _, err := s.FinishTOTP(ctx, sess, bad, cl); !errors.Is(err, ErrBadCode) {
			t.Errorf("FinishTOTP(%q) = %v, want ErrBadCode", bad, err)
		}
	}
	if f, _ := s.Factors(ctx, id); len(f) != 0 {
		t.Errorf("factors after wrong codes = %+v", f)
	}
	// The wrong codes count against the account in the throttle.
	if w, _ := s.wait(s.keysFor(credCode, "olga@example.org", cl)); w <= 0 {
		t.Errorf("throttle wait after 7 wrong enrolment codes = %v, want > 0", w)
	}
	forgetFailures(s, "olga@example.org", cl)
	full, err := s.FinishTOTP(ctx, sess, right, cl)
	if err != nil || full == "" {
		t.Fatalf("FinishTOTP = %q, %v", full, err)
	}
	fs := mustSession(t, s, full)
	if fs.Stage != StageFull || fs.Account.State != StateActive {
		t.Errorf("after enrolment: stage %q state %q", fs.Stage, fs.Account.State)
	}
	if !fs.Account.LastLoginAt.Equal(clk.Now()) {
		t.Errorf("LastLoginAt = %v, want %v", fs.Account.LastLoginAt, clk.Now())
	}
	if _, err := s.Session(ctx, enrol); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("enrol token after enrolment: %v, want ErrSessionInvalid (tokens change on sign-in)", err)
	}
	f, err := s.Factors(ctx, id)
	if err != nil || len(f) != 1 || f[0].Kind != KindTOTP || f[0].Name != "Authenticator app" || !f[0].CreatedAt.Equal(clk.Now()) {
		t.Errorf("Factors = %+v, %v", f, err)
	}
	// The code that finished enrolment cannot be used again.
	tok, _, err := s.PasswordSignIn(ctx, "olga@example.org", testPassword, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), right, cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("VerifyTOTP(enrolment code) = %v, want ErrBadCode", err)
	}
}

func TestTOTPAdminNeedsWebAuthn(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	_, enrol := invite(t, s, "root@example.org", RoleAdmin)
	if _, err := s.BeginTOTP(ctx, mustSession(t, s, enrol)); !errors.Is(err, ErrNeedWebAuthn) {
		t.Errorf("BeginTOTP(admin enrol) = %v, want ErrNeedWebAuthn", err)
	}
}

func TestTOTPSignIn(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "pia@example.org")

	tok, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil || st != StageSecond {
		t.Fatalf("PasswordSignIn = %q, %v; want StageSecond", st, err)
	}
	sess := mustSession(t, s, tok)
	code := m.code(t, clk)
	if _, err := s.VerifyTOTP(ctx, sess, wrongCode(code), cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("VerifyTOTP(wrong) = %v, want ErrBadCode", err)
	}
	full, err := s.VerifyTOTP(ctx, sess, code, cl)
	if err != nil || full == "" {
		t.Fatalf("VerifyTOTP = %q, %v", full, err)
	}
	if fs := mustSession(t, s, full); fs.Stage != StageFull {
		t.Errorf("stage = %q, want full", fs.Stage)
	}
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("second-stage token after sign-in: %v, want ErrSessionInvalid", err)
	}

	// Replay of the same code, in a new sign-in, within its step.
	tok2, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	sess2 := mustSession(t, s, tok2)
	if _, err := s.VerifyTOTP(ctx, sess2, code, cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("VerifyTOTP(replayed code) = %v, want ErrBadCode", err)
	}
	// The next step's code works.
	clk.Advance(30 * time.Second)
	if _, err := s.VerifyTOTP(ctx, sess2, totpCode(t, m.Secret, clk.Now()), cl); err != nil {
		t.Errorf("VerifyTOTP(next step) = %v", err)
	}
}

// A code of a step before the newest one used is refused even though it lies
// within the skew.
func TestTOTPOlderStepAfterNewer(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "quin@example.org")
	clk.Advance(90 * time.Second)
	tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	sess := mustSession(t, s, tok)
	// The phone runs 30 s ahead: its code is accepted…
	if _, err := s.VerifyTOTP(ctx, sess, totpCode(t, m.Secret, clk.Now().Add(30*time.Second)), cl); err != nil {
		t.Fatalf("VerifyTOTP(+1 step) = %v", err)
	}
	// …and then the current step's code is not: it is older.
	tok, _, err = s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), totpCode(t, m.Secret, clk.Now()), cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("VerifyTOTP(older step) = %v, want ErrBadCode", err)
	}
}

func TestTOTPSkewViaService(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-60 * time.Second, false},
		{-30 * time.Second, true},
		{0, true},
		{30 * time.Second, true},
		{60 * time.Second, false},
	} {
		t.Run(tc.offset.String(), func(t *testing.T) {
			t.Parallel()
			s, clk := newTestService(t)
			ctx := t.Context()
			m := enrolMember(t, s, clk, "rae@example.org")
			clk.Advance(5 * time.Minute)
			tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.VerifyTOTP(ctx, mustSession(t, s, tok), totpCode(t, m.Secret, clk.Now().Add(tc.offset)), cl)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrBadCode) {
				t.Errorf("VerifyTOTP(offset %v) = %v, want ok=%v", tc.offset, err, tc.ok)
			}
		})
	}
}

func TestMatchTOTP(t *testing.T) {
	t.Parallel()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "caucus", AccountName: "x@example.org", SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	secret := key.Secret()
	now := testEpoch.Add(17 * time.Second) // within a step, not at its start
	cur := now.Unix() / totpPeriod
	code := func(d time.Duration) string { return totpCode(t, secret, now.Add(d)) }
	for _, tc := range []struct {
		name     string
		code     string
		lastStep int64
		step     int64
		ok       bool
	}{
		{"now", code(0), 0, cur, true},
		{"now with spaces", " " + code(0)[:3] + " " + code(0)[3:] + " ", 0, cur, true},
		{"-1 step", code(-30 * time.Second), 0, cur - 1, true},
		{"+1 step", code(30 * time.Second), 0, cur + 1, true},
		{"-2 steps", code(-60 * time.Second), 0, 0, false},
		{"+2 steps", code(60 * time.Second), 0, 0, false},
		{"now, step used", code(0), cur, 0, false},
		{"now, earlier step used", code(0), cur - 1, cur, true},
		{"-1 step, that step used", code(-30 * time.Second), cur - 1, 0, false},
		{"+1 step, now used", code(30 * time.Second), cur, cur + 1, true},
		{"+1 step, that step used", code(30 * time.Second), cur + 1, 0, false},
		{"wrong", wrongCode(code(0)), 0, 0, false},
		{"short", code(0)[:5], 0, 0, false},
		{"long", code(0) + "0", 0, 0, false},
		{"letters", "abcdef", 0, 0, false},
		{"sign", "+" + code(0)[1:], 0, 0, false},
		{"empty", "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			step, ok := matchTOTP(secret, tc.code, now, tc.lastStep)
			if ok != tc.ok || step != tc.step {
				t.Errorf("matchTOTP(%q, last %d) = %d, %v; want %d, %v", tc.code, tc.lastStep, step, ok, tc.step, tc.ok)
			}
		})
	}
}

func TestTOTPThrottled(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "sam@example.org")
	tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	sess := mustSession(t, s, tok)
	right := m.code(t, clk)
	for i := range s.throttle.Config().Free + 1 {
		if _, err := s.VerifyTOTP(ctx, sess, wrongCode(right), cl); !errors.Is(err, ErrBadCode) {
			t.Fatalf("wrong code %d: %v, want ErrBadCode", i+1, err)
		}
	}
	if _, err := s.VerifyTOTP(ctx, sess, right, cl); !errors.Is(err, ErrThrottled) {
		t.Errorf("right code while throttled = %v, want ErrThrottled", err)
	}
	clk.Advance(2 * time.Second)
	if _, err := s.VerifyTOTP(ctx, sess, right, cl); err != nil {
		t.Errorf("right code after the wait = %v", err)
	}
}
