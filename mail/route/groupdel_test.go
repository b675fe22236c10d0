package route

import (
	"errors"
	"slices"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/audit"
)

// A deleted group's list address stops taking mail and stops being a
// sender its members may use, and the forwards to it are removed: a group
// made later with the same name must not receive a departed person's mail.
func TestDeletedGroupRoutesStop(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org", "party.example"}, env.Clock.Now)
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	gone := env.User(t, "gone@example-party.org", auth.RoleMember)
	other := env.User(t, "other@example-party.org", auth.RoleMember)
	newbie := env.User(t, "newbie@example-party.org", auth.RoleMember)
	if err := env.Auth.AddToGroup(ctx, "", "press", anna.Account.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.SetForwarding(ctx, "admin", gone.Account.ID, "Press+old@party.example", false); err != nil {
		t.Fatal(err)
	}
	if err := d.SetForwarding(ctx, "admin", other.Account.ID, "press@elsewhere.org", false); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Resolve(ctx, "gone@example-party.org"); err != nil || !slices.Equal(got.Accounts, []int64{anna.Account.ID}) {
		t.Fatalf("before: %+v %v", got, err)
	}
	if _, err := env.Auth.DeleteGroup(ctx, "admin", "press", ""); err != nil {
		t.Fatal(err)
	}
	dropped, err := d.DropGroupRoutes(ctx, "admin", "press")
	if err != nil || !slices.Equal(dropped, []string{"gone@example-party.org"}) {
		t.Errorf("dropped %v, %v", dropped, err)
	}
	if got, err := d.Resolve(ctx, "press@example-party.org"); !errors.Is(err, ErrUnknown) {
		t.Errorf("list after delete: %+v %v", got, err)
	}
	if ok, err := d.MaySendAs(ctx, anna.Account, "press@example-party.org"); ok || err != nil {
		t.Errorf("anna sends as the deleted group: %v %v", ok, err)
	}
	// A new group of the same name gets none of the departed's mail.
	if err := env.Auth.AddToGroup(ctx, "", "press", newbie.Account.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Resolve(ctx, "gone@example-party.org"); slices.Contains(got.Accounts, newbie.Account.ID) {
		t.Errorf("the new press group receives gone's mail: %+v", got)
	}
	// An outside address of the same name is not the group's.
	if got, err := d.Resolve(ctx, "other@example-party.org"); err != nil || !slices.Equal(got.Remote, []string{"press@elsewhere.org"}) {
		t.Errorf("outside forward: %+v %v", got, err)
	}
	recs, err := env.Auth.Audit().List(ctx, audit.Filter{Kind: "mail.forward"})
	if err != nil || len(recs) == 0 || recs[0].Subject != "gone@example-party.org" || recs[0].Detail != `target="" keep_copy=false (group press deleted)` {
		t.Errorf("audit %+v %v", recs, err)
	}
}
