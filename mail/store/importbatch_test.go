package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// importKeys is the bookkeeping of a test importer, as mailimport keeps
// it: a message's key is recorded in the transaction that imports it,
// and a message whose key is recorded is placed nowhere.
const importKeys = `CREATE TABLE IF NOT EXISTS test_imported (key TEXT PRIMARY KEY)`

// placeOnce returns a decider that records key and places the message in
// mailbox, or nowhere if key was recorded before.
func placeOnce(key, mailbox string) ImportDecider {
	return func(ctx context.Context, tx *sql.Tx, _ blob.Ref, _ int64) ([]Placement, error) {
		res, err := tx.ExecContext(ctx, `INSERT INTO test_imported (key) VALUES (?) ON CONFLICT DO NOTHING`, key)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, nil
		}
		return []Placement{{Mailbox: mailbox}}, nil
	}
}

// TestImportBatch checks that one message's failure in a batch (too
// large, a missing mailbox, its decider's error) is its own and rolls
// back its decider's rows, while the others, also the same body twice,
// are imported with one blob and announced; and that a batch over quota
// stops at the message that would exceed it.
func TestImportBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxMessageSize = 4000 })
	ctx := t.Context()
	a := e.account(t, 1)
	if _, err := e.db.ExecContext(ctx, importKeys); err != nil {
		t.Fatal(err)
	}
	e.takeChanges() // the account's mailboxes
	boom := errors.New("decider failed")
	failing := func(ctx context.Context, tx *sql.Tx, ref blob.Ref, n int64) ([]Placement, error) {
		if _, err := placeOnce("failing", "INBOX")(ctx, tx, ref, n); err != nil {
			return nil, err
		}
		return nil, boom
	}
	same := simple("twice", "the same body in two messages")
	msgs := []ImportMessage{
		{Body: strings.NewReader(simple("one", "first")), Decide: placeOnce("1", "INBOX")},
		{Body: strings.NewReader(simple("big", strings.Repeat("x", 5000))), Decide: placeOnce("big", "INBOX")},
		{Body: strings.NewReader(same), Decide: placeOnce("2", "Archive")},
		{Body: strings.NewReader(simple("lost", "no such mailbox")), Decide: placeOnce("lost", "Nowhere")},
		{Body: strings.NewReader(simple("fails", "decider error")), Decide: failing},
		{Body: strings.NewReader(same), Decide: placeOnce("3", "INBOX")},
		{Body: strings.NewReader(simple("one", "first")), Decide: placeOnce("1", "INBOX")}, // recorded by the first
	}
	res, err := e.s.ImportBatch(ctx, a, msgs)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []error{nil, ErrTooLarge, nil, ErrNoMailbox, boom, nil, nil}
	wantUIDs := []int{1, 0, 1, 0, 0, 1, 0}
	for i, r := range res {
		if !errors.Is(r.Err, wantErr[i]) || (wantErr[i] == nil) != (r.Err == nil) || len(r.UIDs) != wantUIDs[i] {
			t.Errorf("message %d: %d UIDs, %v; want %d, %v", i, len(r.UIDs), r.Err, wantUIDs[i], wantErr[i])
		}
	}
	if res[2].Ref != res[5].Ref || res[2].Ref == "" {
		t.Errorf("the same body has refs %s and %s", res[2].Ref, res[5].Ref)
	}
	if n := e.count(t, `SELECT count(*) FROM test_imported`); n != 3 {
		t.Errorf("%d keys recorded, want 3 (the failed messages' rolled back)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM blobs`); n != 2 {
		t.Errorf("%d blobs rows, want 2", n)
	}
	if n := len(e.takeChanges()); n != 3 {
		t.Errorf("%d changes announced, want 3", n)
	}
	e.checkCounters(t)
	got, err := e.s.Search(ctx, e.mailbox(t, a, "INBOX").ID, &imap.SearchCriteria{Body: []string{"same body"}})
	if err != nil || !slices.Equal(got, []imap.UID{2}) {
		t.Errorf("search: %v, %v; want [2]", got, err)
	}

	used, _, err := e.s.Usage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetQuota(ctx, a, used+2500); err != nil {
		t.Fatal(err)
	}
	var over []ImportMessage
	for i := range 3 {
		over = append(over, ImportMessage{Body: strings.NewReader(simple(fmt.Sprintf("q%d", i), strings.Repeat("y", 1000))), Decide: placeOnce(fmt.Sprintf("q%d", i), "INBOX")})
	}
	res, err = e.s.ImportBatch(ctx, a, over)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, ErrQuota) {
		t.Errorf("over quota: %v, %v, %v; want nil, nil, ErrQuota", res[0].Err, res[1].Err, res[2].Err)
	}
}

