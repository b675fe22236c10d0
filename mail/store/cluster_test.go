package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"github.com/emersion/go-imap/v2"
)

// clusterPair starts a PostgreSQL cluster and returns the buses of two
// nodes on one database, both listening.
func clusterPair(t *testing.T) (a, b *ClusterChanges, da *db.DB) {
	t.Helper()
	nodes := pgtest.Nodes(t, 2)
	da = nodes[0]
	a, b = NewClusterChanges(da, "A", nil, nil), NewClusterChanges(nodes[1], "B", nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, c := range []*ClusterChanges{a, b} {
		ready := make(chan struct{})
		wg.Go(func() { c.Run(ctx, ready) })
		<-ready
	}
	return a, b, da
}

// collect subscribes to c and returns what arrives.
func collect(t *testing.T, c *ClusterChanges) <-chan Change {
	got := make(chan Change, 64)
	t.Cleanup(c.Subscribe(func(ch Change) { got <- ch }))
	return got
}

// TestClusterChanges sends a delivery of 3000 messages (several
// notifications' worth) and a flag change from node A and checks that
// node B's subscribers get every UID in order and the flags, that A's own
// subscribers get each change once, and that B ignores what it cannot
// read.
func TestClusterChanges(t *testing.T) {
	a, b, da := clusterPair(t)
	onA, onB := collect(t, a), collect(t, b)
	var uids []imap.UID
	for i := range 3000 {
		uids = append(uids, imap.UID(1_000_000+i))
	}
	a.Publish(Change{Kind: ChangeAppend, AccountID: 7, MailboxID: 9, UIDs: uids, Origin: "session"})
	if ch := <-onA; len(ch.UIDs) != len(uids) || ch.Origin != "session" {
		t.Fatalf("A's own subscriber got %d UIDs, origin %v", len(ch.UIDs), ch.Origin)
	}
	var seen []imap.UID
	for len(seen) < len(uids) {
		select {
		case ch := <-onB:
			if ch.Kind != ChangeAppend || ch.AccountID != 7 || ch.MailboxID != 9 || ch.Origin != nil {
				t.Fatalf("B got %+v", ch)
			}
			seen = append(seen, ch.UIDs...)
		case <-time.After(30 * time.Second):
			t.Fatalf("B got %d of %d UIDs", len(seen), len(uids))
		}
	}
	if !slices.Equal(seen, uids) {
		t.Fatal("B got the UIDs out of order or changed")
	}
	// Unreadable and malformed notifications are dropped, and what follows
	// still arrives.
	for _, p := range []string{"{", `{"n":"X","b":"{"}`, `{"n":"X","b":{"k":2,"a":1,"u":[1,2],"f":[["\\Seen"]]}}`} {
		if err := da.Notify(t.Context(), changesChannel, p); err != nil {
			t.Fatal(err)
		}
	}
	a.Publish(Change{Kind: ChangeFlags, AccountID: 7, MailboxID: 9, UIDs: []imap.UID{5}, Flags: [][]imap.Flag{{imap.FlagSeen, "$Label1"}}, ModSeq: 42})
	<-onA
	select {
	case ch := <-onB:
		if ch.Kind != ChangeFlags || ch.ModSeq != 42 || !slices.Equal(ch.Flags[0], []imap.Flag{imap.FlagSeen, "$Label1"}) {
			t.Fatalf("B got %+v", ch)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B never got the flag change")
	}
	select {
	case ch := <-onA:
		t.Fatalf("A got a change twice: %+v", ch)
	default:
	}
}

// FuzzClusterReceive feeds any payload to a node's receiver: it never
// panics, and whatever it hands on has as many flag lists as UIDs.
func FuzzClusterReceive(f *testing.F) {
	f.Add(`{"k":1,"a":1,"m":2,"u":[1,2,3]}`)
	f.Add(`{"k":2,"a":1,"u":[1],"f":[["\\Seen"]],"s":9}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, payload string) {
		c := NewClusterChanges(&db.DB{}, "A", nil, nil)
		c.Subscribe(func(ch Change) {
			if len(ch.Flags) != 0 && len(ch.Flags) != len(ch.UIDs) {
				t.Fatalf("handed on %+v", ch)
			}
		})
		c.receive([]byte(payload))
	})
}
