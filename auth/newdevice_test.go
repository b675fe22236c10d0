package auth

import (
	"context"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
)

// TestSignInNewDevice: a full web sign-in from a browser without this
// account's device cookie is recorded as from a new device (what the
// security notice mails about); the same browser, holding the cookie it
// got then, signs in again unremarked. A cookie of another account does
// not count.
func TestSignInNewDevice(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	m := enrolMember(t, s, clk, "kim@example.org")
	other := s.DeviceToken("lee@example.org")
	for _, tc := range []struct {
		name   string
		device string
		want   string
	}{
		{"no cookie", "", DetailNewDevice},
		{"known browser", s.DeviceToken(m.Login), ""},
		{"another account's cookie", other, DetailNewDevice},
		{"forged cookie", "123.abc", DetailNewDevice},
	} {
		c := cl
		c.Device = tc.device
		ctx := context.Background()
		tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), m.code(t, clk), c); err != nil {
			t.Fatal(err)
		}
		recs, err := s.audit.List(ctx, audit.Filter{Kind: "login.totp", Limit: 1})
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s: audit %v, %v", tc.name, recs, err)
		}
		if recs[0].Detail != tc.want {
			t.Errorf("%s: login.totp detail %q, want %q", tc.name, recs[0].Detail, tc.want)
		}
	}
}
