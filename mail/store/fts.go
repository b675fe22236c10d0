package store

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// The full-text index (schemaV3) holds, per blob, which trigrams (three
// consecutive characters, case folded) occur in its decoded body text
// (message_text) and in its header fields (message_headers): FTS5 with the
// trigram tokenizer, content='' (no copy of the text) and detail=none (no
// positions, no columns). It answers "which blobs contain all trigrams of
// this string", a superset of the blobs that contain the string; a search
// then reads each candidate's body from the blob store, decodes it as
// delivery did, and keeps those that really contain it (RFC 9051 6.4.4
// asks for substring matches, and that is what the result is).
// On SQLite the index is in a file of its own beside the database (since
// schemaV8; see indexfile.go), attached to every connection, so the
// queries below name its tables as before.
//
// Why this design: the index's size, as a fraction of the messages' bytes
// (body + all header fields), for each FTS5 configuration, measured on
// 5,000 messages of the corpus of corpus_test.go (8.7 KB mean):
//
//	trigram, text stored, detail=full (schema v1)  1.70 + 0.71 = 2.41
//	trigram, content='',  detail=full              1.11 + 0.37 = 1.48
//	trigram, content='',  detail=none              0.11 + 0.11 = 0.22
//	unicode61, content='', detail=full             0.17 + 0.08 = 0.25
//	unicode61, content='', detail=none             0.05 + 0.06 = 0.11
//
// Word tokenizers (unicode61) are smaller but cannot find a string inside
// a word ("4242" in "ticket-4242x"), which IMAP SEARCH must; trigrams can,
// and without positions they cost a tenth of what they did. Most of the
// header index was DKIM and ARC signatures, random base64 that is never
// searched for: their b= and bh= values are left out of the index. A
// HEADER search naming such a field checks every message of the mailbox;
// a TEXT search does not find a piece of a signature value.
//
// The price is the check: a search reads the body of every candidate. A
// string in a few messages is found in milliseconds among 100,000; a word
// in most of them costs about as much as reading them (BenchmarkStorage).
// A search string of fewer than three characters has no trigram: it is
// checked on every message of the mailbox. A string is looked up by the
// trigrams that cover it side by side, at most maxQueryTrigrams of them;
// the check does the rest. A header criterion checks the header fields
// kept in the header cache instead of reading the body, and in a small
// mailbox checks every message that way without asking the index
// (headercache.go).

// maxQueryTrigrams bounds the trigrams of one search string that are
// looked up in the index. More would barely narrow the candidates.
const maxQueryTrigrams = 16

// indexBlob adds the text and header fields of blob id to the full-text
// index of engine e: the text itself on SQLite, which FTS5 splits into
// trigrams; the trigrams' keys on PostgreSQL ([trigramKeys]).
func indexBlob(ctx context.Context, tx querier, e db.Engine, id int64, p *parsed) error {
	var body, fields any = p.body, headerText(p.headers)
	if e == db.Postgres {
		body, fields = trigramKeys(p.body), trigramKeys(headerText(p.headers))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO message_text (rowid, body) VALUES (?, ?)`, id, body); err != nil {
		return fmt.Errorf("store: indexing text: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO message_headers (rowid, fields) VALUES (?, ?)`, id, fields); err != nil {
		return fmt.Errorf("store: indexing headers: %w", err)
	}
	return nil
}

// headerText is the indexed form of header fields: a line "\nname: value"
// each, so that the trigrams of "\nname:" tell which blobs have a field.
func headerText(fields []headerField) string {
	var b strings.Builder
	for _, h := range fields {
		v := h.value
		if signatureField(h.name) {
			v = stripSignature(v)
		}
		b.WriteString("\n" + h.name + ": " + v)
	}
	return b.String()
}

// signatureField reports whether the field named name (lower case) carries
// tag=value lists with base64 signatures: DKIM (RFC 6376 3.5) and ARC
// (RFC 8617 4.1).
func signatureField(name string) bool {
	switch name {
	case "dkim-signature", "arc-seal", "arc-message-signature", "x-google-dkim-signature":
		return true
	}
	return false
}

