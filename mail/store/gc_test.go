package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestCollectGarbage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a, b := e.account(t, 1), e.account(t, 2)
	if _, err := e.s.Deliver(ctx, []int64{a, b}, strings.NewReader(msgMixed)); err != nil {
		t.Fatal(err)
	}
	e.append(t, a, "INBOX", msgPlain)
	inA, inB := e.mailbox(t, a, "INBOX"), e.mailbox(t, b, "INBOX")
	expunge := func(mailboxID int64, uid imap.UID) {
		t.Helper()
		if _, _, err := e.s.StoreFlags(ctx, mailboxID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Expunge(ctx, mailboxID, []imap.UID{uid}); err != nil {
			t.Fatal(err)
		}
	}
	gc := func(want int) {
		t.Helper()
		n, err := e.s.CollectGarbage(ctx)
		if err != nil || n != want {
			t.Fatalf("CollectGarbage = %d, %v; want %d", n, err, want)
		}
	}
	if e.blobFiles(t) != 2 {
		t.Fatalf("%d blobs", e.blobFiles(t))
	}
	gc(0)

	// The shared body loses one of its two references: it stays.
	expunge(inA.ID, 1)
	e.advance(2 * time.Hour)
	gc(0)
	if e.blobFiles(t) != 2 {
		t.Errorf("%d blobs, want 2", e.blobFiles(t))
	}

	// Its last reference goes: the first run only marks it.
	expunge(inB.ID, 1)
	gc(0)
	if e.blobFiles(t) != 2 {
		t.Errorf("%d blobs after marking, want 2", e.blobFiles(t))
	}
	e.advance(30 * time.Minute)
	gc(0)

	// Redelivered within the grace period: the mark is cleared, the parsed
	// row reused.
	uids, err := e.s.Deliver(ctx, []int64{b}, strings.NewReader(msgMixed))
	if err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Hour)
	gc(0)
	if n := e.count(t, `SELECT count(*) FROM blobs WHERE orphaned_at IS NOT NULL`); n != 0 {
		t.Errorf("%d blobs still marked", n)
	}
	msgs, err := e.s.Messages(ctx, inB.ID, []imap.UID{uids[b]})
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "Flyer draft" {
		t.Fatalf("redelivered message: %+v %v", msgs, err)
	}

	// Gone for good: marked, then deleted after the grace period, with its
	// row and index.
	expunge(inB.ID, uids[b])
	gc(0)
	e.advance(GCGrace + time.Minute)
	gc(1)
	if e.blobFiles(t) != 1 {
		t.Errorf("%d blobs, want 1", e.blobFiles(t))
	}
	// (Appended and delivered bodies wait in blob_unindexed for the index.)
	for _, q := range []string{`SELECT count(*) FROM blobs`, `SELECT (SELECT count(*) FROM message_text) + (SELECT count(*) FROM blob_unindexed)`} {
		if n := e.count(t, q); n != 1 {
			t.Errorf("%s = %d, want 1", q, n)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM message_headers WHERE rowid NOT IN (SELECT id FROM blobs)`); n != 0 {
		t.Errorf("%d header rows of deleted blobs", n)
	}
	// What is left is still readable, and search still works.
	if got, err := e.s.Search(ctx, inA.ID, &imap.SearchCriteria{Body: []string{"canvassing"}}); err != nil || len(got) != 1 {
		t.Errorf("search after GC: %v %v", got, err)
	}

	// A delivery refused over quota leaves its blob noted; GC removes it
	// after the grace period.
	if err := e.s.SetQuota(ctx, a, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgLatin1)); !errors.Is(err, ErrQuota) {
		t.Fatalf("Deliver: %v", err)
	}
	if e.blobFiles(t) != 2 {
		t.Errorf("%d blobs", e.blobFiles(t))
	}
	gc(0)
	e.advance(GCGrace + time.Minute)
	gc(1)
	if e.blobFiles(t) != 1 || e.count(t, `SELECT count(*) FROM blob_orphans`) != 0 {
		t.Errorf("%d blobs, orphans table not empty", e.blobFiles(t))
	}
	// An orphan note for a blob that is in use does not delete it.
	if _, _, err := e.s.Append(ctx, a, "INBOX", strings.NewReader(msgPlain), nil, time.Time{}); !errors.Is(err, ErrQuota) {
		t.Fatalf("Append: %v", err)
	}
	e.advance(GCGrace + time.Minute)
	gc(0)
	if e.blobFiles(t) != 1 {
		t.Errorf("blob in use deleted")
	}
}

// TestCollectGarbagePinned checks that a blob being delivered is left
// alone even if an old row says it is unreferenced, and that a delivery
// whose blob was collected fails cleanly.
func TestCollectGarbagePinned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	uid := e.append(t, a, "INBOX", msgPlain)
	in := e.mailbox(t, a, "INBOX")
	msgs, _ := e.s.Messages(ctx, in.ID, []imap.UID{uid})
	ref := msgs[0].Blob
	if _, _, err := e.s.StoreFlags(ctx, in.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * GCGrace)

	// As if a delivery of the same content were between Put and commit.
	e.s.pin(ref)
	if n, err := e.s.CollectGarbage(ctx); err != nil || n != 0 {
		t.Errorf("CollectGarbage with pinned blob: %d, %v", n, err)
	}
	e.s.unpin(ref)
	if ok, _ := e.blobs.Has(ref); !ok {
		t.Fatal("pinned blob deleted")
	}

	// The race lost: the file vanishes after Put. The delivery must fail,
	// not commit a message without a body.
	inc := &incoming{ref: ref, size: int64(len(msgPlain))}
	if err := e.blobs.Delete(ref); err != nil {
		t.Fatal(err)
	}
	err := e.s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		_, _, err := e.s.blobRow(ctx, tx, inc)
		return err
	})
	if !errors.Is(err, ErrBlobCollected) {
		t.Errorf("blobRow without file: %v", err)
	}
}

// TestCollectGarbageHeld checks that a backup's blob hold stops deletion
// and that the collector catches up once it is released.
func TestCollectGarbageHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	uid := e.append(t, a, "INBOX", msgPlain)
	in := e.mailbox(t, a, "INBOX")
	if _, _, err := e.s.StoreFlags(ctx, in.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Expunge(ctx, in.ID, []imap.UID{uid}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CollectGarbage(ctx); err != nil { // marks
		t.Fatal(err)
	}
	e.advance(2 * GCGrace)
	release, err := e.db.HoldBlobs(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("CollectGarbage under a hold = %d, %v; want 0", n, err)
	}
	if e.blobFiles(t) != 1 {
		t.Fatalf("%d blobs under a hold, want 1", e.blobFiles(t))
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.CollectGarbage(ctx); err != nil || n != 1 {
		t.Fatalf("CollectGarbage after release = %d, %v; want 1", n, err)
	}
}
