package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "tia@example.org")

	if n, err := s.RecoveryCodesLeft(ctx, m.ID); err != nil || n != 0 {
		t.Fatalf("RecoveryCodesLeft before = %d, %v", n, err)
	}
	codes, err := s.NewRecoveryCodes(ctx, mustSession(t, s, m.Token), cl)
	if err != nil {
		t.Fatalf("NewRecoveryCodes: %v", err)
	}
	if len(codes) != RecoveryCodeCount || RecoveryCodeCount != 10 {
		t.Fatalf("got %d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		n, ok := normalizeRecoveryCode(c)
		if !ok || len(n) < 16 { // 16 base32 characters: 80 bits ≥ 64
			t.Errorf("code %q normalizes to %q, %v", c, n, ok)
		}
		if seen[n] {
			t.Errorf("code %q repeated", c)
		}
		seen[n] = true
	}
	if n, err := s.RecoveryCodesLeft(ctx, m.ID); err != nil || n != 10 {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 10", n, err)
	}

	second := func() Session {
		t.Helper()
		tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
		if err != nil {
			t.Fatal(err)
		}
		return mustSession(t, s, tok)
	}

	// A code works once, as typed in several ways.
	for i, typed := range []string{
		codes[0],
		strings.ToUpper(codes[1]),
		strings.ReplaceAll(codes[2], "-", ""),
		" " + strings.ReplaceAll(strings.ToUpper(codes[3]), "-", " ") + " ",
	} {
		sess := second()
		full, err := s.VerifyRecoveryCode(ctx, sess, typed, cl)
		if err != nil || full == "" {
			t.Fatalf("VerifyRecoveryCode(%q) = %q, %v", typed, full, err)
		}
		if fs := mustSession(t, s, full); fs.Stage != StageFull {
			t.Errorf("stage after recovery code = %q", fs.Stage)
		}
		if n, _ := s.RecoveryCodesLeft(ctx, m.ID); n != 10-(i+1) {
			t.Errorf("RecoveryCodesLeft = %d, want %d", n, 10-(i+1))
		}
		if _, err := s.VerifyRecoveryCode(ctx, second(), typed, cl); !errors.Is(err, ErrBadCode) {
			t.Errorf("VerifyRecoveryCode(%q) again = %v, want ErrBadCode", typed, err)
		}
	}
	for _, bad := range []string{"", "aaaa-bbbb-cccc-dddd", codes[4][:10], codes[4] + "a", "1111-1111-1111-1111", codes[4] + "\x00"} {
		if _, err := s.VerifyRecoveryCode(ctx, second(), bad, cl); !errors.Is(err, ErrBadCode) {
			t.Errorf("VerifyRecoveryCode(%q) = %v, want ErrBadCode", bad, err)
		}
		forgetFailures(s, m.Login, cl)
	}
	// A full session cannot use recovery codes.
	if _, err := s.VerifyRecoveryCode(ctx, mustSession(t, s, m.Token), codes[5], cl); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("VerifyRecoveryCode(full session) = %v, want ErrSessionInvalid", err)
	}

	// Regenerating needs a fresh sign-in and replaces the old codes.
	clk.Advance(s.Config().StepUpWindow)
	full := mustSession(t, s, m.Token)
	if _, err := s.NewRecoveryCodes(ctx, full, cl); !errors.Is(err, ErrStepUp) {
		t.Errorf("NewRecoveryCodes after step-up window = %v, want ErrStepUp", err)
	}
	if _, err := s.VerifyTOTP(ctx, full, m.code(t, clk), cl); err != nil {
		t.Fatalf("step-up: %v", err)
	}
	fresh, err := s.NewRecoveryCodes(ctx, mustSession(t, s, m.Token), cl)
	if err != nil {
		t.Fatalf("NewRecoveryCodes after step-up: %v", err)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, m.ID); n != 10 {
		t.Errorf("RecoveryCodesLeft after regenerating = %d, want 10", n)
	}
	if _, err := s.VerifyRecoveryCode(ctx, second(), codes[6], cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("old code after regenerating = %v, want ErrBadCode", err)
	}
	if _, err := s.VerifyRecoveryCode(ctx, second(), fresh[0], cl); err != nil {
		t.Errorf("new code = %v", err)
	}
}

func TestRecoveryCodesFirstTimeNeedsNoStepUp(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "uma@example.org")
	clk.Advance(10 * time.Minute)
	if _, err := s.NewRecoveryCodes(ctx, mustSession(t, s, m.Token), cl); err != nil {
		t.Errorf("NewRecoveryCodes (none yet, stale session) = %v", err)
	}
}

func TestNewRecoveryCodeFormat(t *testing.T) {
	t.Parallel()
	for range 100 {
		c := newRecoveryCode()
		if len(c) != 19 || c[4] != '-' || c[9] != '-' || c[14] != '-' || c != strings.ToLower(c) {
			t.Fatalf("newRecoveryCode() = %q", c)
		}
		n, ok := normalizeRecoveryCode(c)
		if !ok || n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("normalizeRecoveryCode(%q) = %q, %v", c, n, ok)
		}
		if _, err := recoveryEncoding.DecodeString(strings.ToUpper(n)); err != nil {
			t.Fatalf("%q is not base32: %v", n, err)
		}
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-ijkl-mnop", "abcdefghijklmnop", true},
		{"ABCD EFGH IJKL MNOP", "abcdefghijklmnop", true},
		{"abcdefghijklmnop", "abcdefghijklmnop", true},
		{"2345-6723-4567-2345", "2345672345672345", true},
		{"abcd-efgh-ijkl-mno", "abcdefghijklmno", false},
		{"abcd-efgh-ijkl-mnop1", "", false}, // '1' is not base32
		{"abcd_efgh_ijkl_mnop", "", false},
		{"", "", false},
	} {
		got, ok := normalizeRecoveryCode(tc.in)
		if ok != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("normalizeRecoveryCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// throttleKeys returns the throttle keys of login for cl.
