package store

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// The header cache keeps, per stored body, the header fields a search
// checks (indexHeader's decoded, folded values), so that a HEADER search
// (FROM, TO, CC, BCC, SUBJECT, HEADER) checks them in memory instead of
// opening each candidate's body in the blob store. Bodies are
// content-addressed and never change, so an entry is never stale: it is
// dropped only to stay within its bound, least recently used first.
//
// It also lets a header search of a small mailbox go through the
// mailbox's messages alone, without the full-text index
// (Store.matchHeadersScan): the index lists every account's bodies, and
// the expunged ones until garbage collection, so the lists of a string
// that most header fields have (a domain, a name in every To:) grow with
// everything ever stored, and reading them was the tail of SEARCH under
// a steady load (BenchmarkSearchSteady "SUBJECT common").

// defaultHeaderCache is how many bytes of header fields the cache holds
// by default: about 10,000 messages' worth.
const defaultHeaderCache = 16 << 20

// headerEntryOverhead is what an entry costs besides its strings.
const headerEntryOverhead = 96

// maxHeaderScan is how many messages a mailbox has at most for a header
// search to check each of them rather than ask the index.
const maxHeaderScan = 1000

// headerCache is a bounded cache of blob → header fields.
type headerCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	lru   *list.List // of *headerEntry, most recently used first
	byRef map[blob.Ref]*list.Element
}

type headerEntry struct {
	ref    blob.Ref
	fields []headerField
	size   int64
}

// newHeaderCache returns a cache of at most limit bytes; nil (no cache)
// if limit is negative.
func newHeaderCache(limit int64) *headerCache {
	if limit < 0 {
		return nil
	}
	return &headerCache{limit: limit, lru: list.New(), byRef: map[blob.Ref]*list.Element{}}
}

// get returns the fields of ref, if cached.
func (c *headerCache) get(ref blob.Ref) ([]headerField, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byRef[ref]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*headerEntry).fields, true
}

// has reports whether ref is cached, without using it.
func (c *headerCache) has(ref blob.Ref) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byRef[ref]
	return ok
}

// put caches the fields of ref, dropping the least recently used entries
// past the limit. An entry larger than the limit is not kept.
func (c *headerCache) put(ref blob.Ref, fields []headerField) {
	if c == nil {
		return
	}
	n := int64(headerEntryOverhead + len(ref))
	for _, f := range fields {
		n += int64(len(f.name) + len(f.value) + 32)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byRef[ref]; ok {
		c.lru.MoveToFront(e)
		return
	}
	if n > c.limit {
		return
	}
	c.byRef[ref] = c.lru.PushFront(&headerEntry{ref: ref, fields: fields, size: n})
	c.size += n
	for c.size > c.limit {
		last := c.lru.Back()
		old := last.Value.(*headerEntry)
		c.lru.Remove(last)
		delete(c.byRef, old.ref)
		c.size -= old.size
	}
}

// bytes returns how many bytes the cache holds by its count, and entries.
func (c *headerCache) bytes() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, len(c.byRef)
}

// matchFields reports whether header fields satisfy the header part of q.
func (q textQuery) matchFields(fields []headerField) bool {
	for _, h := range fields {
		if (q.field == "" || h.name == q.field) && strings.Contains(h.value, q.value) {
			return true
		}
	}
	return false
}

// matchHeadersScan resolves a header-only text criterion in a mailbox of
// at most maxHeaderScan messages whose header fields are (nearly all) in
// the cache by checking every message, without the full-text index; ok
// is false if the mailbox is larger or too few of its bodies are cached,
// and the caller asks the index. The result is the one the index path
// gives: that path checks its candidates the same way, and the index
// only narrows them.
func (s *Store) matchHeadersScan(ctx context.Context, mailboxID int64, q textQuery) (uids []imap.UID, ok bool, err error) {
	q1 := s.db.Stmts(nil)
	var n int64
	if err := q1.QueryRowContext(ctx, `SELECT messages FROM mailboxes WHERE id = ?`, mailboxID).Scan(&n); err != nil || n > s.headerScan {
		return nil, false, nil // the index path reports what is wrong
	}
	rows, err := q1.QueryContext(ctx, `SELECT m.uid, b.ref FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? ORDER BY m.uid`, mailboxID)
	if err != nil {
		return nil, false, fmt.Errorf("store: search: %w", err)
	}
	var all []imap.UID
	var refs []blob.Ref
	uncached := 0
	for rows.Next() {
		var uid imap.UID
		var ref blob.Ref
		if err := rows.Scan(&uid, &ref); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("store: search: %w", err)
		}
		if !s.headers.has(ref) {
			uncached++
		}
		all, refs = append(all, uid), append(refs, ref)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: search: %w", err)
	}
	if uncached > maxHeaderScanUncached {
		return nil, false, nil
	}
	match, err := s.matchBlobs(ctx, refs, q)
	if err != nil {
		return nil, false, err
	}
	for i, uid := range all {
		if match[i] {
			uids = append(uids, uid)
		}
	}
	return uids, true, nil
}

// maxHeaderScanUncached is how many of a mailbox's bodies may be missing
// from the header cache for a header search to check them all itself:
// each is read from the blob store (and then cached).
const maxHeaderScanUncached = 32
