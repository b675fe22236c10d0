package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestRemoveEverywhere removes a reported message from every account and
// mailbox it reached, and only it: not a message that copies its
// Message-ID under another From (what a phisher would do to have a real
// message removed with theirs), not the accounts' other mail.
func TestRemoveEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	phish := crlf("From: \"Party Leader\" <Leader@Evil.example>\nTo: all@example.org\nSubject: urgent\nMessage-ID: <p1@evil.example>\n\nsend the list\n")
	// The real message whose Message-ID the phisher copied.
	real := crlf("From: Leader <leader@example.org>\nTo: all@example.org\nSubject: hello\nMessage-ID: <p1@evil.example>\n\nhi\n")
	a, b, c := e.account(t, 1), e.account(t, 2), e.account(t, 3)
	if err := e.s.CreateMailbox(ctx, b, "Campaign"); err != nil {
		t.Fatal(err)
	}
	e.append(t, a, "INBOX", simple("keep a", "x"))
	pa := e.append(t, a, "INBOX", phish)
	pb := e.append(t, b, "Campaign", phish, imap.FlagSeen)
	pb2 := e.append(t, b, "INBOX", phish)
	e.append(t, c, "INBOX", real)
	e.takeChanges()

	m := Match{MessageID: "<p1@evil.example>", From: "leader@evil.example"}
	found, err := e.s.FindEverywhere(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{
		{AccountID: a, MailboxID: e.mailbox(t, a, "INBOX").ID, Mailbox: "INBOX", UID: pa},
		{AccountID: b, MailboxID: e.mailbox(t, b, "INBOX").ID, Mailbox: "INBOX", UID: pb2},
		{AccountID: b, MailboxID: e.mailbox(t, b, "Campaign").ID, Mailbox: "Campaign", UID: pb},
	}
	slices.SortFunc(want, func(x, y Found) int { return int(x.MailboxID - y.MailboxID) })
	if !slices.Equal(found, want) {
		t.Fatalf("FindEverywhere = %+v, want %+v", found, want)
	}
	// Tracing by Message-ID alone finds the real message too.
	if all, err := e.s.FindEverywhere(ctx, Match{MessageID: "p1@evil.example"}); err != nil || len(all) != 4 {
		t.Errorf("FindEverywhere by Message-ID only = %d copies, %v; want 4", len(all), err)
	}
	removed, err := e.s.RemoveEverywhere(ctx, m)
	if err != nil || !slices.Equal(removed, want) {
		t.Fatalf("RemoveEverywhere = %+v, %v; want %+v", removed, err, want)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 2 {
		t.Errorf("%d messages left, want 2 (a's other message and c's real one)", n)
	}
	if again, err := e.s.FindEverywhere(ctx, m); err != nil || len(again) != 0 {
		t.Errorf("found again: %+v %v", again, err)
	}
	if cm := e.mailbox(t, c, "INBOX"); cm.Messages != 1 {
		t.Errorf("the real message was removed: %+v", cm)
	}
	changes := e.takeChanges()
	if len(changes) != 3 {
		t.Fatalf("changes %+v, want one expunge per mailbox", changes)
	}
	for _, ch := range changes {
		if ch.Kind != ChangeExpunge || len(ch.UIDs) != 1 {
			t.Errorf("change %+v", ch)
		}
	}
	e.checkCounters(t)
	// QRESYNC clients learn the removed UIDs as vanished.
	inbox := e.mailbox(t, a, "INBOX")
	if v, _, err := e.s.Vanished(ctx, inbox.ID, 0); err != nil || !slices.Contains(v, pa) {
		t.Errorf("Vanished = %v, %v; want %d among them", v, err, pa)
	}
}

func TestRemoveEverywhereNeedsBoth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, m := range []Match{{MessageID: "x@y"}, {From: "a@b"}, {MessageID: "<>", From: "a@b"}, {MessageID: "x@y", From: "nobody"}} {
		if _, err := e.s.RemoveEverywhere(t.Context(), m); !errors.Is(err, ErrBadMatch) {
			t.Errorf("RemoveEverywhere(%+v) = %v, want ErrBadMatch", m, err)
		}
	}
}
