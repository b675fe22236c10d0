package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// queued waits until n deliveries are queued for the group commit.
func (e *env) queued(n int) {
	for e.s.group.Queued() < n {
		time.Sleep(time.Millisecond)
	}
}

// TestDeliverGroup holds the commit turn while deliveries queue, so that
// they are committed in one group: each gets its own UID and change
// announcement with its own origin, and the one that would go over quota
// fails alone.
func TestDeliverGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	good, full := e.account(t, 1), e.account(t, 2)
	if err := e.s.SetQuota(ctx, full, 10); err != nil {
		t.Fatal(err)
	}
	e.takeChanges()

	const n = 8
	release, err := e.s.group.Hold(ctx) // nobody commits until released
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		uids map[int64]imap.UID
		err  error
	}
	results := make([]result, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			octx := WithOrigin(ctx, fmt.Sprintf("session-%d", i))
			uids, err := e.s.Deliver(octx, []int64{good}, strings.NewReader(simple(fmt.Sprintf("grouped %d", i), "body")))
			results[i] = result{uids, err}
		})
	}
	wg.Go(func() {
		uids, err := e.s.Deliver(ctx, []int64{good, full}, strings.NewReader(simple("too big for 2", "body")))
		results[n] = result{uids, err}
	})
	e.queued(n + 1)
	release()
	wg.Wait()

	var uids []imap.UID
	for i, r := range results[:n] {
		if r.err != nil {
			t.Fatalf("delivery %d: %v", i, r.err)
		}
		uids = append(uids, r.uids[good])
	}
	slices.Sort(uids)
	for i, u := range uids {
		if u != imap.UID(i+1) {
			t.Fatalf("UIDs %v, want 1..%d", uids, n)
		}
	}
	if !errors.Is(results[n].err, ErrQuota) {
		t.Errorf("delivery over quota: %v, want ErrQuota", results[n].err)
	}
	if got := e.mailbox(t, good, "INBOX").Messages; got != n {
		t.Errorf("INBOX has %d messages, want %d (the failed delivery rolled back alone)", got, n)
	}
	e.checkCounters(t)
	// The group's index rows, written in each delivery's savepoint, find
	// each message, and not the rolled-back one.
	inboxID := e.mailbox(t, good, "INBOX").ID
	for i, r := range results[:n] {
		got, err := e.s.Search(ctx, inboxID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: fmt.Sprintf("grouped %d", i)}}})
		if err != nil || !slices.Equal(got, []imap.UID{r.uids[good]}) {
			t.Errorf("search for grouped %d: %v, %v; want [%d]", i, got, err, r.uids[good])
		}
	}
	if got, err := e.s.Search(ctx, inboxID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "too big"}}}); err != nil || len(got) != 0 {
		t.Errorf("search for the failed delivery: %v, %v; want nothing", got, err)
	}
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, `SELECT count(*) FROM message_text`); got != n {
		t.Errorf("%d bodies indexed, want %d", got, n)
	}
	changes := e.takeChanges()
	if len(changes) != n {
		t.Fatalf("%d changes announced, want %d", len(changes), n)
	}
	for _, c := range changes {
		i := slices.IndexFunc(results[:n], func(r result) bool { return r.uids[good] == c.UIDs[0] })
		if c.Kind != ChangeAppend || c.AccountID != good || i < 0 || c.Origin != any(fmt.Sprintf("session-%d", i)) {
			t.Errorf("change %+v: not the append of the delivery from session-%d", c, i)
		}
	}
	if got := e.count(t, `SELECT count(*) FROM blob_orphans`); got != 1 {
		t.Errorf("%d blobs noted as orphans, want the failed delivery's 1", got)
	}
}

// TestDeliverGroupCancelled checks that a delivery whose context ends while
// it waits for its group is withdrawn and stores nothing.
func TestDeliverGroupCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.account(t, 1)
	release, err := e.s.group.Hold(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := e.s.Deliver(ctx, []int64{good}, strings.NewReader(simple("cancelled", "body")))
		errc <- err
	}()
	e.queued(1)
	cancel()
	err = <-errc
	release()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver = %v, want context.Canceled", err)
	}
	if got := e.mailbox(t, good, "INBOX").Messages; got != 0 {
		t.Errorf("INBOX has %d messages, want 0", got)
	}
	if _, err := e.s.Deliver(t.Context(), []int64{good}, strings.NewReader(simple("after", "body"))); err != nil {
		t.Errorf("delivery after a withdrawn one: %v", err)
	}
}