// stripSignature leaves out the values of the b= and bh= tags of a tag
// list (RFC 6376 3.2), the signature and body hash.
func stripSignature(v string) string {
	tags := strings.Split(v, ";")
	for i, t := range tags {
		name, _, ok := strings.Cut(t, "=")
		if n := strings.TrimSpace(name); ok && (n == "b" || n == "bh") {
			tags[i] = name + "="
		}
	}
	return strings.Join(tags, ";")
}

// ftsTrigrams returns an FTS5 query for the blobs whose indexed text has
// the trigrams that cover s side by side (those at 0, 3, 6, … and the
// last), up to maxQueryTrigrams of them spread over s, none with a NUL;
// or "" if there is no such trigram. The trigrams between them would
// narrow the candidates a little more, but each one is a list to read in
// every segment of the index, which cost more than the few more bodies
// they leave to check (BenchmarkSearchText, 100,000 messages: a rare
// word 2.8 → 0.7 ms, TEXT 17.6 → 0.9 ms, SUBJECT 12.1 → 3.9 ms, a common
// word 4.4 → 3.9 s; BenchmarkSearchSteady: a BODY token −20 to −30%).
func ftsTrigrams(s string) string {
	var terms []string
	for _, tri := range queryTrigrams(s) {
		terms = append(terms, `"`+strings.ReplaceAll(tri, `"`, `""`)+`"`)
	}
	return strings.Join(terms, " AND ")
}

// queryTrigrams returns the distinct trigrams of s that a search looks
// up in the index: up to maxQueryTrigrams of them spread over s, none
// with a NUL; nil if there is no such trigram.
func queryTrigrams(s string) []string {
	runes := []rune(s)
	n := len(runes) - 2 // trigrams
	if n < 1 {
		return nil
	}
	var at []int
	for i := 0; i < n; i += 3 {
		at = append(at, i)
	}
	if at[len(at)-1] != n-1 {
		at = append(at, n-1)
	}
	if len(at) > maxQueryTrigrams {
		spread := make([]int, maxQueryTrigrams)
		for k := range spread {
			spread[k] = at[k*(len(at)-1)/(maxQueryTrigrams-1)] // first and last included
		}
		at = spread
	}
	seen := map[string]bool{}
	var terms []string
	for _, i := range at {
		tri := string(runes[i : i+3])
		if strings.ContainsRune(tri, 0) {
			continue // FTS5 reads its query as a C string; leave it to the check
		}
		if !seen[tri] {
			seen[tri] = true
			terms = append(terms, tri)
		}
	}
	return terms
}

// textQuery is a BODY, TEXT or HEADER search criterion (RFC 9051 6.4.4).
type textQuery struct {
	value   string // folded; "" only with field: the field exists
	body    bool   // look in the body text
	headers bool   // look in header fields
	field   string // only in fields of this name (lower case), if not ""
}

// match reports whether the message r satisfies q. It decodes the text as
// parseMessage does at delivery, but only the parts q looks in, and stops
// at the first match.
func (q textQuery) match(r io.Reader) bool {
	br := bufio.NewReader(r)
	hdr, _ := textproto.ReadHeader(br)
	if q.headers && q.matchFields(indexHeader(hdr, nil)) {
		return true
	}
	if !q.body {
		return false
	}
	if plainText(hdr) {
		b, _ := io.ReadAll(io.LimitReader(br, maxBodyText))
		return strings.Contains(truncateUTF8(fold(string(b)), maxBodyText), q.value)
	}
	w := &textWalker{want: q.value}
	w.walk(hdr, br, 0)
	return w.found
}

// plainText reports whether a message with header hdr is one text/plain
// part in UTF-8 or US-ASCII with no transfer encoding, the most common
// kind: then its body text is its bytes, which match reads without
// textWalker (with the same result).
func plainText(hdr textproto.Header) bool {
	h := message.Header{Header: hdr}
	t, params, err := h.ContentType()
	if err != nil || t != "text/plain" {
		return false
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "", "7bit", "8bit", "binary":
	default:
		return false
	}
	ch, ok := params["charset"]
	return !ok || strings.EqualFold(ch, "utf-8") || strings.EqualFold(ch, "us-ascii")
}

