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

	"github.com/caucus-org/caucus/internal/blob"
)

// queuedWithin waits until n writes are queued for the group commit, at
// most a few seconds (a write that does not go through the group never
// queues there).
func (e *env) queuedWithin(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.s.group.Queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued for the group commit, want %d", e.s.group.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIMAPWritesGroup checks that the writes of IMAP sessions (APPEND,
// STORE, EXPUNGE) share the group commit with deliveries, so that
// concurrent sessions share a commit and its fsync: with the commit turn
// held, they all queue; released, each gets its own outcome (the APPEND
// over quota fails alone), its own change announcement with its own
// origin, and the counters stay exact. The appended messages are found by
// SEARCH, header and body, though their indexing was deferred.
func TestIMAPWritesGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a, full := e.account(t, 1), e.account(t, 2)
	old := []imap.UID{e.append(t, a, "INBOX", simple("old 1", "x")), e.append(t, a, "INBOX", simple("old 2", "x"), imap.FlagDeleted)}
	if err := e.s.SetQuota(ctx, full, 10); err != nil {
		t.Fatal(err)
	}
	inbox := e.mailbox(t, a, "INBOX")
	e.takeChanges()

	hold, err := e.s.group.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(hold)
	t.Cleanup(release)
	type outcome struct {
		uid imap.UID
		err error
	}
	var (
		wg      sync.WaitGroup
		appends [3]outcome
		overErr error
		stored  []imap.UID
		storeE  error
		gone    []imap.UID
		gotE    error
	)
	for i := range appends {
		wg.Go(func() {
			_, uid, err := e.s.Append(WithOrigin(ctx, fmt.Sprintf("append-%d", i)), a, "INBOX",
				strings.NewReader(simple(fmt.Sprintf("grouped append %d", i), fmt.Sprintf("bodyword%d", i))), nil, time.Time{})
			appends[i] = outcome{uid, err}
		})
	}
	wg.Go(func() {
		_, _, overErr = e.s.Append(ctx, full, "INBOX", strings.NewReader(simple("over quota", "x")), nil, time.Time{})
	})
	wg.Go(func() {
		stored, _, storeE = e.s.StoreFlags(WithOrigin(ctx, "store"), inbox.ID, old[:1], imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "$Work"}, 0)
	})
	wg.Go(func() {
		gone, gotE = e.s.Expunge(WithOrigin(ctx, "expunge"), inbox.ID, nil)
	})
	e.queuedWithin(t, len(appends)+3)
	release()
	wg.Wait()

	for i, o := range appends {
		if o.err != nil || o.uid == 0 {
			t.Fatalf("append %d: %d, %v", i, o.uid, o.err)
		}
	}
	if !errors.Is(overErr, ErrQuota) {
		t.Errorf("append over quota: %v, want ErrQuota", overErr)
	}
	if storeE != nil || !slices.Equal(stored, old[:1]) {
		t.Errorf("StoreFlags = %v, %v; want %v", stored, storeE, old[:1])
	}
	if gotE != nil || !slices.Equal(gone, old[1:]) {
		t.Errorf("Expunge = %v, %v; want %v", gone, gotE, old[1:])
	}
	e.checkCounters(t)
	if got := e.mailbox(t, a, "INBOX"); got.Messages != 1+uint32(len(appends)) || got.Unseen != uint32(len(appends)) {
		t.Errorf("INBOX has %d messages, %d unseen; want %d, %d", got.Messages, got.Unseen, 1+len(appends), len(appends))
	}
	origins := map[any]ChangeKind{}
	for _, c := range e.takeChanges() {
		origins[c.Origin] = c.Kind
	}
	want := map[any]ChangeKind{"append-0": ChangeAppend, "append-1": ChangeAppend, "append-2": ChangeAppend, "store": ChangeFlags, "expunge": ChangeExpunge}
	for o, k := range want {
		if origins[o] != k {
			t.Errorf("change from %v: kind %v, want %v (all: %v)", o, origins[o], k, origins)
		}
	}
	for i, o := range appends {
		for _, crit := range []imap.SearchCriteria{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: fmt.Sprintf("grouped append %d", i)}}},
			{Body: []string{fmt.Sprintf("bodyword%d", i)}},
		} {
			got, err := e.s.Search(ctx, inbox.ID, &crit)
			if err != nil || !slices.Equal(got, []imap.UID{o.uid}) {
				t.Errorf("search %+v: %v, %v; want [%d]", crit, got, err, o.uid)
			}
		}
	}
}

