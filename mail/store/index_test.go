package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestDeferredIndex checks that delivered messages wait for the full-text
// index (below a batch), that a search finds them by checking the waiting
// bodies itself, without writing, and past Store.maxPending waiting bodies
// indexes them first; also after a restart has lost the parsed text kept
// in memory; and that garbage collection removes a waiting body.
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
	search(e.s, &imap.SearchCriteria{Text: []string{"agenda 2"}}, 3)
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 3 {
		t.Errorf("%d bodies wait after a search below the bound, want 3 (the search checks them)", got)
	}
	e.s.maxPending = 2
	search(e.s, &imap.SearchCriteria{Body: []string{"number 1"}}, 2)
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 0 {
		t.Errorf("%d bodies wait after a search past the bound, want 0", got)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 3 {
		t.Errorf("%d bodies indexed after a search past the bound, want 3", got)
	}

	// A restart: a new Store has no parsed text in memory and reads the
	// bodies again.
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("budget", "treasurer report"))); err != nil {
		t.Fatal(err)
	}
	restarted := New(e.db, e.blobs, nil, Options{})
	search(restarted, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}}, 4)
	search(restarted, &imap.SearchCriteria{Body: []string{"re"}}, 4) // short: scans the indexed text
	if err := restarted.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	search(restarted, &imap.SearchCriteria{Body: []string{"treasurer"}}, 4)

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

// TestDeferredIndexBacklog checks that deliveries index the waiting
// bodies themselves once more than Options.IndexBacklog wait, and not before.
func TestDeferredIndexBacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IndexBacklog = 3 })
	ctx := t.Context()
	a := e.account(t, 1)
	sent := 0
	deliver := func(n int) {
		t.Helper()
		for range n {
			sent++
			if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("note %d", sent), "text"))); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(3)
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 0 {
		t.Errorf("%d bodies indexed at the backlog bound, want 0", got)
	}
	deliver(1)
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 4 {
		t.Errorf("%d bodies indexed past the backlog bound, want 4", got)
	}
	deliver(3)
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != 3 {
		t.Errorf("%d bodies wait, want 3", got)
	}
}

// TestRunIndexer checks that the background indexer indexes delivered
// bodies once mail is quiet, and that it leaves the turn to a queued
// delivery and tries again at the next quiet spell.
func TestRunIndexer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IndexIdle = time.Millisecond })
	ctx := t.Context()
	a := e.account(t, 1)

	// A delivery waits in the queue while the indexer has the turn: the
	// indexer yields to it.
	<-e.s.index.wake // the wake-up New gives for bodies from before a restart
	release, err := e.s.group.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan error, 1)
	go func() {
		_, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("waiting", "text")))
		delivered <- err
	}()
	e.queued(1)
	if more, err := e.s.indexQuiet(ctx); err != nil || more {
		t.Fatalf("indexQuiet with a delivery waiting: more %v, %v", more, err)
	}
	select {
	case <-e.s.index.wake:
	default:
		t.Error("the indexer did not wake itself again after yielding to a delivery")
	}
	release()
	if err := <-delivered; err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 0 {
		t.Fatalf("%d bodies indexed while a delivery waited, want 0", got)
	}

	for i := range indexBatch + 5 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("minutes %d", i), "text"))); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 0 {
		t.Fatalf("%d bodies indexed before the indexer ran, want 0", got)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.s.RunIndexer(run); close(done) }()
	defer func() { stop(); <-done }()
	for e.count(t, `SELECT count(*) FROM blob_unindexed`) != 0 {
		if ctx.Err() != nil {
			t.Fatal("the indexer did not index the waiting bodies")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != indexBatch+6 {
		t.Errorf("%d bodies indexed, want %d", got, indexBatch+6)
	}

	// With the indexer running, a search still finds what was just
	// delivered.
	for i := range 20 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("late %d", i), "quorum reached"))); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.Search(ctx, e.mailbox(t, a, "INBOX").ID, &imap.SearchCriteria{Body: []string{"quorum"}})
		if err != nil || len(got) != i+1 {
			t.Fatalf("after %d deliveries: Search = %v, %v; want %d messages", i+1, got, err, i+1)
		}
	}
}

// TestIndexQuietYieldsMidBatch: a delivery that queues while the indexer
// works through a batch waits for one body, not the batch (on PostgreSQL
// 256 bodies held the write lock, and every delivery of every node, for
// seconds): the indexer commits what it did and leaves the rest for the
// next quiet spell.
func TestIndexQuietYieldsMidBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Index() != nil {
		t.Skip("SQLite: the index file has its own write lock, the indexer yields to nothing (TestIndexBesideFlagChange)")
	}
	ctx := t.Context()
	a := e.account(t, 1)
	const n = 10
	for i := range n {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("minutes %d", i), "text"))); err != nil {
			t.Fatal(err)
		}
	}
	release, err := e.s.group.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan error, 1)
	e.s.testHookIndexed = func() {
		e.s.testHookIndexed = nil
		go func() {
			_, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("waiting", "text")))
			delivered <- err
		}()
		e.queued(1)
	}
	more, err := e.s.indexQuiet(ctx)
	if err != nil || !more {
		t.Errorf("indexQuiet with a delivery queued mid-batch: more %v, %v; want more", more, err)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != 1 {
		t.Errorf("%d bodies indexed before yielding, want 1", got)
	}
	release()
	if err := <-delivered; err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, `SELECT count(*) FROM blob_unindexed`); got != n {
		t.Errorf("%d bodies wait for the index, want %d", got, n)
	}
}
