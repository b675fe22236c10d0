package route

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/store"
)

// fakeRoles has one role mailbox, press@example-party.org.
type fakeRoles struct{}

func (fakeRoles) RoleByAddress(_ context.Context, address string) (store.Role, error) {
	if strings.EqualFold(address, "press@example-party.org") {
		return store.Role{ID: 1, Address: "press@example-party.org"}, nil
	}
	return store.Role{}, store.ErrNoRole
}

// TestCheckFree: an address held by a person, an alias, a group, a list
// or a role mailbox is taken, each saying by what; an alias cannot take
// a role's or a list's address, nor a group the name of one (issue 19:
// mail then went to the role and the admin was not told).
func TestCheckFree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := authtest.New(t, auth.Config{}, Component())
	d := New(env.DB, env.Auth, []string{"example-party.org", "example-party.eu"}, env.Clock.Now)
	d.SetLists(fakeLists{})
	d.SetRoles(fakeRoles{})
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	if err := d.AddAlias(ctx, "admin", anna.Account.ID, "spokesperson@example-party.org"); err != nil {
		t.Fatal(err)
	}
	if err := env.Auth.CreateGroup(ctx, "admin", "board"); err != nil {
		t.Fatal(err)
	}
	for addr, by := range map[string]string{
		"anna@example-party.org":         TakenByPerson,
		"spokesperson@example-party.org": TakenByAlias,
		"board@example-party.eu":         TakenByGroup,
		"news@example-party.org":         TakenByList,
		"Press@Example-Party.org":        TakenByRole,
		"press+tag@example-party.org":    TakenByRole,
		"postmaster@example-party.org":   TakenByPostmaster,
	} {
		err := d.CheckFree(ctx, addr)
		var te *TakenError
		if !errors.Is(err, ErrTaken) || !errors.As(err, &te) || te.By != by {
			t.Errorf("CheckFree(%s) = %v, want taken by %s", addr, err, by)
		}
	}
	for _, addr := range []string{"free@example-party.org", "press@example-party.eu"} {
		if err := d.CheckFree(ctx, addr); err != nil {
			t.Errorf("CheckFree(%s) = %v, want free", addr, err)
		}
	}
	if err := d.CheckFree(ctx, "x@gmail.com"); !errors.Is(err, ErrNotOurs) {
		t.Errorf("CheckFree(outside) = %v, want ErrNotOurs", err)
	}
	for _, addr := range []string{"press@example-party.org", "news@example-party.org"} {
		if err := d.AddAlias(ctx, "admin", anna.Account.ID, addr); !errors.Is(err, ErrTaken) {
			t.Errorf("AddAlias(%s) = %v, want ErrTaken", addr, err)
		}
	}
	for name, by := range map[string]string{"press": TakenByRole, "news": TakenByList, "anna": TakenByPerson, "spokesperson": TakenByAlias} {
		err := d.CheckGroupName(ctx, name)
		var te *TakenError
		if !errors.As(err, &te) || te.By != by {
			t.Errorf("CheckGroupName(%s) = %v, want taken by %s", name, err, by)
		}
	}
	if err := d.CheckGroupName(ctx, "campaign"); err != nil {
		t.Errorf("CheckGroupName(campaign) = %v", err)
	}
}
