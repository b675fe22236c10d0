package store

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestDeleteMailboxTree(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	other := e.account(t, 2)
	for _, name := range []string{"Old/A", "Old/A/Deep", "Older", "Old2"} {
		if err := e.s.CreateMailbox(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.CreateMailbox(ctx, other, "Old/A"); err != nil {
		t.Fatal(err)
	}
	e.append(t, acct, "Old/A", simple("one", "1"))
	e.append(t, acct, "Old/A/Deep", simple("two", "2"))
	e.append(t, acct, "Older", simple("three", "3"))
	e.append(t, other, "Old/A", simple("four", "4"))

	if _, err := e.s.DeleteMailboxTree(ctx, acct, "INBOX"); !errors.Is(err, ErrSpecialUse) {
		t.Errorf("delete INBOX tree: %v", err)
	}
	if _, err := e.s.DeleteMailboxTree(ctx, acct, "Nope"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("delete missing tree: %v", err)
	}
	e.takeChanges()
	n, err := e.s.DeleteMailboxTree(ctx, acct, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted %d mailboxes, want 3 (Old, Old/A, Old/A/Deep)", n)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeMailboxes || c[0].AccountID != acct {
		t.Errorf("changes %+v", c)
	}
	for _, name := range []string{"Old", "Old/A", "Old/A/Deep"} {
		if _, err := e.s.Mailbox(ctx, acct, name); !errors.Is(err, ErrNoMailbox) {
			t.Errorf("%s after delete: %v", name, err)
		}
	}
	// Names that merely start alike, and other accounts, stay.
	for _, name := range []string{"Older", "Old2", "INBOX"} {
		e.mailbox(t, acct, name)
	}
	if mb := e.mailbox(t, other, "Old/A"); mb.Messages != 1 {
		t.Errorf("other account's mailbox has %d messages", mb.Messages)
	}
	if got := e.count(t, `SELECT count(*) FROM messages`); got != 2 {
		t.Errorf("%d messages left, want 2", got)
	}
}

func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	other := e.account(t, 2)
	if err := e.s.SetQuota(ctx, acct, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "Projects/2026"); err != nil {
		t.Fatal(err)
	}
	e.append(t, acct, "INBOX", simple("one", "1"))
	e.append(t, acct, "Projects/2026", simple("two", "2"))
	e.append(t, other, "INBOX", simple("three", "3"))

	n, err := e.s.DeleteAccount(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(SpecialUse) + 2; n != want {
		t.Errorf("deleted %d mailboxes, want %d", n, want)
	}
	if mbs, err := e.s.Mailboxes(ctx, acct); err != nil || len(mbs) != 0 {
		t.Errorf("mailboxes left: %v, %v", mbs, err)
	}
	if used, quota, err := e.s.Usage(ctx, acct); err != nil || used != 0 || quota != 0 {
		t.Errorf("usage after delete: %d of %d, %v", used, quota, err)
	}
	if mb := e.mailbox(t, other, "INBOX"); mb.Messages != 1 {
		t.Errorf("other account's INBOX has %d messages", mb.Messages)
	}
	// Deleting again, or an account never seen, is no error.
	if n, err := e.s.DeleteAccount(ctx, 99); err != nil || n != 0 {
		t.Errorf("delete unknown account: %d, %v", n, err)
	}
}

func TestCopyFromAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	from, to := e.account(t, 1), e.account(t, 2)
	e.append(t, from, "INBOX", simple("one", "1"))
	e.append(t, from, "INBOX", simple("two", "2"))
	if err := e.s.CreateMailbox(ctx, to, "Old/INBOX"); err != nil {
		t.Fatal(err)
	}
	src := e.mailbox(t, from, "INBOX")
	// The source must be the named account's.
	if _, _, _, err := e.s.CopyFromAccount(ctx, to, src.ID, []imap.UID{1, 2}, to, "Old/INBOX"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("copy naming the wrong source account: %v", err)
	}
	dst, srcUIDs, dstUIDs, err := e.s.CopyFromAccount(ctx, from, src.ID, []imap.UID{1, 2}, to, "Old/INBOX")
	if err != nil || dst.Messages != 2 || len(srcUIDs) != 2 || len(dstUIDs) != 2 {
		t.Fatalf("CopyFromAccount = %+v, %v, %v, %v", dst, srcUIDs, dstUIDs, err)
	}
	if mb := e.mailbox(t, from, "INBOX"); mb.Messages != 2 {
		t.Errorf("source has %d messages after the copy", mb.Messages)
	}
	usedFrom, _, _ := e.s.Usage(ctx, from)
	usedTo, _, _ := e.s.Usage(ctx, to)
	if usedTo != usedFrom {
		t.Errorf("destination uses %d bytes, source %d", usedTo, usedFrom)
	}
	// Over the destination's quota nothing is copied.
	if err := e.s.SetQuota(ctx, to, usedTo+1); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.s.CopyFromAccount(ctx, from, src.ID, []imap.UID{1}, to, "Old/INBOX"); !errors.Is(err, ErrQuota) {
		t.Errorf("copy over quota: %v", err)
	}
}
