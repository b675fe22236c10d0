package store

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"INBOX", "INBOX", true},
		{"inbox", "INBOX", true},
		{"InBoX/Sub", "INBOX/Sub", true},
		{"Inboxes", "Inboxes", true},
		{"Work/2026", "Work/2026", true},
		{"Work/", "Work", true},
		{"Wahlkampf/Plakate über alles", "Wahlkampf/Plakate über alles", true},
		{"", "", false},
		{"/", "", false},
		{"/Work", "", false},
		{"Work//2026", "", false},
		{"Work/../Secret", "", false},
		{"..", "", false},
		{"Work/.", "", false},
		{"Tab\there", "", false},
		{"Bell\x07", "", false},
		{"C1\u0085", "", false},
		{"Star*", "", false},
		{"Per%cent", "", false},
		{"bad\xffutf8", "", false},
		{strings.Repeat("a", 255), strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), "", false},
	}
	for _, tt := range tests {
		got, err := CanonicalName(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("CanonicalName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		} else if !errors.Is(err, ErrBadName) {
			t.Errorf("CanonicalName(%q) = %q, %v; want ErrBadName", tt.in, got, err)
		}
	}
}

func TestEnsureAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 7)
	mbs, err := e.s.Mailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mb := range mbs {
		names = append(names, mb.Name)
		if !mb.Subscribed || mb.UIDValidity == 0 || mb.UIDNext != 1 || mb.AccountID != acct {
			t.Errorf("mailbox %+v", mb)
		}
	}
	if want := []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}; !slices.Equal(names, want) {
		t.Errorf("mailboxes %v, want %v", names, want)
	}
	for _, su := range SpecialUse {
		if mb := e.mailbox(t, acct, su.Name); mb.Attr != su.Attr {
			t.Errorf("%s has attr %q, want %q", su.Name, mb.Attr, su.Attr)
		}
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeMailboxes || c[0].AccountID != acct {
		t.Errorf("changes %+v", c)
	}

	// Idempotent, and silent the second time.
	before := e.mailbox(t, acct, "INBOX")
	if err := e.s.EnsureAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if after := e.mailbox(t, acct, "inbox"); after != before {
		t.Errorf("INBOX changed: %+v -> %+v", before, after)
	}
	if c := e.takeChanges(); len(c) != 0 {
		t.Errorf("second EnsureAccount announced %+v", c)
	}
	// Another account's mailboxes are its own.
	e.account(t, 8)
	if n := e.count(t, `SELECT count(*) FROM mailboxes`); n != 12 {
		t.Errorf("%d mailboxes, want 12", n)
	}
	if _, err := e.s.Mailbox(ctx, 9, "INBOX"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("unknown account's INBOX: %v", err)
	}
}

func TestCreateMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	e.takeChanges()

	if err := e.s.CreateMailbox(ctx, acct, "Work/2026/Q1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Work", "Work/2026", "Work/2026/Q1"} {
		mb := e.mailbox(t, acct, name)
		if mb.Subscribed || mb.Attr != "" || mb.UIDValidity == 0 || mb.Messages != 0 {
			t.Errorf("%s: %+v", name, mb)
		}
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeMailboxes {
		t.Errorf("changes %+v", c)
	}
	if err := e.s.CreateMailbox(ctx, acct, "Work/2026"); !errors.Is(err, ErrMailboxExists) {
		t.Errorf("create existing parent: %v", err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "inbox"); !errors.Is(err, ErrMailboxExists) {
		t.Errorf("create inbox: %v", err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "Sent"); !errors.Is(err, ErrMailboxExists) {
		t.Errorf("create Sent: %v", err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "a//b"); !errors.Is(err, ErrBadName) {
		t.Errorf("create a//b: %v", err)
	}
	// A child of INBOX, named in another case.
	if err := e.s.CreateMailbox(ctx, acct, "inbox/Later"); err != nil {
		t.Fatal(err)
	}
	e.mailbox(t, acct, "INBOX/Later")
	// Names are case-sensitive apart from INBOX.
	if err := e.s.CreateMailbox(ctx, acct, "work"); err != nil {
		t.Errorf("create work next to Work: %v", err)
	}
	// A new mailbox gets a new UIDVALIDITY, also under an old name.
	v1 := e.mailbox(t, acct, "work").UIDValidity
	if err := e.s.DeleteMailbox(ctx, acct, "work"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "work"); err != nil {
		t.Fatal(err)
	}
	if v2 := e.mailbox(t, acct, "work").UIDValidity; v2 == v1 {
		t.Errorf("recreated mailbox kept UIDVALIDITY %d", v1)
	}
}

func TestDeleteMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	for _, su := range SpecialUse {
		if err := e.s.DeleteMailbox(ctx, acct, su.Name); !errors.Is(err, ErrSpecialUse) {
			t.Errorf("delete %s: %v", su.Name, err)
		}
	}
	if err := e.s.DeleteMailbox(ctx, acct, "inbox"); !errors.Is(err, ErrSpecialUse) {
		t.Errorf("delete inbox: %v", err)
	}
	if err := e.s.DeleteMailbox(ctx, acct, "Nope"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("delete missing: %v", err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "Old/Child"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteMailbox(ctx, acct, "Old"); !errors.Is(err, ErrHasChildren) {
		t.Errorf("delete mailbox with children: %v", err)
	}
	e.append(t, acct, "Old/Child", simple("one", "1"))
	e.append(t, acct, "Old/Child", simple("two", "2"))
	if used, _, _ := e.s.Usage(ctx, acct); used == 0 {
		t.Fatal("no usage after appends")
	}
	blobs := e.blobFiles(t)
	e.takeChanges()
	if err := e.s.DeleteMailbox(ctx, acct, "Old/Child"); err != nil {
		t.Fatal(err)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeMailboxes {
		t.Errorf("changes %+v", c)
	}
	if _, err := e.s.Mailbox(ctx, acct, "Old/Child"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("deleted mailbox: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("%d messages left", n)
	}
	if used, _, _ := e.s.Usage(ctx, acct); used != 0 {
		t.Errorf("usage %d after delete", used)
	}
	// The bodies wait for garbage collection.
	if got := e.blobFiles(t); got != blobs {
		t.Errorf("%d blobs, want %d until CollectGarbage", got, blobs)
	}
	if err := e.s.DeleteMailbox(ctx, acct, "Old"); err != nil {
		t.Errorf("delete the now childless parent: %v", err)
	}
}

func TestRenameMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	for _, name := range []string{"Work/2026/Q1", "Work/2025", "Workshop"} {
		if err := e.s.CreateMailbox(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
	}
	uid := e.append(t, acct, "Work/2026", simple("q", "body"))
	before := e.mailbox(t, acct, "Work/2026")

	if err := e.s.RenameMailbox(ctx, acct, "Work", "Jobs/Old"); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		mbs, err := e.s.Mailboxes(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mb := range mbs {
			if mb.Attr == "" && mb.Name != "INBOX" {
				out = append(out, mb.Name)
			}
		}
		return out
	}
	if got, want := names(), []string{"Jobs", "Jobs/Old", "Jobs/Old/2025", "Jobs/Old/2026", "Jobs/Old/2026/Q1", "Workshop"}; !slices.Equal(got, want) {
		t.Errorf("after rename: %v, want %v", got, want)
	}
	after := e.mailbox(t, acct, "Jobs/Old/2026")
	if after.ID != before.ID || after.UIDValidity != before.UIDValidity || after.Messages != 1 || after.UIDNext != uid+1 {
		t.Errorf("renamed mailbox %+v, was %+v", after, before)
	}
	if byID, err := e.s.MailboxByID(ctx, before.ID); err != nil || byID != after {
		t.Errorf("MailboxByID = %+v, %v; want %+v", byID, err, after)
	}
	if _, err := e.s.MailboxByID(ctx, 424242); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("MailboxByID of a missing mailbox: %v", err)
	}

	for _, tt := range []struct {
		from, to string
		want     error
	}{
		{"Jobs", "Workshop", ErrMailboxExists},
		{"Jobs/Old", "Jobs", ErrMailboxExists},
		{"Jobs", "Jobs/Sub", ErrBadName},
		{"Jobs", "a//b", ErrBadName},
		{"Missing", "Other", ErrNoMailbox},
		{"Sent", "Sent2", ErrSpecialUse},
		{"Trash", "Bin", ErrSpecialUse},
		{"Workshop", "INBOX", ErrMailboxExists},
		{"Workshop", "inbox", ErrMailboxExists},
	} {
		if err := e.s.RenameMailbox(ctx, acct, tt.from, tt.to); !errors.Is(err, tt.want) {
			t.Errorf("rename %q to %q: %v, want %v", tt.from, tt.to, err, tt.want)
		}
	}
	// A rename whose child would collide fails as a whole.
	if err := e.s.CreateMailbox(ctx, acct, "Target/2025"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RenameMailbox(ctx, acct, "Jobs/Old", "Target"); !errors.Is(err, ErrMailboxExists) {
		t.Errorf("rename onto existing child: %v", err)
	}
	e.mailbox(t, acct, "Jobs/Old/2025")
}

func TestRenameInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	if err := e.s.CreateMailbox(ctx, acct, "INBOX/Keep"); err != nil {
		t.Fatal(err)
	}
	var uids []imap.UID
	for i := range 3 {
		uids = append(uids, e.append(t, acct, "INBOX", simple("m"+string(rune('a'+i)), "x"), imap.FlagSeen))
	}
	e.append(t, acct, "INBOX", simple("unseen", "x"))
	uids = append(uids, 4)
	in := e.mailbox(t, acct, "INBOX")
	e.takeChanges()

	if err := e.s.RenameMailbox(ctx, acct, "inbox", "Old mail/2025"); err != nil {
		t.Fatal(err)
	}
	old := e.mailbox(t, acct, "Old mail/2025")
	got, err := e.s.UIDs(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, uids) || old.Messages != 4 || old.Unseen != 1 || old.Size != in.Size || old.UIDNext != in.UIDNext {
		t.Errorf("new mailbox %+v with UIDs %v; INBOX was %+v with %v", old, got, in, uids)
	}
	if old.UIDValidity == in.UIDValidity {
		t.Error("new mailbox has INBOX's UIDVALIDITY")
	}
	in2 := e.mailbox(t, acct, "INBOX")
	if in2.ID != in.ID || in2.Messages != 0 || in2.Unseen != 0 || in2.Size != 0 || in2.UIDNext != in.UIDNext || in2.UIDValidity != in.UIDValidity || in2.HighestModSeq <= in.HighestModSeq {
		t.Errorf("INBOX after rename %+v, before %+v", in2, in)
	}
	e.mailbox(t, acct, "INBOX/Keep")
	e.mailbox(t, acct, "Old mail")
	// INBOX's UIDs are not reused.
	if uid := e.append(t, acct, "INBOX", simple("new", "x")); uid != in.UIDNext {
		t.Errorf("next INBOX UID %d, want %d", uid, in.UIDNext)
	}
	var kinds []ChangeKind
	for _, c := range e.takeChanges() {
		kinds = append(kinds, c.Kind)
		if c.Kind == ChangeExpunge && (c.MailboxID != in.ID || !slices.Equal(c.UIDs, uids)) {
			t.Errorf("expunge change %+v", c)
		}
	}
	if !slices.Equal(kinds, []ChangeKind{ChangeExpunge, ChangeMailboxes, ChangeAppend}) {
		t.Errorf("change kinds %v", kinds)
	}
	e.checkCounters(t)
}

func TestSetSubscribed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	if err := e.s.CreateMailbox(ctx, acct, "News"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetSubscribed(ctx, acct, "News", true); err != nil {
		t.Fatal(err)
	}
	if !e.mailbox(t, acct, "News").Subscribed {
		t.Error("not subscribed")
	}
	if err := e.s.SetSubscribed(ctx, acct, "inbox", false); err != nil {
		t.Fatal(err)
	}
	if e.mailbox(t, acct, "INBOX").Subscribed {
		t.Error("INBOX still subscribed")
	}
	if err := e.s.SetSubscribed(ctx, acct, "Nope", true); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("subscribe missing: %v", err)
	}
}
