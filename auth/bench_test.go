package auth

import (
	"context"
	"io"
	"testing"

	"github.com/caucus-org/caucus/auth/password"
)

// BenchmarkAppPassword measures one valid app-password check, the cost every
// IMAP, SMTP and WebDAV login pays.
func BenchmarkAppPassword(b *testing.B) {
	s, clk := newTestService(b, withLog(io.Discard))
	ctx := b.Context()
	m := enrolMember(b, s, clk, "bench@example.org")
	secret, _, err := s.CreateAppPassword(ctx, mustSession(b, s, m.Token), "phone", ScopeMail, cl)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkPasswordVerifyDefault measures one argon2id verification with the
// production parameters.
func BenchmarkPasswordVerifyDefault(b *testing.B) {
	h := password.NewHasher(password.DefaultParams(), 1)
	ctx := context.Background()
	phc, err := h.Hash(ctx, testPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Verify(ctx, testPassword, phc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// BenchmarkWebSignIn measures the server side of a web sign-in with the
// production password parameters: PasswordSignIn, then VerifyTOTP.
func BenchmarkWebSignIn(b *testing.B) {
	s, clk := newTestService(b, withLog(io.Discard), withHasher(password.DefaultParams()))
	ctx := b.Context()
	m := enrolMember(b, s, clk, "bench@example.org")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code := m.code(b, clk) // a step not used yet: moves the fake clock
		b.StartTimer()
		tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
		if err != nil {
			b.Fatal(err)
		}
		sess, err := s.Session(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.VerifyTOTP(ctx, sess, code, cl); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sign-ins/s")
}
