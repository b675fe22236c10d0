package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// headerFixtures makes account 1's INBOX of three messages, one with
// "quorum" in its subject, and account 2's INBOX of 40 messages that all
// have it, and indexes every body: the index lists far more bodies with
// the string than account 1 has.
func headerFixtures(t *testing.T) (e *env, small, large Mailbox) {
	t.Helper()
	e = newEnv(t)
	a1, a2 := e.account(t, 1), e.account(t, 2)
	for _, subject := range []string{"budget", "quorum call", "minutes"} {
		e.append(t, a1, "INBOX", simple(subject, "text of "+subject))
	}
	for i := range 40 {
		e.append(t, a2, "INBOX", simple(fmt.Sprintf("quorum %d", i), "other text"))
	}
	if err := e.s.indexPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e, e.mailbox(t, a1, "INBOX"), e.mailbox(t, a2, "INBOX")
}

// emptyHeaderIndex removes every entry of the header index.
func emptyHeaderIndex(t *testing.T, e *env) {
	t.Helper()
	q := `INSERT INTO message_headers (message_headers) VALUES ('delete-all')`
	if e.db.Engine() == db.Postgres {
		q = `DELETE FROM message_headers`
	}
	d := e.db
	if d.Index() != nil {
		d = d.Index() // SQLite: the index is in the index file
	}
	if _, err := d.ExecContext(t.Context(), q); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderSearchOwnMailbox: a header search of a small mailbox costs
// what the mailbox holds, not what the index holds (every account's
// bodies, and the expunged ones until GC): it checks the header fields
// cached when the bodies were stored, reading neither the bodies nor the
// index. Before the header cache, the search read each candidate's body
// (here 1), and with the index emptied it found nothing.
func TestHeaderSearchOwnMailbox(t *testing.T) {
	t.Parallel()
	e, small, _ := headerFixtures(t)
	search := func() []imap.UID {
		t.Helper()
		uids, err := e.s.Search(t.Context(), small.ID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "Quorum"}}})
		if err != nil {
			t.Fatal(err)
		}
		return uids
	}
	counting := &countingBlobs{Store: e.s.blobs}
	e.s.blobs = counting
	if got := search(); !slices.Equal(got, []imap.UID{2}) {
		t.Fatalf("SUBJECT quorum found %v, want [2]", got)
	}
	if n := counting.open.Load(); n != 0 {
		t.Errorf("the search opened %d bodies, want 0 (their header fields are cached)", n)
	}
	emptyHeaderIndex(t, e)
	if got := search(); !slices.Equal(got, []imap.UID{2}) {
		t.Errorf("with the header index emptied, SUBJECT quorum found %v, want [2]: the search asked the index", got)
	}
}

// TestHeaderScanBounds: a mailbox larger than Store.headerScan, or with
// more than maxHeaderScanUncached bodies missing from the cache, is
// searched through the index (emptied here, so that the path taken
// shows in the result), and a search that reads bodies caches their
// fields.
func TestHeaderScanBounds(t *testing.T) {
	t.Parallel()
	e, small, large := headerFixtures(t)
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "quorum"}}}
	emptyHeaderIndex(t, e)

	e.s.headerScan = 2 // below the 3 messages of small
	if got, err := e.s.Search(t.Context(), small.ID, crit); err != nil || len(got) != 0 {
		t.Errorf("over headerScan: found %v, %v; want nothing (the emptied index)", got, err)
	}
	e.s.headerScan = maxHeaderScan

	e.s.headers = newHeaderCache(defaultHeaderCache) // 40 bodies uncached
	if got, err := e.s.Search(t.Context(), large.ID, crit); err != nil || len(got) != 0 {
		t.Errorf("40 bodies uncached: found %v, %v; want nothing (the emptied index)", got, err)
	}
	if got, err := e.s.Search(t.Context(), small.ID, crit); err != nil || !slices.Equal(got, []imap.UID{2}) {
		t.Errorf("3 bodies uncached: found %v, %v; want [2] (read from the bodies)", got, err)
	}
	if _, n := e.s.headers.bytes(); n != 3 {
		t.Errorf("the cache holds %d entries after reading 3 bodies' headers, want 3", n)
	}
}

// TestHeaderCacheLimit: the cache keeps within its byte limit by
// dropping the least recently used entries, and does not keep an entry
// larger than the limit.
func TestHeaderCacheLimit(t *testing.T) {
	t.Parallel()
	fields := func(n int) []headerField {
		return []headerField{{name: "subject", value: strings.Repeat("x", n)}}
	}
	ref := func(i int) blob.Ref { return blob.Ref(fmt.Sprintf("%064x", i)) }
	one := int64(headerEntryOverhead + 64 + len("subject") + 100 + 32)
	c := newHeaderCache(3*one + one/2) // room for three
	for i := range 3 {
		c.put(ref(i), fields(100))
	}
	if _, ok := c.get(ref(0)); !ok { // 0 is now the most recently used
		t.Fatal("entry 0 missing before the limit was reached")
	}
	c.put(ref(3), fields(100))
	if size, n := c.bytes(); size > c.limit || n != 3 {
		t.Errorf("%d bytes in %d entries, want at most %d in 3", size, n, c.limit)
	}
	for i, want := range []bool{true, false, true, true} {
		if c.has(ref(i)) != want {
			t.Errorf("entry %d cached: %v, want %v (1 was the least recently used)", i, !want, want)
		}
	}
	c.put(ref(4), fields(int(c.limit)))
	if c.has(ref(4)) || !c.has(ref(3)) {
		t.Error("an entry over the whole limit was kept, or pushed the others out")
	}
	if newHeaderCache(-1) != nil {
		t.Error("a negative limit made a cache")
	}
}
