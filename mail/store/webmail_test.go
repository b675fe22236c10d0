package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestAccountScoped: every account-scoped reader answers a mailbox or
// message of another account as if it did not exist, and its own as the
// unscoped readers do.
func TestAccountScoped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.account(t, 1), e.account(t, 2)
	uid := e.append(t, alice, "INBOX", simple("secret plan", "the launch is on monday"))
	in := e.mailbox(t, alice, "INBOX")
	bobIn := e.mailbox(t, bob, "INBOX")

	if mb, err := e.s.AccountMailbox(ctx, alice, in.ID); err != nil || mb.ID != in.ID || mb.Messages != 1 {
		t.Fatalf("own mailbox: %+v, %v", mb, err)
	}
	if m, err := e.s.AccountMessage(ctx, alice, in.ID, uid); err != nil || m.UID != uid || m.Envelope.Subject != "secret plan" {
		t.Fatalf("own message: %+v, %v", m, err)
	}
	if page, err := e.s.MessagePage(ctx, alice, in.ID, 0, 50); err != nil || len(page) != 1 {
		t.Fatalf("own page: %d, %v", len(page), err)
	}
	if uids, err := e.s.AccountSearch(ctx, alice, in.ID, &imap.SearchCriteria{Body: []string{"monday"}}); err != nil || len(uids) != 1 {
		t.Fatalf("own search: %v, %v", uids, err)
	}

	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"AccountMailbox", second(e.s.AccountMailbox(ctx, bob, in.ID)), ErrNoMailbox},
		{"AccountMailbox of none", second(e.s.AccountMailbox(ctx, alice, 9999)), ErrNoMailbox},
		{"AccountMessage", second(e.s.AccountMessage(ctx, bob, in.ID, uid)), ErrNoMessage},
		{"AccountMessage in own mailbox", second(e.s.AccountMessage(ctx, bob, bobIn.ID, uid)), ErrNoMessage},
		{"MessagePage", second(e.s.MessagePage(ctx, bob, in.ID, 0, 50)), ErrNoMailbox},
		{"AccountMessages", second(e.s.AccountMessages(ctx, bob, in.ID, []imap.UID{uid})), ErrNoMailbox},
		{"AccountSearch", second(e.s.AccountSearch(ctx, bob, in.ID, &imap.SearchCriteria{Body: []string{"monday"}})), ErrNoMailbox},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s of another account's id: %v, want %v", c.name, c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestMessagePage: pages follow UIDs downwards, newest first, with no
// message skipped or repeated, and stay put as mail arrives.
func TestMessagePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	for i := range 7 {
		e.append(t, a, "INBOX", simple(fmt.Sprint("m", i), "x"))
	}
	in := e.mailbox(t, a, "INBOX")
	var got []string
	before := imap.UID(0)
	for range 10 {
		page, err := e.s.MessagePage(ctx, a, in.ID, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			got = append(got, m.Envelope.Subject)
		}
		before = page[len(page)-1].UID
		e.append(t, a, "INBOX", simple("new", "x")) // above every page
	}
	if want := "m6 m5 m4 m3 m2 m1 m0"; strings.Join(got, " ") != want {
		t.Fatalf("pages gave %q, want %q", strings.Join(got, " "), want)
	}
}

// TestSignature: set, read, replace; too long is refused.
func TestSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if err := e.db.Migrate(ctx, WebmailComponent()); err != nil {
		t.Fatal(err)
	}
	if s, err := e.s.Signature(ctx, 1); err != nil || s != "" {
		t.Fatalf("no signature yet: %q, %v", s, err)
	}
	for _, sig := range []string{"Anna\r\nParty treasurer", "Anna"} {
		if err := e.s.SetSignature(ctx, 1, sig); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := e.s.Signature(ctx, 1); err != nil || s != "Anna" {
		t.Fatalf("signature %q, %v", s, err)
	}
	if s, _ := e.s.Signature(ctx, 2); s != "" {
		t.Fatalf("another account's signature: %q", s)
	}
	if err := e.s.SetSignature(ctx, 1, strings.Repeat("x", MaxSignature+1)); err == nil {
		t.Fatal("an over-long signature was taken")
	}
}

// BenchmarkMessagePage is issue 15's "open INBOX of 100,000 messages":
// the first page (50 newest) and a page deep inside, next to the unscoped
// Messages of the same 50 UIDs.
func BenchmarkMessagePage(b *testing.B) {
	e := newEnv(b)
	a := e.account(b, 1)
	in := e.mailbox(b, a, "INBOX")
	bulkInsert(b, e, in.ID, 100_000, nil)
	ctx := b.Context()
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if p, err := e.s.MessagePage(ctx, a, in.ID, 0, 50); err != nil || len(p) != 50 {
				b.Fatal(len(p), err)
			}
		}
	})
	b.Run("deep", func(b *testing.B) {
		for b.Loop() {
			if p, err := e.s.MessagePage(ctx, a, in.ID, 50_000, 50); err != nil || len(p) != 50 {
				b.Fatal(len(p), err)
			}
		}
	})
	b.Run("Messages", func(b *testing.B) {
		uids := make([]imap.UID, 50)
		for i := range uids {
			uids[i] = imap.UID(100_000 - i)
		}
		for b.Loop() {
			if p, err := e.s.Messages(ctx, in.ID, uids); err != nil || len(p) != 50 {
				b.Fatal(len(p), err)
			}
		}
	})
}
