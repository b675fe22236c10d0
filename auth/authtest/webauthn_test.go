package authtest

import (
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSoftwareKey(t *testing.T) {
	t.Parallel()
	e := New(t, auth.Config{})
	u := e.User(t, "kim@example.org", auth.RoleAdmin)
	k := e.AddSecurityKey(t, u)
	f, err := e.Auth.Factors(t.Context(), u.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[auth.FactorKind]bool{}
	for _, x := range f {
		kinds[x.Kind] = true
	}
	if !kinds[auth.KindSecurityKey] || !kinds[auth.KindTOTP] {
		t.Fatalf("factors %+v, want a security key and TOTP", f)
	}
	// The TOTP session is not a WebAuthn proof; the key's step-up is.
	e.SignIn(t, u)
	if s := e.session(t, u); e.Auth.FreshWebAuthn(s) {
		t.Fatal("FreshWebAuthn after a TOTP sign-in")
	}
	e.StepUpWebAuthn(t, u, k)
	if s := e.session(t, u); !e.Auth.FreshWebAuthn(s) || s.Method != auth.MethodWebAuthn {
		t.Fatalf("after the key's step-up: Method %q, FreshWebAuthn %v", s.Method, e.Auth.FreshWebAuthn(s))
	}
	// A second assertion (counter moves on) works too.
	e.StepUpWebAuthn(t, u, k)
}
