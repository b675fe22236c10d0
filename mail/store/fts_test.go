package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// checkpoint moves the write-ahead log into the database file.
func (e *env) checkpoint(t *testing.T) {
	t.Helper()
	if _, err := e.db.ExecContext(t.Context(), `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
}

// dbFile returns the bytes of the SQLite database file, its log moved in.
func (e *env) dbFile(t *testing.T) []byte {
	t.Helper()
	e.checkpoint(t)
	b, err := os.ReadFile(e.dbh.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// holdsText reports whether the database holds text: on SQLite, whether
// its file does; on PostgreSQL, whether a row of one of the store's
// tables does, in any column (the row as text).
func (e *env) holdsText(t *testing.T, text string) bool {
	t.Helper()
	if e.db.Engine() != db.Postgres {
		return bytes.Contains(e.dbFile(t), []byte(text))
	}
	rows, err := e.db.QueryContext(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("%d tables in the schema: %v", len(tables), tables)
	}
	for _, tbl := range tables {
		if e.count(t, `SELECT count(*) FROM `+tbl+` t WHERE strpos(t::text, ?) > 0`, text) > 0 {
			t.Logf("table %s holds %q", tbl, text)
			return true
		}
	}
	return false
}

// TestIndexHoldsNoText checks that the full-text index keeps no copy of
// message text (issue 21: the copy was most of the data directory), and
// that search still finds the message.
func TestIndexHoldsNoText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	const secret = "the treasurer's password hint is marzipan-orchid-lighthouse"
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple("hint", secret))); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Search(ctx, e.mailbox(t, a, "INBOX").ID, &imap.SearchCriteria{Body: []string{"orchid-light"}})
	if err != nil || !slices.Equal(got, []imap.UID{1}) {
		t.Fatalf("Search = %v, %v; want [1]", got, err)
	}
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if e.count(t, `SELECT count(*) FROM blob_unindexed`) != 0 {
		t.Fatal("the message was not indexed")
	}
	if e.holdsText(t, "marzipan-orchid") {
		t.Error("the database holds a copy of the message text")
	}
}

// TestSearchChecksCandidates checks the cases where the trigram index
// alone would be wrong: every trigram present but not the string, the
// string in another header field than the one asked, strings too short
// for a trigram, and a field's presence.
func TestSearchChecksCandidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	msgs := []string{
		// 1: every trigram of "abcde" but not "abcde"; "anna" only in To.
		crlf("From: Bob <bob@example.org>\nTo: Anna <anna@example.org>\nSubject: trigrams\n\nabcd bcde\n"),
		// 2: "abcde" itself, from Anna, with an X-Tag field.
		crlf("From: Anna <anna@example.org>\nTo: bob@example.org\nSubject: whole\nX-Tag: q\n\nxx abcde yy\n"),
		// 3: a DKIM signature: its tags are indexed, its b= value not.
		crlf("From: Carl <carl@example.net>\nDKIM-Signature: v=1; d=example.net; s=sel;\n b=SIGNATUREVALUEqqq; bh=BODYHASHqqq\nSubject: signed\n\nok\n"),
	}
	for _, m := range msgs {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
	}
	inbox := e.mailbox(t, a, "INBOX").ID
	hdr := func(k, v string) imap.SearchCriteria {
		return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
	}
	type searchCase struct {
		name string
		c    imap.SearchCriteria
		want []imap.UID
	}
	var indexed []searchCase
	for _, tc := range []searchCase{
		{"trigrams but not the string", imap.SearchCriteria{Body: []string{"ABCDE"}}, []imap.UID{2}},
		{"TEXT trigrams but not the string", imap.SearchCriteria{Text: []string{"abcde"}}, []imap.UID{2}},
		{"NOT of a checked match", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"abcde"}}}}, []imap.UID{1, 3}},
		{"in To, not in From", hdr("From", "anna"), []imap.UID{2}},
		{"short body", imap.SearchCriteria{Body: []string{"xx"}}, []imap.UID{2}},
		{"short header", hdr("X-Tag", "Q"), []imap.UID{2}},
		{"field present", hdr("x-tag", ""), []imap.UID{2}},
		{"signature tag", imap.SearchCriteria{Text: []string{"d=example.net"}}, []imap.UID{3}},
		{"signature tag, HEADER", hdr("DKIM-Signature", "s=sel"), []imap.UID{3}},
		{"signature value, HEADER", hdr("DKIM-Signature", "signaturevalue"), []imap.UID{3}},
		{"no such string", imap.SearchCriteria{Text: []string{"quorum"}}, nil},
	} {
		got, err := e.s.Search(ctx, inbox, &tc.c)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s, bodies waiting for the index: Search = %v, %v; want %v", tc.name, got, err, tc.want)
		}
		indexed = append(indexed, tc)
	}
	// The same once the index holds them: its candidates, checked.
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range indexed {
		got, err := e.s.Search(ctx, inbox, &tc.c)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s, indexed: Search = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// TestMigrateIndexV3 builds a version 2 store whose full-text index holds
// its messages' text, migrates it, and checks that the old tables are
// gone, that the index is rebuilt from the blobs, that search finds the
// messages as before, and that the freed pages go back to the file system.
func TestMigrateIndexV3(t *testing.T) {
	if dbtest.Engine() == db.Postgres {
		t.Skip("SQLite's history: no PostgreSQL store predates the current schema")
	}
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	dbh := dbtest.Create(t)
	d := dbh.Open(t)
	v2 := Component()
	v2.Migrations = v2.Migrations[:2]
	if err := d.Migrate(ctx, v2); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, d, dir)
	e.dbh = dbh
	a := e.account(t, 1)
	// Deliver waits for the index: fill the version 2 tables as version 2
	// did, with a body large enough that dropping them frees pages.
	filler := strings.Repeat("minutes of the regional council meeting, item ", 200)
	for i := range 40 {
		raw := simple(fmt.Sprintf("agenda %d", i), fmt.Sprintf("%s motion-%03d carried", filler, i))
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.ExecContext(ctx, `INSERT INTO message_text (rowid, body) SELECT id, ? || ' ' || id FROM blobs;
		INSERT INTO message_headers (rowid, name, value) SELECT id << 10, 'subject', 'agenda' FROM blobs;
		DELETE FROM blob_unindexed`, strings.Repeat("x", 50000))
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.dbFile(t))

	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM sqlite_master WHERE name IN ('message_text_content', 'message_headers_content')`); n != 0 {
		t.Errorf("%d tables of stored text left after the migration", n)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 40 {
		t.Errorf("%d bodies wait for the new index, want 40", n)
	}
	s := New(d, e.blobs, nil, Options{}) // the restart
	inbox := e.mailbox(t, a, "INBOX").ID
	for _, c := range []imap.SearchCriteria{
		{Body: []string{"motion-017"}},
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "agenda 17"}}},
		{Text: []string{"motion-017 carried"}},
	} {
		got, err := s.Search(ctx, inbox, &c)
		if err != nil || !slices.Equal(got, []imap.UID{18}) {
			t.Errorf("after the migration, Search(%+v) = %v, %v; want [18]", c, got, err)
		}
	}
	if err := s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 0 {
		t.Errorf("%d bodies still wait after indexing", n)
	}
	if err := s.reclaimSpace(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if after := len(e.dbFile(t)); after*2 > before {
		t.Errorf("database file %d bytes after the migration, %d before: not given back", after, before)
	}
}

