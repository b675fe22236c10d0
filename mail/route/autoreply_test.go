package route

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// TestAutoReply: an auto-reply is found by address, alias and subaddress,
// ends at its time, keeps an offboarded account's mail coming in while it
// is in force, and bad ones are refused.
func TestAutoReply(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component())
	ctx := t.Context()
	d := New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	alice := env.User(t, "alice@example-party.org", auth.RoleMember)
	if err := d.AddAlias(ctx, "admin", alice.Account.ID, "press@example-party.org"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []AutoReply{
		{Body: " \n"},
		{Body: strings.Repeat("x", MaxAutoReplyBody+1)},
		{Subject: strings.Repeat("s", MaxAutoReplySubject+1), Body: "x"},
		{Subject: "two\r\nlines", Body: "x"},
		{Body: "\xff"},
	} {
		if err := d.SetAutoReply(ctx, "admin", alice.Account.ID, &bad); !errors.Is(err, ErrBadAutoReply) {
			t.Errorf("SetAutoReply(%.30q): %v, want ErrBadAutoReply", bad.Body, err)
		}
	}
	if _, _, _, ok, err := d.AutoReplyFor(ctx, "alice@example-party.org"); ok || err != nil {
		t.Fatalf("auto-reply before any was set: %v, %v", ok, err)
	}
	until := env.Clock.Now().Add(48 * time.Hour)
	if err := d.SetAutoReply(ctx, "admin", alice.Account.ID, &AutoReply{Body: "Alice has left.", Until: until}); err != nil {
		t.Fatal(err)
	}
	for rcpt, addr := range map[string]string{
		"alice@example-party.org":      "alice@example-party.org",
		"Alice+news@Example-Party.org": "alice@example-party.org",
		"press@example-party.org":      "press@example-party.org",
		"nobody@example-party.org":     "",
		"alice@elsewhere.example":      "",
		"not an address":               "",
	} {
		ar, acct, got, ok, err := d.AutoReplyFor(ctx, rcpt)
		if err != nil || ok != (addr != "") || got != addr || (ok && (acct.ID != alice.Account.ID || ar.Body != "Alice has left.")) {
			t.Errorf("AutoReplyFor(%q) = %+v, %d, %q, %v, %v; want address %q", rcpt, ar, acct.ID, got, ok, err, addr)
		}
	}
	// While it is in force, the offboarded account's mail still comes in.
	if err := env.Auth.SetState(ctx, "admin", alice.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Resolve(ctx, "alice@example-party.org"); err != nil || !slices.Equal(got.Accounts, []int64{alice.Account.ID}) {
		t.Errorf("offboarded with auto-reply: %+v, %v", got, err)
	}
	env.Clock.Advance(49 * time.Hour)
	if _, _, _, ok, err := d.AutoReplyFor(ctx, "alice@example-party.org"); ok || err != nil {
		t.Errorf("auto-reply after its end: %v, %v", ok, err)
	}
	if _, err := d.Resolve(ctx, "alice@example-party.org"); !errors.Is(err, ErrUnknown) {
		t.Errorf("offboarded after the auto-reply ended: %v, want ErrUnknown", err)
	}
	if ar, ok, err := d.AutoReplyOf(ctx, alice.Account.ID); err != nil || !ok || !ar.Until.Equal(until.Truncate(time.Second)) {
		t.Errorf("AutoReplyOf = %+v, %v, %v", ar, ok, err)
	}
	if err := d.SetAutoReply(ctx, "admin", alice.Account.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.AutoReplyOf(ctx, alice.Account.ID); ok || err != nil {
		t.Errorf("after removal: %v, %v", ok, err)
	}
}