// crashImportEnv names the directory of the child process of
// TestImportBatchCrash; set only in that child.
const crashImportEnv = "CAUCUS_STORE_CRASH_IMPORT_DIR"

// crashBatch is the batch TestImportBatchCrash imports: n messages, the
// first half of which an earlier batch imported already.
func crashBatch(n int) []ImportMessage {
	msgs := make([]ImportMessage, n)
	for i := range msgs {
		msgs[i] = ImportMessage{Body: strings.NewReader(simple(fmt.Sprintf("batch %d", i), fmt.Sprintf("minute-%03d of the meeting", i))), Decide: placeOnce(fmt.Sprint(i), "INBOX")}
	}
	return msgs
}

// TestImportBatchCrash checks that a process killed in the middle of a
// batch's transaction (its bodies durable, half of its messages' rows
// written, not committed) leaves none of the batch imported, and that
// the importer, run again with the same keys on the next start, imports
// every message once: no message twice, no body stored twice.
func TestImportBatchCrash(t *testing.T) {
	if dir := os.Getenv(crashImportEnv); dir != "" {
		importAndDie(t, dir)
		return
	}
	t.Parallel()
	dir, dbh := runKilledChild(t, "TestImportBatchCrash", crashImportEnv)
	ctx := t.Context()
	d := dbh.Open(t)
	e := newEnvOn(t, d, dir) // the restart
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 5 {
		t.Fatalf("%d messages after the crash, want 5 (the first batch's; none of the killed one's)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM test_imported`); n != 5 {
		t.Fatalf("%d keys recorded after the crash, want 5", n)
	}
	res, err := e.s.ImportBatch(ctx, 1, crashBatch(10)) // the job resumes: the whole batch again
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if want := i / 5; r.Err != nil || len(r.UIDs) != want {
			t.Errorf("message %d after the restart: %d UIDs, %v; want %d", i, len(r.UIDs), r.Err, want)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 10 {
		t.Errorf("%d messages, want 10", n)
	}
	if n := e.count(t, `SELECT count(DISTINCT blob_id) FROM messages`); n != 10 {
		t.Errorf("%d bodies, want 10", n)
	}
	e.checkCounters(t)
	inbox := e.mailbox(t, 1, "INBOX").ID
	for i := range 10 {
		got, err := e.s.Search(ctx, inbox, &imap.SearchCriteria{Body: []string{fmt.Sprintf("minute-%03d", i)}})
		if err != nil || len(got) != 1 {
			t.Errorf("search for message %d: %v, %v; want one", i, got, err)
		}
	}
}

// importAndDie is the child of TestImportBatchCrash: it imports the first
// half of crashBatch(10), then the whole batch, and kills itself in the
// transaction, at the decider of the batch's eighth message.
func importAndDie(t *testing.T, dir string) {
	ctx := context.Background()
	d := crashDatabase().Open(t)
	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, importKeys); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, d, dir)
	if err := e.s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ImportBatch(ctx, 1, crashBatch(10)[:5]); err != nil {
		t.Fatal(err)
	}
	msgs := crashBatch(10)
	decide := msgs[7].Decide
	msgs[7].Decide = func(ctx context.Context, tx *sql.Tx, ref blob.Ref, n int64) ([]Placement, error) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // the signal ends the process
		return decide(ctx, tx, ref, n)
	}
	e.s.ImportBatch(ctx, 1, msgs)
	t.Fatal("the batch returned")
}

// TestImportTextLater checks that an imported body is parsed without its
// searchable text (no text is kept in memory for the indexer: a whole
// import's text could be), and that the indexer parses it when it
// indexes it, so that a search finds it in the full-text index.
func TestImportTextLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	if _, err := e.db.ExecContext(ctx, importKeys); err != nil {
		t.Fatal(err)
	}
	res, err := e.s.ImportBatch(ctx, a, []ImportMessage{
		{Body: strings.NewReader(simple("imported", "a quokka crossed the road")), Decide: placeOnce("1", "INBOX")},
	})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	e.s.index.mu.Lock()
	kept, bytes := len(e.s.index.parsed), e.s.index.bytes
	e.s.index.mu.Unlock()
	if kept != 0 || bytes != 0 {
		t.Errorf("%d parsed bodies (%d bytes) kept for the index, want none", kept, bytes)
	}
	if err := e.s.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 0 {
		t.Fatalf("%d bodies wait for the index", n)
	}
	for _, c := range []*imap.SearchCriteria{{Body: []string{"quokka crossed"}}, {Text: []string{"the road"}}, {Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "imported"}}}} {
		got, err := e.s.Search(ctx, e.mailbox(t, a, "INBOX").ID, c)
		if err != nil || !slices.Equal(got, []imap.UID{1}) {
			t.Errorf("search %+v: %v, %v; want [1]", c, got, err)
		}
	}
}