// newEnvOn is newEnv on an open database d in dir.
func newEnvOn(t *testing.T, d *db.DB, dir string) *env {
	t.Helper()
	e := &env{db: d, blobDir: filepath.Join(dir, "blobs")}
	var err error
	if e.blobs, err = blob.OpenDir(e.blobDir); err != nil {
		t.Fatal(err)
	}
	e.s = New(d, e.blobs, nil, Options{})
	return e
}

// FuzzTextSearch searches a few messages for arbitrary strings with BODY,
// TEXT and HEADER: the result must be what checking every message finds
// (the index may only narrow the search down, never lose a match), and no
// string may make the FTS5 query fail.
func FuzzTextSearch(f *testing.F) {
	for _, s := range []string{"abcde", "ABC", `"`, `a"b"c`, "x", "", "é€ü", "d=example", "\x00\xff\xfe", "AND OR NOT", "*", "bcd ab", "\nsubject:"} {
		f.Add(s, "subject")
	}
	f.Add("anna", "from")
	f.Add("sel", "DKIM-Signature")
	e := newEnv(f)
	ctx := f.Context()
	a := e.account(f, 1)
	msgs := []string{
		crlf("From: Bob <bob@example.org>\nTo: Anna <anna@example.org>\nSubject: trigrams \"quoted\" AND OR\n\nabcd bcde *star* é€ü\n"),
		crlf("From: Anna <anna@example.org>\nSubject: whole\nDKIM-Signature: v=1; d=example.net; s=sel; b=abcdeSIG\n\nxx abcde yy\n"),
		msgAlt,
	}
	for _, m := range msgs {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(m)); err != nil {
			f.Fatal(err)
		}
	}
	// Indexed, so that the index's candidates are what the check sees
	// (waiting bodies are all candidates).
	if err := e.s.indexPending(ctx); err != nil {
		f.Fatal(err)
	}
	inbox := e.mailbox(f, a, "INBOX").ID
	f.Fuzz(func(t *testing.T, s, field string) {
		if !utf8.ValidString(field) || strings.ContainsAny(field, ": \r\n") {
			return // not a field name IMAP could send
		}
		v := fold(s)
		for _, tc := range []struct {
			name string
			c    imap.SearchCriteria
			q    textQuery
		}{
			{"BODY", imap.SearchCriteria{Body: []string{s}}, textQuery{value: v, body: true}},
			{"TEXT", imap.SearchCriteria{Text: []string{s}}, textQuery{value: v, body: true, headers: true}},
			{"HEADER", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: field, Value: s}}}, textQuery{value: v, headers: true, field: strings.ToLower(field)}},
		} {
			got, err := e.s.Search(ctx, inbox, &tc.c)
			if err != nil {
				t.Fatalf("%s %q: %v", tc.name, s, err)
			}
			var want []imap.UID
			for i, m := range msgs {
				if (v == "" && tc.q.field == "") || tc.q.match(strings.NewReader(m)) {
					want = append(want, imap.UID(i+1))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %q (field %q) = %v, want %v", tc.name, s, field, got, want)
			}
		}
	})
}