// candidates returns a query for the ids of the blobs the index says may
// match q, with its arguments; "" if the index cannot narrow q down.
func (q textQuery) candidates(e db.Engine) (string, []any) {
	var parts []string
	var args []any
	if q.body {
		m, arg := indexLookup(e, "message_text", q.value)
		if m == "" {
			return "", nil
		}
		parts, args = append(parts, m), append(args, arg)
	}
	if q.headers {
		if signatureField(q.field) {
			return "", nil // not all of it is indexed
		}
		m, arg := indexLookup(e, "message_headers", q.value)
		if m == "" && q.field != "" {
			m, arg = indexLookup(e, "message_headers", "\n"+q.field+":")
		}
		if m == "" {
			return "", nil
		}
		parts, args = append(parts, m), append(args, arg)
	}
	return strings.Join(parts, " UNION "), args
}

// indexLookup returns a query for the ids of the blobs whose entry in
// table (message_text or message_headers) has the
// trigrams of s that queryTrigrams picks, and its argument; "" if there
// is none. On SQLite it is an FTS5 MATCH; on PostgreSQL the entry's keys
// ([trigramKeys]) must contain theirs, which the GIN index answers
// (through the schema's function table_with, see schemaPostgres).
func indexLookup(e db.Engine, table, s string) (string, any) {
	if e != db.Postgres {
		m := ftsTrigrams(s)
		if m == "" {
			return "", nil
		}
		return "SELECT rowid FROM " + table + " WHERE " + table + " MATCH ?", m
	}
	tris := queryTrigrams(s)
	if len(tris) == 0 {
		return "", nil
	}
	keys := make([]int32, len(tris))
	for i, tri := range tris {
		keys[i] = trigramKey(tri)
	}
	return "SELECT rowid FROM " + table + "_with(?)", keys
}