// TestSearchFindsJustAppended checks that the full-text indexing of an
// appended body is out of the commit (the commit that Append waits for,
// and every other session's STORE with it, carries no FTS5 work): when
// Append returns, the body waits in blob_unindexed; a SEARCH sent at once
// finds it by body, header and text, without writing anything (it checks
// the waiting bodies itself), and does not find it in another mailbox;
// the indexer then indexes it within moments, and a body appended again
// is not indexed twice.
func TestSearchFindsJustAppended(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	e.append(t, a, "INBOX", simple("older", "an indexed message")) // the index is not empty
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	raw := simple("quarterly ledger", "a distinctive bodyword")
	uid := e.append(t, a, "INBOX", raw)
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 1 {
		t.Errorf("%d appended bodies wait for the index after Append returned, want 1 (not indexed in the commit)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM message_text`); n != 1 {
		t.Errorf("%d bodies in the index, want 1 (the older one)", n)
	}
	inbox, drafts := e.mailbox(t, a, "INBOX").ID, e.mailbox(t, a, "Drafts").ID
	for _, c := range []imap.SearchCriteria{
		{Body: []string{"distinctive bodyword"}},
		{Text: []string{"quarterly ledger"}},
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "ledger"}}},
	} {
		got, err := e.s.Search(ctx, inbox, &c)
		if err != nil || !slices.Equal(got, []imap.UID{uid}) {
			t.Errorf("search %+v right after Append: %v, %v; want [%d]", c, got, err, uid)
		}
		if got, err := e.s.Search(ctx, drafts, &c); err != nil || len(got) != 0 {
			t.Errorf("search %+v in Drafts: %v, %v; want nothing", c, got, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 1 {
		t.Errorf("%d bodies wait after the searches, want 1 (a search below the bound writes nothing)", n)
	}

	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.s.RunIndexer(run); close(done) }()
	defer func() { stop(); <-done }()
	for e.count(t, `SELECT count(*) FROM blob_unindexed`) != 0 {
		if ctx.Err() != nil {
			t.Fatal("the indexer did not index the appended body")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.count(t, `SELECT count(*) FROM message_text`); n != 2 {
		t.Errorf("%d bodies in the index, want 2", n)
	}
	e.append(t, a, "Drafts", raw) // the same body again: one blob, indexed once
	if n := e.count(t, `SELECT count(*) FROM message_text`) + e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 2 {
		t.Errorf("%d bodies indexed or waiting after appending the same body again, want 2", n)
	}
	got, err := e.s.Search(ctx, inbox, &imap.SearchCriteria{Body: []string{"distinctive bodyword"}})
	if err != nil || !slices.Equal(got, []imap.UID{uid}) {
		t.Errorf("search after indexing: %v, %v; want [%d]", got, err, uid)
	}
}

// TestSearchStatements checks the bounded cache of search statements: a
// repeated search is prepared once, the cache never holds more than its
// bound however many texts clients make (here one per UID set), and
// searches running while it starts afresh still get their answers.
func TestSearchStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.account(t, 1)
	var uids []imap.UID
	for i := range 5 {
		uids = append(uids, e.append(t, a, "INBOX", simple(fmt.Sprintf("statement %d", i), "x")))
	}
	inbox := e.mailbox(t, a, "INBOX").ID
	subject := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "statement"}}}
	for range 3 {
		if got, err := e.s.Search(t.Context(), inbox, subject); err != nil || !slices.Equal(got, uids) {
			t.Fatalf("search: %v, %v; want %v", got, err, uids)
		}
	}
	if n := len(e.s.search.stmts); n != 1 {
		t.Errorf("%d statements cached after one search three times, want 1", n)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2 * maxSearchStmts {
				u := uids[(i+w)%len(uids)]
				crit := &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: u, Stop: u}}, {{Start: u, Stop: imap.UID(1000 + i)}}}}
				got, err := e.s.Search(t.Context(), inbox, crit)
				if err != nil || !slices.Equal(got, []imap.UID{u}) {
					t.Errorf("search UID %d (text %d): %v, %v", u, i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.s.search.mu.RLock()
	n := len(e.s.search.stmts)
	e.s.search.mu.RUnlock()
	if n > maxSearchStmts {
		t.Errorf("%d statements cached, more than the bound %d", n, maxSearchStmts)
	}
}

// TestWriteCancelledInGroup checks that a write whose caller goes away
// (its context ends: the IMAP client disconnected) while its job runs in
// a group transaction does not undo the other jobs of the group: its
// statements run with the group's context, not the caller's (the SQLite
// driver answers a statement context that ends mid-statement by
// interrupting the connection, which rolls back the whole transaction).
// A job the committer has taken runs to its end.
func TestWriteCancelledInGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	uid := e.append(t, a, "INBOX", simple("one", "x"))
	inbox := e.mailbox(t, a, "INBOX").ID

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var hookMu sync.Mutex
	e.s.testHookInWrite = func() {
		hookMu.Lock()
		defer hookMu.Unlock()
		if cctx.Err() == nil {
			cancel() // the first job's caller goes away as its job starts
			time.Sleep(50 * time.Millisecond)
		}
	}
	hold, err := e.s.group.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(hold)
	t.Cleanup(release)
	var wg sync.WaitGroup
	var cancelledErr, otherErr error
	wg.Go(func() {
		_, _, cancelledErr = e.s.StoreFlags(cctx, inbox, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged}, 0)
	})
	e.queuedWithin(t, 1)
	wg.Go(func() {
		_, _, otherErr = e.s.Append(ctx, a, "INBOX", strings.NewReader(simple("two", "y")), nil, time.Time{})
	})
	e.queuedWithin(t, 2)
	release()
	wg.Wait()
	if otherErr != nil {
		t.Errorf("the other write of the group: %v", otherErr)
	}
	if cancelledErr != nil {
		t.Errorf("the write whose caller went away once its job ran: %v, want it done with the group's context", cancelledErr)
	}
	if got := e.mailbox(t, a, "INBOX").Messages; got != 2 {
		t.Errorf("INBOX has %d messages, want 2", got)
	}
	e.checkCounters(t)
}

