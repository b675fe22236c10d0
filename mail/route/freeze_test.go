package route

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// switchFreeze is a Freeze a test turns on and off.
type switchFreeze struct{ on atomic.Bool }

func (f *switchFreeze) Frozen(context.Context) (bool, error) { return f.on.Load(), nil }

// TestFreezeForwarding: during incident mode (the freeze on), a new
// forwarding rule to an outside address is refused, one inside the party
// is allowed, and an existing outside rule does not forward: the mail is
// kept in the member's own mailbox. After incident mode both work again.
func TestFreezeForwarding(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	var f switchFreeze
	d.SetFreeze(&f)
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	bob := env.User(t, "bob@example-party.org", auth.RoleMember)
	if err := d.SetForwarding(ctx, "admin", bob.Account.ID, "bob.private@example.net", false); err != nil {
		t.Fatalf("an outside forward before incident mode: %v", err)
	}
	f.on.Store(true)
	if err := d.SetForwarding(ctx, "admin", anna.Account.ID, "anna.private@example.net", false); !errors.Is(err, ErrFrozen) {
		t.Errorf("an outside forward during incident mode: %v, want ErrFrozen", err)
	}
	if err := d.SetForwarding(ctx, "admin", anna.Account.ID, "bob@example-party.org", true); err != nil {
		t.Errorf("a forward inside the party during incident mode: %v", err)
	}
	got, err := d.Resolve(ctx, "bob@example-party.org")
	if err != nil || len(got.Remote) != 0 || len(got.Accounts) != 1 || got.Accounts[0] != bob.Account.ID {
		t.Errorf("mail to a member forwarding outside, during incident mode: %+v %v; want it kept in their mailbox", got, err)
	}
	f.on.Store(false)
	got, err = d.Resolve(ctx, "bob@example-party.org")
	if err != nil || len(got.Remote) != 1 || len(got.Accounts) != 0 {
		t.Errorf("after incident mode: %+v %v; want the outside forward", got, err)
	}
	if err := d.SetForwarding(ctx, "admin", anna.Account.ID, "anna.private@example.net", false); err != nil {
		t.Errorf("an outside forward after incident mode: %v", err)
	}
}

// errFreeze is a Freeze that cannot answer.
type errFreeze struct{}

func (errFreeze) Frozen(context.Context) (bool, error) { return false, errors.New("database gone") }

// TestFreezeUnknownRefuses: when the freeze cannot be read, an outside
// forward is neither set nor followed (the mail is refused for now, and
// the sender retries), never let through.
func TestFreezeUnknownRefuses(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	bob := env.User(t, "bob@example-party.org", auth.RoleMember)
	if err := d.SetForwarding(ctx, "admin", bob.Account.ID, "bob.private@example.net", false); err != nil {
		t.Fatal(err)
	}
	d.SetFreeze(errFreeze{})
	if err := d.SetForwarding(ctx, "admin", bob.Account.ID, "bob.other@example.net", false); err == nil {
		t.Error("an outside forward was set while the freeze could not be read")
	}
	if got, err := d.Resolve(ctx, "bob@example-party.org"); err == nil {
		t.Errorf("mail followed an outside forward while the freeze could not be read: %+v", got)
	}
}
