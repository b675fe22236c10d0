package auth

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFinishPasskeySignIn feeds arbitrary bodies to a live passkey ceremony.
// Nothing but a real assertion may sign in, and nothing may panic.
func FuzzFinishPasskeySignIn(f *testing.F) {
	s, clk := newTestService(f, withLog(io.Discard))
	ctx := f.Context()
	m := enrolMember(f, s, clk, "fuzz@example.org")
	_, credID := addFakeCredential(f, s, m.ID, KindPasskey)
	a, err := s.Account(ctx, m.ID)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range garbageBodies() {
		if len(b) < 1000 {
			f.Add(b)
		}
	}
	f.Add(plausibleAssertion(credID, a.webauthnID))
	f.Add(plausibleAssertion(credID, nil))
	f.Add(plausibleAssertion([]byte{0}, []byte{0}))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, cer, err := s.BeginPasskeySignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.FinishPasskeySignIn(ctx, cer, body, Client{}) // no address: not throttled
		if err == nil || tok != "" {
			t.Fatalf("FinishPasskeySignIn(%q) = %q, %v; signed in without a signature", body, tok, err)
		}
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("FinishPasskeySignIn(%q) = %v, want ErrBadCredentials", body, err)
		}
	})
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "", "----", "2345-6723-4567-234", "\u212a\u212a\u212a\u212a", "İ", "\xff"} {
		f.Add(s)
	}
	f.Add(newRecoveryCode())
	f.Fuzz(func(t *testing.T, code string) {
		n, ok := normalizeRecoveryCode(code)
		if ok && len(n) != 16 {
			t.Fatalf("normalizeRecoveryCode(%q) = %q, ok with %d characters", code, n, len(n))
		}
		for _, r := range n {
			if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
				t.Fatalf("normalizeRecoveryCode(%q) = %q holds %q", code, n, r)
			}
		}
		n2, ok2 := normalizeRecoveryCode(n)
		if n2 != n || ok2 != ok {
			t.Fatalf("not idempotent: %q → %q, %v → %q, %v", code, n, ok, n2, ok2)
		}
	})
}

func FuzzNormalizeAppPassword(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop-qrst-uvwx-yz23", "ABCD EFGH", "", "- -", strings.Repeat("a", 129), "\xff\xfe", "Ä-ö"} {
		f.Add(s)
	}
	f.Add(newAppPassword())
	f.Fuzz(func(t *testing.T, secret string) {
		n := normalizeAppPassword(secret)
		if len(n) > 128 || len(n) > len(secret) {
			t.Fatalf("normalizeAppPassword(%q) = %q: longer than allowed", secret, n)
		}
		if strings.ContainsAny(n, "- ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("normalizeAppPassword(%q) = %q keeps a dash, space or upper-case letter", secret, n)
		}
		if utf8.ValidString(secret) && !utf8.ValidString(n) {
			t.Fatalf("normalizeAppPassword(%q) = %q: broke UTF-8", secret, n)
		}
		if n2 := normalizeAppPassword(n); n2 != n {
			t.Fatalf("not idempotent: %q → %q → %q", secret, n, n2)
		}
	})
}

// FuzzDeviceToken: a device cookie's value is parsed on every password
// sign-in; nothing but a token the service issued for the login is valid,
// and nothing panics.
func FuzzDeviceToken(f *testing.F) {
	s, _ := newTestService(f, withLog(io.Discard))
	good := s.DeviceToken("fuzz@example.org")
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("-1.AAAA")
	f.Add("99999999999999999999." + strings.Repeat("A", 43))
	f.Add(good[:len(good)-1] + "B")
	f.Fuzz(func(t *testing.T, tok string) {
		if _, ok := s.validDevice("fuzz@example.org", tok); ok && tok != good {
			t.Fatalf("token %q accepted", tok)
		}
		if _, ok := s.validDevice("other@example.org", tok); ok {
			t.Fatalf("token %q accepted for another login", tok)
		}
	})
}
