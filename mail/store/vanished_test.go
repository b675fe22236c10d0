package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestVanished: every way a message leaves a mailbox (EXPUNGE, MOVE,
// RENAME of INBOX) is kept with a mod-sequence above the client's last
// known one, and only those above it are returned (RFC 7162 3.2.5).
func TestVanished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	ctx := t.Context()
	var uids []imap.UID
	for i := range 5 {
		uids = append(uids, e.append(t, acct, "INBOX", fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), imap.FlagDeleted))
	}
	in := e.mailbox(t, acct, "INBOX")
	known := in.HighestModSeq
	if got, complete, err := e.s.Vanished(ctx, in.ID, known); err != nil || len(got) != 0 || !complete {
		t.Fatalf("before any expunge: %v %v %v", got, complete, err)
	}
	if _, err := e.s.Expunge(ctx, in.ID, uids[:2]); err != nil {
		t.Fatal(err)
	}
	afterExpunge := e.mailbox(t, acct, "INBOX").HighestModSeq
	if err := e.s.CreateMailbox(ctx, acct, "Projects"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.s.Move(ctx, in.ID, uids[2:3], acct, "Projects"); err != nil {
		t.Fatal(err)
	}
	got, complete, err := e.s.Vanished(ctx, in.ID, known)
	if err != nil || !complete || !slices.Equal(got, uids[:3]) {
		t.Errorf("Vanished since %d = %v, %v, %v; want %v, complete", known, got, complete, err, uids[:3])
	}
	if got, _, _ := e.s.Vanished(ctx, in.ID, afterExpunge); !slices.Equal(got, uids[2:3]) {
		t.Errorf("Vanished since the expunge = %v, want only the moved %v", got, uids[2:3])
	}
	if got, _, _ := e.s.Vanished(ctx, in.ID, e.mailbox(t, acct, "INBOX").HighestModSeq); len(got) != 0 {
		t.Errorf("Vanished since now = %v, want none", got)
	}
	before := e.mailbox(t, acct, "INBOX").HighestModSeq
	if err := e.s.RenameMailbox(ctx, acct, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.s.Vanished(ctx, in.ID, before); !slices.Equal(got, uids[3:]) {
		t.Errorf("after RENAME INBOX: Vanished = %v, want %v", got, uids[3:])
	}
	old := e.mailbox(t, acct, "Old")
	if got, _, _ := e.s.Vanished(ctx, old.ID, 0); len(got) != 0 {
		t.Errorf("the renamed-to mailbox has vanished UIDs %v", got)
	}
	if _, err := e.s.Expunge(ctx, old.ID, nil); err != nil { // all \Deleted: the mailbox has vanished UIDs now
		t.Fatal(err)
	}
	if err := e.s.DeleteMailbox(ctx, acct, "Old"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM mail_vanished WHERE mailbox_id NOT IN (SELECT id FROM mailboxes)`); n != 0 {
		t.Errorf("%d expunged UIDs kept for deleted mailboxes", n)
	}
}

// TestVanishedRetention: beyond Options.VanishedKeep expunged UIDs per
// mailbox the oldest are pruned at garbage collection, and a client that
// synchronised before them is told the record is incomplete.
func TestVanishedRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.VanishedKeep = 3 })
	acct := e.account(t, 1)
	ctx := t.Context()
	in := e.mailbox(t, acct, "INBOX")
	start := in.HighestModSeq
	var uids []imap.UID
	var before []uint64 // the mailbox's modseq before each expunge
	for i := range 5 {
		u := e.append(t, acct, "INBOX", fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), imap.FlagDeleted)
		uids = append(uids, u)
		before = append(before, e.mailbox(t, acct, "INBOX").HighestModSeq)
		if _, err := e.s.Expunge(ctx, in.ID, []imap.UID{u}); err != nil { // one modseq each
			t.Fatal(err)
		}
	}
	if _, err := e.s.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM mail_vanished WHERE mailbox_id = ?`, in.ID); n != 3 {
		t.Errorf("%d expunged UIDs kept, want 3", n)
	}
	if _, complete, _ := e.s.Vanished(ctx, in.ID, start); complete {
		t.Error("Vanished since before the pruned ones says complete")
	}
	got, complete, err := e.s.Vanished(ctx, in.ID, before[2])
	if err != nil || !complete || !slices.Equal(got, uids[2:]) {
		t.Errorf("Vanished within what is kept = %v, %v, %v; want %v, complete", got, complete, err, uids[2:])
	}
}

// TestChangedSince: CONDSTORE's view of flag changes (RFC 7162 3.1.4.1).
func TestChangedSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	ctx := t.Context()
	a := e.append(t, acct, "INBOX", "Subject: a\r\n\r\nx\r\n")
	b := e.append(t, acct, "INBOX", "Subject: b\r\n\r\nx\r\n")
	in := e.mailbox(t, acct, "INBOX")
	if _, _, err := e.s.StoreFlags(ctx, in.ID, []imap.UID{b}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "$Work"}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.ChangedSince(ctx, in.ID, in.HighestModSeq)
	if err != nil || len(got) != 1 || got[0].UID != b || !slices.Contains(got[0].Flags, "$Work") || got[0].ModSeq <= in.HighestModSeq {
		t.Errorf("ChangedSince = %+v, %v; want only %d with its new flags", got, err, b)
	}
	st, err := e.s.States(ctx, in.ID, []imap.UID{a, b, 999})
	if err != nil || len(st) != 2 || st[0].UID != a || st[1].ModSeq != got[0].ModSeq {
		t.Errorf("States = %+v, %v", st, err)
	}
	if ch := e.takeChanges(); ch[len(ch)-1].Kind != ChangeFlags || ch[len(ch)-1].ModSeq != got[0].ModSeq {
		t.Errorf("flag change announced with modseq %d, want %d", ch[len(ch)-1].ModSeq, got[0].ModSeq)
	}
}

// BenchmarkExpunge50 times the expunge of 50 messages with the triggers
// that record expunged UIDs for QRESYNC ("recorded") and without them
// ("unrecorded", the triggers dropped), side by side.
func BenchmarkExpunge50(b *testing.B) {
	for _, mode := range []string{"recorded", "unrecorded"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			if mode == "unrecorded" {
				for _, tr := range []string{"mail_vanished_delete", "mail_vanished_move", "mail_vanished_mailbox"} {
					if _, err := e.db.ExecContext(b.Context(), "DROP TRIGGER "+tr); err != nil {
						b.Fatal(err)
					}
				}
			}
			acct := e.account(b, 1)
			in := e.mailbox(b, acct, "INBOX")
			for b.Loop() {
				b.StopTimer()
				uids := make([]imap.UID, 50)
				for i := range uids {
					uids[i] = e.append(b, acct, "INBOX", fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), imap.FlagDeleted)
				}
				b.StartTimer()
				if _, err := e.s.Expunge(b.Context(), in.ID, uids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
