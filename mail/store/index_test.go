package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestDeferredIndex checks that delivered messages wait for the full-text
// index (below a batch), that a search indexes them first and finds them,
// also after a restart has lost the parsed text kept in memory, and that
// garbage collection removes a waiting body.
func TestDeferredIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	for i := range 3 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("agenda %d", i), fmt.Sprintf("motion number %d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 3 {
		t.Fatalf("%d bodies wait for the index, want 3", got)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 0 {
		t.Fatalf("%d bodies indexed before any search, want 0", got)
	}
	inbox := e.mailbox(t, a, "INBOX").ID
	search := func(s *Store, c *imap.SearchCriteria, want ...imap.UID) {
		t.Helper()
		got, err := s.Search(ctx, inbox, c)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Search(%+v) = %v, %v; want %v", c, got, err, want)
		}
	}
	search(e.s, &imap.SearchCriteria{Body: []string{"number 1"}}, 2)
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 0 {
		t.Errorf("%d bodies wait after a search, want 0", got)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 3 {
		t.Errorf("%d bodies indexed after a search, want 3", got)
	}

	// A restart: a new Store has no parsed text in memory and reads the
	// bodies again.
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("budget", "treasurer report"))); err != nil {
		t.Fatal(err)
	}
	restarted := New(e.db, e.blobs, nil, Options{})
	search(restarted, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}}, 4)
	search(restarted, &imap.SearchCriteria{Body: []string{"re"}}, 4) // short: scans the indexed text

	// A waiting body that is expunged is collected with its waiting row.
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("spam", "buy now"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.StoreFlags(ctx, inbox, []imap.UID{5}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Expunge(ctx, inbox, []imap.UID{5}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CollectGarbage(ctx); err != nil { // marks it
		t.Fatal(err)
	}
	e.advance(2 * GCGrace)
	if n, err := e.s.CollectGarbage(ctx); err != nil || n != 1 {
		t.Fatalf("CollectGarbage = %d, %v; want 1", n, err)
	}
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 0 {
		t.Errorf("%d bodies wait after collecting the only one, want 0", got)
	}
	search(e.s, &imap.SearchCriteria{Body: []string{"buy now"}})
}

// TestDeferredIndexBatch checks that deliveries index the waiting bodies
// themselves once a batch has gathered.
func TestDeferredIndexBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	for i := range indexBatch + 1 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("note %d", i), "text"))); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != indexBatch {
		t.Errorf("%d bodies indexed without a search, want %d", got, indexBatch)
	}
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 1 {
		t.Errorf("%d bodies wait, want 1", got)
	}
}
