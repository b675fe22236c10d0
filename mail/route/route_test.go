package route

import (
	"errors"
	"slices"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/db"
)

func TestResolveAndSendAs(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"Example-Party.org", "party.example"}, env.Clock.Now)
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	bob := env.User(t, "bob@example-party.org", auth.RoleMember)
	boss := env.User(t, "boss@example-party.org", auth.RoleAdmin)
	for _, u := range []*authtest.User{anna, bob} {
		if err := env.Auth.AddToGroup(ctx, "", "press", u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddAlias(ctx, "admin", anna.Account.ID, "spokesperson@example-party.org"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt   string
		want   []int64
		remote []string
		err    error
	}{
		{"anna@example-party.org", []int64{anna.Account.ID}, nil, nil},
		{"ANNA+news@Example-Party.org", []int64{anna.Account.ID}, nil, nil},
		{"spokesperson@example-party.org", []int64{anna.Account.ID}, nil, nil},
		{"press@example-party.org", []int64{anna.Account.ID, bob.Account.ID}, nil, nil},
		{"press@party.example", []int64{anna.Account.ID, bob.Account.ID}, nil, nil},
		{"nobody@example-party.org", nil, nil, ErrUnknown},
		{"postmaster@example-party.org", []int64{boss.Account.ID}, nil, nil},
		{"anna@elsewhere.org", nil, nil, ErrNotOurs},
		{"not an address", nil, nil, ErrUnknown},
	} {
		got, err := d.Resolve(ctx, tc.rcpt)
		if !errors.Is(err, tc.err) || !slices.Equal(got.Accounts, tc.want) || !slices.Equal(got.Remote, tc.remote) {
			t.Errorf("Resolve(%q) = %+v, %v; want %v %v, %v", tc.rcpt, got, err, tc.want, tc.remote, tc.err)
		}
	}
	for _, tc := range []struct {
		acct *authtest.User
		addr string
		ok   bool
	}{
		{anna, "anna@example-party.org", true},
		{anna, "Anna@Example-Party.org", true},
		{anna, "spokesperson@example-party.org", true},
		{bob, "spokesperson@example-party.org", false},
		{anna, "press@example-party.org", true},
		{anna, "bob@example-party.org", false},
		{anna, "leader@example-party.org", false},
		{anna, "anna@gmail.com", false},
	} {
		ok, err := d.MaySendAs(ctx, tc.acct.Account, tc.addr)
		if err != nil || ok != tc.ok {
			t.Errorf("MaySendAs(%s, %q) = %v, %v; want %v", tc.acct.Account.Login, tc.addr, ok, err, tc.ok)
		}
	}
	if err := d.AddAlias(ctx, "admin", bob.Account.ID, "spokesperson@example-party.org"); err == nil {
		t.Error("an alias was given twice")
	}
	if err := d.AddAlias(ctx, "admin", bob.Account.ID, "press@example-party.org"); err == nil {
		t.Error("a group's address was taken as an alias")
	}
	if err := d.AddAlias(ctx, "admin", bob.Account.ID, "bob@gmail.com"); !errors.Is(err, ErrNotOurs) {
		t.Errorf("outside alias: %v", err)
	}
}

// TestForwarding: staff who leave have their mail forwarded, with or
// without a copy, inside or outside the party, and loops end.
func TestForwarding(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	alice := env.User(t, "alice@example-party.org", auth.RoleMember)
	bob := env.User(t, "bob@example-party.org", auth.RoleMember)
	if err := d.SetForwarding(ctx, "admin", alice.Account.ID, "bob@example-party.org", false); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Resolve(ctx, "alice@example-party.org"); err != nil || !slices.Equal(got.Accounts, []int64{bob.Account.ID}) {
		t.Errorf("forward without copy: %+v, %v", got, err)
	}
	if err := d.SetForwarding(ctx, "admin", alice.Account.ID, "alice.private@gmail.com", true); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Resolve(ctx, "alice@example-party.org"); err != nil || !slices.Equal(got.Accounts, []int64{alice.Account.ID}) || !slices.Equal(got.Remote, []string{"alice.private@gmail.com"}) {
		t.Errorf("forward with copy to outside: %+v, %v", got, err)
	}
	// A loop ends with an error instead of running forever.
	d.SetForwarding(ctx, "admin", alice.Account.ID, "bob@example-party.org", false)
	d.SetForwarding(ctx, "admin", bob.Account.ID, "alice@example-party.org", false)
	if _, err := d.Resolve(ctx, "alice@example-party.org"); !errors.Is(err, ErrUnknown) {
		t.Errorf("forwarding loop: %v, want ErrUnknown", err)
	}
	if err := d.SetForwarding(ctx, "admin", bob.Account.ID, "", false); err != nil {
		t.Fatal(err)
	}
	// An offboarded account without forwarding refuses mail.
	if err := env.Auth.SetState(ctx, "admin", bob.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(ctx, "bob@example-party.org"); !errors.Is(err, ErrUnknown) {
		t.Errorf("offboarded account: %v, want ErrUnknown", err)
	}
	if names := d.MemberNames(); !slices.Contains(names, alice.Account.DisplayName) {
		t.Errorf("member names %v", names)
	}
}

// FuzzResolve: any recipient string gets an answer or a clear error, never
// a panic, and never a local delivery for another domain.
func FuzzResolve(f *testing.F) {
	env := authtest.New(f, auth.Config{}, Component())
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	u := env.User(f, "anna@example-party.org", auth.RoleMember)
	env.Auth.AddToGroup(f.Context(), "", "press", u.Account.ID)
	for _, s := range []string{"anna@example-party.org", "ANNA+x@EXAMPLE-PARTY.ORG", "press@example-party.org", "postmaster@example-party.org",
		"@example-party.org", "anna@", "a@b@example-party.org", "anna@example-party.org.", "\x00@example-party.org", "anna@other.example", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rcpt string) {
		tgt, err := d.Resolve(t.Context(), rcpt)
		if err != nil {
			if !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrNotOurs) {
				t.Fatalf("Resolve(%q): unexpected error kind %v", rcpt, err)
			}
			return
		}
		if len(tgt.Accounts) > 0 && !d.IsOurs(rcpt) {
			t.Fatalf("Resolve(%q) delivers locally for a foreign address", rcpt)
		}
	})
}