// trigramKeys returns the keys of the distinct trigrams (three
// consecutive runes) of s, sorted: the full-text index on PostgreSQL.
//
// PostgreSQL has no trigram index that holds no copy of the text: pg_trgm
// indexes a column's text (and only its alphanumeric words), and a
// tsvector of words ('simple' configuration) cannot find a string inside
// a word ("4242" in "ticket-4242x"), as IMAP SEARCH must (RFC 9051
// 6.4.4). So the store computes the trigrams itself, exactly as FTS5's
// trigram tokenizer takes them from the same folded text, and keeps each
// blob's set as an array of 32-bit keys (FNV-1a of the trigram's UTF-8)
// in a GIN index, whose "contains" (@>) gives the blobs that have every
// trigram of a search string: the same candidates as FTS5 with
// detail=none, plus those of a rare hash collision, which the check on
// the body throws out. The array is not the text: it is the set of
// three-character pieces, hashed, without order or count.
func trigramKeys(s string) []int32 {
	keys := make([]int32, 0, len(s))
	var at [3]int // byte offsets of the last three runes
	n := 0
	for i := range s {
		at[0], at[1], at[2] = at[1], at[2], i
		if n++; n >= 3 {
			_, size := utf8.DecodeRuneInString(s[i:])
			keys = append(keys, trigramKey(s[at[0]:i+size]))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// trigramKey is the key of one trigram in the PostgreSQL index: its
// 32-bit FNV-1a hash.
func trigramKey(tri string) int32 {
	h := uint32(2166136261)
	for i := 0; i < len(tri); i++ {
		h ^= uint32(tri[i])
		h *= 16777619
	}
	return int32(h)
}

// matchText returns, ascending, the UIDs of the mailbox's messages that
// satisfy q: the index's candidates (every message if it cannot narrow q
// down), with the bodies waiting for the index if pending (see
// [Store.pendingForSearch]), each body checked once on its text decoded
// again from the blob store.
func (s *Store) matchText(ctx context.Context, mailboxID int64, q textQuery, pending bool) ([]imap.UID, error) {
	if !q.body && s.headers != nil {
		if uids, ok, err := s.matchHeadersScan(ctx, mailboxID, q); err != nil || ok {
			return uids, err
		}
	}
	q1 := s.db.Stmts(nil)
	query, args, err := textCandidates(ctx, q1, s.db.Engine(), mailboxID, q, s.smallMailbox, pending)
	if err != nil {
		return nil, err
	}
	rows, err := q1.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	var uids []imap.UID
	var body []int // uids[i]'s body is refs[body[i]]
	var refs []blob.Ref
	seen := map[blob.Ref]int{}
	for rows.Next() {
		var uid imap.UID
		var ref blob.Ref
		if err := rows.Scan(&uid, &ref); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: search: %w", err)
		}
		i, ok := seen[ref]
		if !ok {
			i = len(refs)
			seen[ref], refs = i, append(refs, ref)
		}
		uids, body = append(uids, uid), append(body, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	ok, err := s.matchBlobs(ctx, refs, q)
	if err != nil {
		return nil, err
	}
	var out []imap.UID
	for i, uid := range uids {
		if ok[body[i]] {
			out = append(out, uid)
		}
	}
	return out, nil
}

// smallMailbox is how many messages a mailbox has at most for a text
// search to go through its messages and keep those whose body the index
// lists, rather than go through the index's list and look each body up
// among the mailbox's messages.
const smallMailbox = 2000

// maxPendingSearch is how many bodies may wait for the full-text index
// for a text search to check them all itself (pendingForSearch); past it,
// the search indexes them first.
const maxPendingSearch = 1000

// pendingForSearch reports whether bodies wait in blob_unindexed, the
// durable queue of the full-text index: a text search then takes them
// all as candidates, besides those the index gives, and checks each on
// its stored body, as it checks the index's candidates, so that it finds
// a message the moment its APPEND or delivery has committed, without a
// write of its own. Past maxPendingSearch waiting bodies (a bulk import,
// a long burst of deliveries) checking them would cost more than
// indexing them: it indexes them first ([Store.indexPending]) and
// reports false. A body indexed between this look and the search's query
// is in the index; the query reads both in one snapshot.
func (s *Store) pendingForSearch(ctx context.Context) (bool, error) {
	var n int
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM blob_unindexed LIMIT ?) AS w`, s.maxPending+1).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: search: %w", err)
	}
	if n <= s.maxPending {
		return n > 0, nil
	}
	return false, s.indexPending(ctx)
}

// textCandidates returns the query for the UIDs and bodies of the
// mailbox's messages that the index says may satisfy q, and its
// arguments; with pending, the bodies waiting for the index
// (blob_unindexed) are candidates too. The index lists bodies of every account, and most bodies it
// lists for a common word belong to other mailboxes: in a small mailbox
// (up to small messages) the search goes through the mailbox's messages
// and keeps those the index lists (SQLite reads the list once into a
// temporary index), in a larger one through the index's list (CROSS JOIN keeps that order), each
// body looked up among the mailbox's messages by blob. Without candidates
// it is every message of the mailbox. The texts are few and constant,
// for [db.Stmts].
func textCandidates(ctx context.Context, q querier, e db.Engine, mailboxID int64, tq textQuery, small int64, pending bool) (string, []any, error) {
	cands, args := tq.candidates(e)
	if cands != "" && pending {
		cands += " UNION SELECT blob_id FROM blob_unindexed"
	}
	if cands == "" {
		return `SELECT m.uid, b.ref FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? ORDER BY m.uid`, []any{mailboxID}, nil
	}
	if e == db.Postgres {
		query, args := pgCandidates(cands, args, mailboxID)
		return query, args, nil
	}
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT messages FROM mailboxes WHERE id = ?`, mailboxID).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("store: search: %w", err)
	}
	if n <= small {
		return `SELECT m.uid, b.ref FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? AND m.blob_id IN (` + cands + `) ORDER BY m.uid`,
			append([]any{mailboxID}, args...), nil
	}
	return `SELECT m.uid, b.ref FROM (` + cands + `) c CROSS JOIN messages m ON m.blob_id = c.rowid JOIN blobs b ON b.id = c.rowid
		WHERE m.mailbox_id = ? ORDER BY m.uid`, append(args, mailboxID), nil
}

// pgCandidates is textCandidates' query on PostgreSQL: the index's
// candidates first, in a CTE that the planner may not fold into the join
// (MATERIALIZED): they come from the GIN index (indexLookup) whatever
// the statistics say; then the mailbox's messages with those bodies.
// Left to itself, on tables not yet analysed (a burst of new mail), the
// planner went through the mailbox's messages and tested each body's
// keys. args are the candidates' arguments.
func pgCandidates(cands string, args []any, mailboxID int64) (string, []any) {
	return `WITH c(rowid) AS MATERIALIZED (` + cands + `)
		SELECT m.uid, b.ref FROM c JOIN messages m ON m.blob_id = c.rowid JOIN blobs b ON b.id = c.rowid
		WHERE m.mailbox_id = ? ORDER BY m.uid`, append(args, mailboxID)
}

// matchBlobs reports which of the stored bodies refs satisfy q, checking
// them on every processor. A body collected meanwhile does not.
func (s *Store) matchBlobs(ctx context.Context, refs []blob.Ref, q textQuery) ([]bool, error) {
	ok := make([]bool, len(refs))
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(refs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(refs) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				m, err := s.matchBlob(refs[i], q)
				if err != nil && !errors.Is(err, blob.ErrNotFound) {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					return
				}
				ok[i] = m
			}
		})
	}
	wg.Wait()
	if err := cmp.Or(ctx.Err(), first); err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	return ok, nil
}

