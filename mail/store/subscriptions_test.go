package store

import (
	"errors"
	"slices"
	"testing"
)

// TestSubscriptionOutlivesDelete: DELETE does not unsubscribe (RFC 9051
// 6.3.4): the name stays subscribed with no mailbox, can be unsubscribed,
// and a mailbox created again under it is subscribed. An account's
// deletion takes its subscriptions too.
func TestSubscriptionOutlivesDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	for _, name := range []string{"Campaign", "Press", "Old"} {
		if err := e.s.CreateMailbox(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
		if err := e.s.SetSubscribed(ctx, acct, name, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"Campaign", "Press", "Old"} {
		if err := e.s.DeleteMailbox(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
	}
	orphans := func() []string {
		t.Helper()
		l, err := e.s.OrphanSubscriptions(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := orphans(); !slices.Equal(got, []string{"Campaign", "Old", "Press"}) {
		t.Fatalf("subscriptions after DELETE: %q", got)
	}
	if err := e.s.SetSubscribed(ctx, acct, "Old", false); err != nil {
		t.Fatalf("unsubscribe a deleted mailbox: %v", err)
	}
	if err := e.s.SetSubscribed(ctx, acct, "Old", false); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("unsubscribe twice: %v", err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "Campaign/2026"); err != nil {
		t.Fatal(err)
	}
	if !e.mailbox(t, acct, "Campaign").Subscribed || e.mailbox(t, acct, "Campaign/2026").Subscribed {
		t.Error("a mailbox created again under a subscribed name is not subscribed (or its child is)")
	}
	if got := orphans(); !slices.Equal(got, []string{"Press"}) {
		t.Errorf("subscriptions without mailbox: %q, want [Press]", got)
	}
	if _, err := e.s.DeleteAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM mailbox_subscriptions`); n != 0 {
		t.Errorf("%d subscriptions left after the account's deletion", n)
	}
}