// TestResolveRoundTrips: resolving a member's address asks PostgreSQL for
// the account and its forwarding, and no more: the account found by its
// login is not read again by its id (each a round trip per recipient at
// RCPT TO).
func TestResolveRoundTrips(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	if env.DB.Engine() != db.Postgres {
		t.Skip("round trips are PostgreSQL's")
	}
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	anna := env.User(t, "anna@example-party.org", auth.RoleMember)
	if _, err := d.Resolve(ctx, "anna@example-party.org"); err != nil { // statements prepared
		t.Fatal(err)
	}
	before := env.DB.RoundTrips()
	got, err := d.Resolve(ctx, "Anna+news@example-party.org")
	if err != nil || !slices.Equal(got.Accounts, []int64{anna.Account.ID}) {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
	if trips := env.DB.RoundTrips() - before; trips > 2 {
		t.Errorf("%d round trips to resolve a member's address, want 2", trips)
	}
}

// TestAutoReplyForRoundTrips: asking whether mail to an address gets an
// auto-reply, which the MX asks for every recipient of every delivered
// message, is one query when it does not (the usual answer), where it
// was two (the account, then its auto-reply).
func TestAutoReplyForRoundTrips(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	if env.DB.Engine() != db.Postgres {
		t.Skip("round trips are PostgreSQL's")
	}
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	env.User(t, "anna@example-party.org", auth.RoleMember)
	for i := range 2 { // the first prepares the statements
		before := env.DB.RoundTrips()
		if _, _, _, ok, err := d.AutoReplyFor(ctx, "Anna+x@example-party.org"); err != nil || ok {
			t.Fatalf("AutoReplyFor = %v, %v; want none", ok, err)
		}
		if trips := env.DB.RoundTrips() - before; i == 1 && trips > 1 {
			t.Errorf("%d round trips to find no auto-reply, want 1", trips)
		}
	}
}
