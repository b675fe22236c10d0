package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestIndexBesideFlagChange checks that a flag change (an IMAP STORE)
// commits while the indexer's transaction is in progress: on SQLite the
// full-text index is in a file of its own, with its own write lock
// (indexfile.go). In session 10's layout the STORE waited for the
// indexer's commit, FTS5's segment flush and merges included (the
// guard below ends the wait as a failure instead of a hang).
func TestIndexBesideFlagChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Index() == nil {
		t.Skip("PostgreSQL keeps the index in the database; its writers do not wait for one another's commits")
	}
	ctx := t.Context()
	a := e.account(t, 1)
	inbox := e.mailbox(t, a, "INBOX")
	uid := e.append(t, a, "INBOX", simple("budget", "the 2027 budget draft"))
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(simple(fmt.Sprintf("minutes %d", i), "text"))); err != nil {
			t.Fatal(err)
		}
	}
	stored := make(chan error, 1)
	e.s.testHookIndexed = func() {
		e.s.testHookIndexed = nil
		// Inside the indexer's transaction, before its commit.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a guard against a hang, not a figure
		defer cancel()
		_, _, err := e.s.StoreFlags(sctx, inbox.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
		stored <- err
	}
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatalf("the flag change did not commit while the index's transaction was open: %v", err)
	}
	flags, err := e.s.Flags(ctx, inbox.ID, []imap.UID{uid})
	if err != nil || len(flags) != 1 || !slices.Contains(flags[0], imap.FlagSeen) {
		t.Fatalf("Flags = %v, %v; want \\Seen", flags, err)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 0 {
		t.Errorf("%d bodies wait for the index, want 0", n)
	}
}

