package auth

import (
	"bytes"
	"context"
	"testing"

	"github.com/caucus-org/caucus/internal/metrics"
)

// TestSignInMetrics counts web sign-ins: a full one (password and TOTP)
// and a wrong password; app passwords are left to the protocol servers.
func TestSignInMetrics(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	reg := metrics.NewRegistry()
	s.metrics = metrics.NewSet(reg)
	m := enrolMember(t, s, clk, "ann@example.org")
	before := webCounts(t, reg)
	m.signIn(t, s, clk)
	if _, _, err := s.PasswordSignIn(context.Background(), m.Login, "not the password", clOther); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := s.AppPassword(context.Background(), m.Login, "not-an-app-password", ScopeMail, clOther); err == nil {
		t.Fatal("bogus app password accepted")
	}
	after := webCounts(t, reg)
	if after[0]-before[0] != 1 || after[1]-before[1] != 1 {
		t.Errorf("web sign-ins, failures went from %v to %v; want +1 each", before, after)
	}
}

// webCounts returns the web sign-ins and failures a scrape shows.
func webCounts(t *testing.T, reg *metrics.Registry) [2]float64 {
	t.Helper()
	var b bytes.Buffer
	if err := reg.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	fams, err := metrics.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var out [2]float64
	for _, f := range fams {
		for i, name := range []string{"caucus_signins_total", "caucus_signin_failures_total"} {
			if f.Name == name {
				v, ok := f.Value(name, "method", metrics.MethodWeb)
				if !ok {
					t.Fatalf("no %s{method=web}", name)
				}
				out[i] = v
			}
		}
	}
	return out
}