// TestTrigramCover checks which trigrams a search string is looked up by
// (those that cover it side by side), and that a body holding all of them
// but not the string is not found: the check on the body decides.
func TestTrigramCover(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"ab", ""},
		{"abc", `"abc"`},
		{"rally", `"ral" AND "lly"`},
		{"budget", `"bud" AND "get"`},
		{"ticket-4242", `"tic" AND "ket" AND "-42" AND "242"`},
		{`a"bcd`, `"a""b" AND "bcd"`},
	} {
		if got := ftsTrigrams(c.in); got != c.want {
			t.Errorf("ftsTrigrams(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	long := make([]rune, 200)
	for i := range long {
		long[i] = rune(0x4e00 + i) // no trigram twice
	}
	if got := strings.Count(ftsTrigrams(string(long)), " AND ") + 1; got != maxQueryTrigrams {
		t.Errorf("a long string is looked up by %d trigrams, want %d", got, maxQueryTrigrams)
	}

	e := newEnv(t)
	acct := e.account(t, 1)
	for _, body := range []string{"the budget is due", "a bud will get there"} {
		if _, _, err := e.s.Append(t.Context(), acct, "INBOX", strings.NewReader(simple("x", body)), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.indexPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	mb := e.mailbox(t, acct, "INBOX")
	uids, err := e.s.Search(t.Context(), mb.ID, &imap.SearchCriteria{Body: []string{"budget"}})
	if err != nil || !slices.Equal(uids, []imap.UID{1}) {
		t.Errorf("BODY budget found %v (%v), want [1]", uids, err)
	}
}

// FuzzTrigramKeys checks the PostgreSQL index's promise never to miss:
// the keys a search looks up for any piece of a text (queryTrigrams of a
// substring) are all among the keys indexed for the text (trigramKeys),
// which are sorted and distinct, one per distinct trigram at most.
func FuzzTrigramKeys(f *testing.F) {
	for _, s := range []string{"abcde", "ticket-4242x", "é€ü日本語テキスト", "\nsubject: agenda", "aa", "", "\x00\x00\x00x", "\xff\xfe abc"} {
		f.Add(s, 0, len(s))
		f.Add(s, 1, 4)
	}
	f.Fuzz(func(t *testing.T, s string, i, j int) {
		s = fold(s) // what is indexed and searched is folded (valid UTF-8)
		if i < 0 || j < i || j > len(s) || !utf8.ValidString(s[i:j]) {
			return
		}
		keys := trigramKeys(s)
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Fatalf("trigramKeys(%q) = %v: not sorted and distinct", s, keys)
		}
		if n := utf8.RuneCountInString(s); len(keys) > max(n-2, 0) {
			t.Fatalf("trigramKeys(%q): %d keys for %d trigrams", s, len(keys), n-2)
		}
		for _, tri := range queryTrigrams(s[i:j]) {
			if _, ok := slices.BinarySearch(keys, trigramKey(tri)); !ok {
				t.Fatalf("the trigram %q of %q is not among the keys of %q", tri, s[i:j], s)
			}
		}
	})
}
