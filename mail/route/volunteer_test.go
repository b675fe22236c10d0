package route

import (
	"errors"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// TestVolunteerForwarding: a volunteer's mail may be forwarded inside the
// party, never outside it.
func TestVolunteerForwarding(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	vol := env.User(t, "vol@example-party.org", auth.RoleVolunteer)
	env.User(t, "bob@example-party.org", auth.RoleMember)
	if err := d.SetForwarding(ctx, "admin", vol.Account.ID, "vol.private@gmail.com", true); !errors.Is(err, ErrVolunteerForward) {
		t.Errorf("a volunteer forwarded outside: %v, want ErrVolunteerForward", err)
	}
	if got, err := d.Resolve(ctx, "vol@example-party.org"); err != nil || len(got.Remote) != 0 {
		t.Errorf("after the refusal: %+v %v", got, err)
	}
	if err := d.SetForwarding(ctx, "admin", vol.Account.ID, "bob@example-party.org", true); err != nil {
		t.Errorf("a volunteer forwarded inside: %v", err)
	}
}
