package route

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// fakeLists has one list, news@example-party.org.
type fakeLists struct{}

func (fakeLists) IsList(_ context.Context, address string) (bool, error) {
	return strings.EqualFold(address, "news@example-party.org"), nil
}

// TestListAddress: a list's address, and its subaddresses (the return
// paths), resolve to the list as given; an alias cannot take it.
func TestListAddress(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	if _, err := d.Resolve(t.Context(), "news@example-party.org"); err == nil {
		t.Fatal("a list address resolved before the lists were hooked in")
	}
	d.SetLists(fakeLists{})
	for _, rcpt := range []string{"news@example-party.org", "News+b-7-abc@Example-Party.org"} {
		got, err := d.Resolve(t.Context(), rcpt)
		if err != nil || !slices.Equal(got.Lists, []string{strings.ToLower(rcpt)}) || len(got.Accounts) != 0 {
			t.Errorf("Resolve(%s) = %+v, %v", rcpt, got, err)
		}
	}
	if err := d.AddAlias(t.Context(), "admin", anna.Account.ID, "news@example-party.org"); err == nil {
		t.Error("an alias took a list's address")
	}
}