// TestStoreNoChangeNoWrite checks that a STORE that changes nothing (the
// flag is set already) answers from a read, without waiting for a group
// commit (here held, so that a write could not finish), and announces
// nothing; one that does change waits for the commit as before.
func TestStoreNoChangeNoWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.account(t, 1)
	uid := e.append(t, a, "INBOX", simple("seen", "x"), imap.FlagSeen)
	inbox := e.mailbox(t, a, "INBOX")
	e.takeChanges()
	hold, err := e.s.group.Hold(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(hold)
	t.Cleanup(release)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	changed, flags, err := e.s.StoreFlags(ctx, inbox.ID, []imap.UID{uid, uid + 100}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
	if err != nil || !slices.Equal(changed, []imap.UID{uid}) || len(flags) != 1 || !slices.Equal(flags[0], []imap.Flag{imap.FlagSeen}) {
		t.Fatalf("STORE +FLAGS (\\Seen) of a seen message = %v, %v, %v; want [%d], [[\\Seen]], nil without a commit", changed, flags, err, uid)
	}
	if c := e.takeChanges(); len(c) != 0 {
		t.Errorf("changes announced: %+v", c)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := e.s.StoreFlags(t.Context(), inbox.ID, []imap.UID{uid}, imap.StoreFlagsDel, []imap.Flag{imap.FlagSeen}, 0)
		done <- err
	}()
	e.queuedWithin(t, 1)
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.mailbox(t, a, "INBOX").Unseen; got != 1 {
		t.Errorf("%d unseen after -FLAGS (\\Seen), want 1", got)
	}
	e.checkCounters(t)
}

// TestConcurrentStoresShareCommits checks that the STOREs of n sessions
// sent at the same moment cost fewer commits (WAL syncs) than STOREs, and
// that none is answered before the commit holding it: while the commit
// turn is held no StoreFlags returns; released, the n STOREs commit
// together (the group's counters say how many commits) and each one's
// flags are in the database.
func TestConcurrentStoresShareCommits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const n = 8
	type session struct {
		mailbox int64
		uid     imap.UID
	}
	sessions := make([]session, n)
	for i := range sessions {
		a := e.account(t, int64(i+1))
		sessions[i] = session{e.mailbox(t, a, "INBOX").ID, e.append(t, a, "INBOX", simple(fmt.Sprintf("m %d", i), "x"))}
	}

	hold, err := e.s.group.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(hold)
	t.Cleanup(release)
	before := e.s.group.Stats()
	var answered sync.WaitGroup
	errs := make(chan error, n)
	for i, s := range sessions {
		answered.Go(func() {
			_, _, err := e.s.StoreFlags(ctx, s.mailbox, []imap.UID{s.uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged, imap.Flag(fmt.Sprintf("$s%d", i))}, 0)
			errs <- err
		})
	}
	e.queuedWithin(t, n)
	select {
	case err := <-errs:
		t.Fatalf("a STORE was answered (%v) before its commit", err)
	default:
	}
	release()
	answered.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := e.s.group.Stats()
	commits, jobs := got.Commits-before.Commits, got.Jobs-before.Jobs
	if jobs != n || commits >= n {
		t.Errorf("%d concurrent STOREs took %d commits carrying %d jobs, want fewer commits than STOREs", n, commits, jobs)
	}
	for i, s := range sessions {
		if c := e.count(t, `SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid = ? AND flags & ? != 0 AND keywords LIKE ?`,
			s.mailbox, s.uid, bitFlagged, fmt.Sprintf("%% $s%d %%", i)); c != 1 {
			t.Errorf("session %d: its STORE is not in the database", i)
		}
	}
}

// TestIndexerKeepsUpWithAppends checks that the indexer indexes an
// appended body while more appends keep telling it of theirs, more often
// than it gathers them (here a body it need not index, every millisecond):
// each new one must not put the indexing off again.
func TestIndexerKeepsUpWithAppends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IndexIdle = time.Hour }) // no quiet spell: only the appended bodies' path
	e.s.gather = time.Second                                     // put off for good by appends every millisecond, before the fix
	ctx := t.Context()
	a := e.account(t, 1)
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.s.RunIndexer(run); close(done) }()
	defer func() { stop(); <-done }()
	e.append(t, a, "INBOX", simple("steady", "appended while others are"))
	n := 0
	defer func() { t.Logf("indexed after %d more appends were told of", n) }()
	for i := 0; e.count(t, `SELECT count(*) FROM blob_unindexed`) != 0; i++ {
		if i == 3000 { // below maxUrgent, past which hurry no longer signals
			t.Fatal("the appended body was not indexed while 3000 more appends were told of")
		}
		e.s.index.hurry(-1, blob.Ref(fmt.Sprintf("%064d", i))) // no such body: skipped
		n = i
		time.Sleep(time.Millisecond)
	}
}