// searchBody returns the UIDs of INBOX of account a whose body contains s.
func (e *env) searchBody(t *testing.T, a int64, s string) []imap.UID {
	t.Helper()
	got, err := e.s.Search(t.Context(), e.mailbox(t, a, "INBOX").ID, &imap.SearchCriteria{Body: []string{s}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestIndexFileCrashBetweenCommits checks the rule that keeps the two
// files right (indexfile.go): a crash after the index file lost its
// commit but the database kept the queue's deletion (the worst order,
// made here by hand) costs a re-indexing at the next start, never a
// message that search cannot find.
func TestIndexFileCrashBetweenCommits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Index() == nil {
		t.Skip("SQLite's index file only")
	}
	ctx := t.Context()
	a := e.account(t, 1)
	e.append(t, a, "INBOX", simple("vote", "the motion on tram-line-nine carried"))
	e.append(t, a, "INBOX", simple("other", "nothing to see"))
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	// The index file's commit lost: its entries gone, the queue empty.
	if err := e.db.Index().Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM message_text; DELETE FROM message_headers; DELETE FROM message_indexed`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := e.searchBody(t, a, "tram-line-nine"); len(got) != 0 {
		t.Fatalf("the lost index still finds %v (the test lost nothing)", got)
	}
	s := New(e.db, e.blobs, nil, Options{}) // the restart
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 2 {
		t.Fatalf("%d bodies queued again at the restart, want 2", n)
	}
	for _, st := range []*Store{s, e.s} {
		if got, err := st.Search(ctx, e.mailbox(t, a, "INBOX").ID, &imap.SearchCriteria{Body: []string{"tram-line-nine"}}); err != nil || !slices.Equal(got, []imap.UID{1}) {
			t.Fatalf("Search = %v, %v; want [1]", got, err)
		}
	}
	if err := s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM message_indexed`); n != 2 {
		t.Errorf("%d bodies in the index file after indexing, want 2", n)
	}
	if got := e.searchBody(t, a, "tram-line-nine"); !slices.Equal(got, []imap.UID{1}) {
		t.Errorf("Search after indexing = %v, want [1]", got)
	}
	// The other order: the index file kept its commit, the queue's
	// deletion was lost: indexed again, once.
	if _, err := e.db.ExecContext(ctx, `INSERT INTO blob_unindexed (blob_id) SELECT id FROM blobs`); err != nil {
		t.Fatal(err)
	}
	if err := s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM message_indexed`); n != 2 {
		t.Errorf("%d bodies in the index file after indexing again, want 2", n)
	}
}

// TestIndexFileReusedBlobID checks that a blob id used again after its
// blob was collected gets the new body's index entry, whichever comes
// first: the new body's indexing or the collection's deletion of the old
// entry, which a crash may also lose.
func TestIndexFileReusedBlobID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Index() == nil {
		t.Skip("SQLite's index file only")
	}
	ctx := t.Context()
	a := e.account(t, 1)
	inbox := e.mailbox(t, a, "INBOX")
	e.append(t, a, "INBOX", simple("keep", "kept body"))
	uid := e.append(t, a, "INBOX", simple("old", "the old-pamphlet text"))
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	var oldID int64
	if err := e.db.QueryRowContext(ctx, `SELECT max(id) FROM blobs`).Scan(&oldID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.StoreFlags(ctx, inbox.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Expunge(ctx, inbox.ID, []imap.UID{uid}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // marks, then collects after the grace period
		if _, err := e.s.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		e.advance(GCGrace + time.Minute)
	}
	if n := e.count(t, `SELECT count(*) FROM blobs WHERE id = ?`, oldID); n != 0 {
		t.Fatalf("blob %d not collected", oldID)
	}
	if n := e.count(t, `SELECT count(*) FROM message_indexed WHERE blob_id = ?`, oldID); n != 0 {
		t.Errorf("the collected blob's entry is still in the index file")
	}
	// A crash lost that deletion: put a stale entry back by hand.
	if err := e.db.Index().Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO message_text (rowid, body) VALUES (?, 'the old-pamphlet text')`, oldID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO message_indexed (blob_id, ref) VALUES (?, 'gone')`, oldID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.append(t, a, "INBOX", simple("new", "the new-leaflet text"))
	var newID int64
	if err := e.db.QueryRowContext(ctx, `SELECT max(id) FROM blobs`).Scan(&newID); err != nil {
		t.Fatal(err)
	}
	if newID != oldID {
		t.Fatalf("the new blob has id %d, not the collected %d: the test needs SQLite to use it again", newID, oldID)
	}
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	// The collection's late deletion of the old entry must leave the new.
	if err := e.s.dropIndexed(ctx, []queuedBody{{id: oldID, ref: "gone"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.searchBody(t, a, "new-leaflet"); len(got) != 1 {
		t.Errorf("Search for the new body = %v, want one UID", got)
	}
	if got := e.searchBody(t, a, "old-pamphlet"); len(got) != 0 {
		t.Errorf("Search for the collected body = %v, want none", got)
	}
	if n := e.count(t, `SELECT count(*) FROM `+db.IndexSchema+`.message_text WHERE message_text MATCH '"lea"'`); n != 1 {
		t.Errorf("the index file lists %d bodies with the new body's trigram, want 1", n)
	}
}

// TestMigrateIndexV8 checks migration 8 on a store of session 10's
// layout (the index in the database): the old tables leave the
// database, every body is queued, and search finds what it found before,
// then from the index file.
func TestMigrateIndexV8(t *testing.T) {
	if dbtest.Engine() == db.Postgres {
		t.Skip("PostgreSQL keeps its index in the database")
	}
	t.Parallel()
	ctx := t.Context()
	dbh := dbtest.Create(t)
	d := dbh.Open(t)
	v7 := Component()
	v7.Migrations = v7.Migrations[:7]
	if err := d.Migrate(ctx, v7); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, d, t.TempDir())
	e.dbh = dbh
	a := e.account(t, 1)
	for i := range 5 {
		e.append(t, a, "INBOX", simple(fmt.Sprintf("agenda %d", i), fmt.Sprintf("motion-%03d carried", i)))
	}
	// Index them as session 10 did: into the database's own tables.
	rows, err := d.QueryContext(ctx, `SELECT id FROM blobs`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := d.ExecContext(ctx, `INSERT INTO main.message_text (rowid, body) VALUES (?, 'x'); DELETE FROM blob_unindexed WHERE blob_id = ?`, id, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM sqlite_master WHERE name LIKE 'message\_%' ESCAPE '\'`); n != 0 {
		t.Errorf("%d tables of the index left in the database", n)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 5 {
		t.Errorf("%d bodies wait for the index file, want 5", n)
	}
	s := New(d, e.blobs, nil, Options{}) // the restart
	inbox := e.mailbox(t, a, "INBOX").ID
	search := func() {
		t.Helper()
		got, err := s.Search(ctx, inbox, &imap.SearchCriteria{Body: []string{"motion-003"}})
		if err != nil || !slices.Equal(got, []imap.UID{4}) {
			t.Errorf("Search = %v, %v; want [4]", got, err)
		}
	}
	search()
	if err := s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM `+db.IndexSchema+`.message_indexed`); n != 5 {
		t.Errorf("%d bodies in the index file, want 5", n)
	}
	search()
}