// matchBlob reports whether the stored body ref satisfies q. Its header
// fields come from the header cache if they are there; a header-only q
// reads them from the blob store otherwise, and caches them.
func (s *Store) matchBlob(ref blob.Ref, q textQuery) (bool, error) {
	if q.headers {
		if fields, ok := s.headers.get(ref); ok {
			if q.matchFields(fields) {
				return true, nil
			}
			if !q.body {
				return false, nil
			}
		}
	}
	f, err := s.blobs.Open(ref)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if q.body {
		return q.match(f), nil
	}
	hdr, _ := textproto.ReadHeader(bufio.NewReader(f))
	fields := indexHeader(hdr, nil)
	s.headers.put(ref, fields)
	return q.matchFields(fields), nil
}

// ftsSegments returns how many segments (b-trees) the FTS5 table (message_text
// or message_headers) is made of: a query of one trigram opens one iterator
// per segment, so that cost, not the reading of the lists, is most of what a
// search of a common word spends when many small commits (the indexer's) left
// many small segments. It reads the table's structure record (id 10 of its
// %_data table, see SQLite's fts5_index.c: a 4-byte cookie, the 4-byte marker
// of version 2, then the varints nLevel and nSegment).
func ftsSegments(ctx context.Context, q querier, table string) (int, error) {
	var rec []byte
	if err := q.QueryRowContext(ctx, `SELECT block FROM `+table+`_data WHERE id = 10`).Scan(&rec); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, fmt.Errorf("store: reading the %s index's structure: %w", table, err)
	}
	i := 4
	if len(rec) >= 8 && string(rec[4:8]) == "\xff\x00\x00\x01" {
		i = 8
	}
	var vals [2]uint64
	for k := range vals {
		v, n := sqliteVarint(rec[min(i, len(rec)):])
		if n == 0 {
			return 0, fmt.Errorf("store: the %s index's structure record is short", table)
		}
		vals[k], i = v, i+n
	}
	return int(vals[1]), nil
}

// sqliteVarint decodes SQLite's variable-length integer (big-endian, seven
// bits a byte with the high bit set on all but the last, the ninth byte
// whole) at the start of b, and its length; 0 if b is short.
func sqliteVarint(b []byte) (uint64, int) {
	var v uint64
	for i := range min(len(b), 9) {
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
