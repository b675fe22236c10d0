package store

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// twoNodes returns two stores on one new database and one blob store, as
// two caucus nodes would have them.
func twoNodes(t *testing.T) [2]*Store {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	dbh := dbtest.Create(t)
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs")) // the blob store both nodes share
	if err != nil {
		t.Fatal(err)
	}
	var nodes [2]*Store
	for i := range nodes {
		d := dbh.Open(t)
		if err := d.Migrate(t.Context(), Component()); err != nil {
			t.Fatal(err)
		}
		nodes[i] = New(d, blobs, log, Options{})
	}
	return nodes
}

// TestTwoNodesQuota checks the quota across nodes: two APPENDs to one
// account through two nodes at once, each within the quota alone, over
// it together: one is refused with a [QuotaError] and the account never
// holds more than its quota, round after round.
func TestTwoNodesQuota(t *testing.T) {
	t.Parallel()
	ctx := ctxWithTimeout(t)
	nodes := twoNodes(t)
	const rounds = 20
	for r := range rounds {
		acct := int64(100 + r)
		raw := simple(fmt.Sprintf("round %02d", r), strings.Repeat("budget line ", 50))
		quota := int64(len(raw)) * 3 / 2
		if err := nodes[0].SetQuota(ctx, acct, quota); err != nil {
			t.Fatal(err)
		}
		if err := nodes[0].EnsureAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		var errs [len(nodes)]error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n, s := range nodes {
			wg.Go(func() {
				<-start
				_, _, errs[n] = s.Append(ctx, acct, "INBOX", strings.NewReader(raw), nil, time.Time{})
			})
		}
		close(start)
		wg.Wait()
		refused := 0
		for n, err := range errs {
			var qe *QuotaError
			switch {
			case errors.As(err, &qe):
				refused++
			case err != nil:
				t.Fatalf("round %d, node %d: %v", r, n, err)
			}
		}
		used, _, err := nodes[1].Usage(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		if refused != 1 || used > quota {
			t.Fatalf("round %d: %d of 2 appends refused, %d bytes stored of a %d-byte quota; want 1 refused, within the quota", r, refused, used, quota)
		}
	}
}

// TestTwoNodesAppend checks what several caucus nodes on one database
// rely on (issue 20): two stores, each with its own handle on the same
// database (two nodes on PostgreSQL, two processes on one SQLite file),
// APPENDing to the same mailbox at once give every message its own UID,
// ascending in the order each node appended (RFC 9051 2.3.1.1), and
// every message its own mod-sequence, from one sequence that ascends
// with the UIDs (RFC 7162 3.1.1: a mailbox's mod-sequences only grow).
// The mailbox's UIDNEXT, HIGHESTMODSEQ and counters match its messages
// on both nodes.
func TestTwoNodesAppend(t *testing.T) {
	t.Parallel()
	ctx := ctxWithTimeout(t)
	nodes := twoNodes(t)
	if err := nodes[0].EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}

	const perNode = 40
	var got [len(nodes)][]imap.UID
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n, s := range nodes {
		wg.Go(func() {
			<-start
			for i := range perNode {
				raw := simple(fmt.Sprintf("node %d message %d", n, i), strings.Repeat("minutes ", 10))
				_, uid, err := s.Append(ctx, 1, "INBOX", strings.NewReader(raw), nil, time.Time{})
				if err != nil {
					t.Errorf("node %d, append %d: %v", n, i, err)
					return
				}
				got[n] = append(got[n], uid)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	var all []imap.UID
	for n, uids := range got {
		for i := 1; i < len(uids); i++ {
			if uids[i] <= uids[i-1] {
				t.Errorf("node %d: append %d got UID %d after UID %d", n, i, uids[i], uids[i-1])
			}
		}
		all = append(all, uids...)
	}
	slices.Sort(all)
	for i, uid := range all {
		if uid != imap.UID(i+1) {
			t.Fatalf("the two nodes' UIDs, sorted: %v; want 1 to %d, each once", all, 2*perNode)
		}
	}

	inbox, err := nodes[1].Mailbox(ctx, 1, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	states, err := nodes[1].States(ctx, inbox.ID, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(all) {
		t.Fatalf("%d messages in the mailbox, want %d", len(states), len(all))
	}
	for i := 1; i < len(states); i++ {
		if states[i].ModSeq <= states[i-1].ModSeq {
			t.Errorf("UID %d has MODSEQ %d, UID %d has %d: not one ascending sequence", states[i-1].UID, states[i-1].ModSeq, states[i].UID, states[i].ModSeq)
		}
	}
	for n, s := range nodes {
		mb, err := s.Mailbox(ctx, 1, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if mb.UIDNext != imap.UID(2*perNode+1) || mb.HighestModSeq != states[len(states)-1].ModSeq || mb.Messages != 2*perNode {
			t.Errorf("node %d sees UIDNEXT %d, HIGHESTMODSEQ %d, %d messages; want %d, %d, %d",
				n, mb.UIDNext, mb.HighestModSeq, mb.Messages, 2*perNode+1, states[len(states)-1].ModSeq, 2*perNode)
		}
	}
	e := &env{db: nodes[0].db}
	e.checkCounters(t)
}
