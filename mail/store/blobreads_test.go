package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// countingBlobs is a blob store that counts the calls a delivery makes
// besides its Put: on an object store each is a request (HEAD, GET), and
// the one made in the write transaction holds every delivery queued
// behind it. put, if set, runs after each Put.
type countingBlobs struct {
	blob.Store
	has, open atomic.Int64
	put       func()
}

func (c *countingBlobs) Has(ref blob.Ref) (bool, error) {
	c.has.Add(1)
	return c.Store.Has(ref)
}

func (c *countingBlobs) Open(ref blob.Ref) (io.ReadSeekCloser, error) {
	c.open.Add(1)
	return c.Store.Open(ref)
}

func (c *countingBlobs) Put(ctx context.Context, r io.Reader, limit int64) (blob.Ref, int64, error) {
	ref, n, err := c.Store.Put(ctx, r, limit)
	if c.put != nil {
		c.put()
	}
	return ref, n, err
}

// countingEnv is newEnv with its store's blobs counted.
func countingEnv(t *testing.T) (*env, *countingBlobs) {
	e := newEnv(t)
	c := &countingBlobs{Store: e.blobs}
	e.s = New(e.db, c, nil, Options{Now: func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.now
	}})
	return e, c
}

// sha256Hex is the blob reference of content.
func sha256Hex(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// TestDeliverBlobRequests checks that a delivery of a body held in
// memory (the MX's, a submission's) asks the blob store for nothing but
// its Put: it parses the body it has instead of reading back what it just
// stored (a GET on S3), and it does not look for the blob in its write
// transaction (a HEAD on S3, made while every delivery queued behind it
// waits) when no row named the blob before its Put began, because the
// collector deletes only blobs that rows have named for GCGrace.
func TestDeliverBlobRequests(t *testing.T) {
	t.Parallel()
	e, c := countingEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	for i, r := range []io.Reader{bytes.NewReader([]byte(msgPlain)), strings.NewReader(msgLatin1)} {
		uids, err := e.s.Deliver(ctx, []int64{a}, r)
		if err != nil {
			t.Fatal(err)
		}
		if h, o := c.has.Load(), c.open.Load(); h != 0 || o != 0 {
			t.Errorf("delivery %d: %d Has and %d Open calls, want none", i, h, o)
		}
		in := e.mailbox(t, a, "INBOX")
		msgs, err := e.s.Messages(ctx, in.ID, []imap.UID{uids[a]})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Messages: %v, %v", msgs, err)
		}
		if msgs[0].Envelope == nil || msgs[0].Envelope.Subject == "" {
			t.Errorf("delivery %d: no envelope parsed: %+v", i, msgs[0])
		}
	}
}

// TestDeliverBlobNamedBefore checks that a delivery still looks for its
// blob in the write transaction when the collector may have deleted it
// after the Put: content a row named before the Put (an unreferenced
// body, a failed delivery's), or a delivery that took half of GCGrace.
// A blob found gone fails the delivery with ErrBlobCollected.
func TestDeliverBlobNamedBefore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("orphan", func(t *testing.T) {
		t.Parallel()
		e, c := countingEnv(t)
		a := e.account(t, 1)
		if err := e.s.SetQuota(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgPlain)); !errors.Is(err, ErrQuota) {
			t.Fatalf("Deliver over quota: %v", err)
		}
		if err := e.s.SetQuota(ctx, a, 0); err != nil {
			t.Fatal(err)
		}
		c.has.Store(0)
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgPlain)); err != nil {
			t.Fatal(err)
		}
		if c.has.Load() != 1 {
			t.Errorf("%d Has calls for a blob a failed delivery noted, want 1", c.has.Load())
		}
	})
	t.Run("row", func(t *testing.T) {
		t.Parallel()
		e, c := countingEnv(t)
		a := e.account(t, 1)
		e.append(t, a, "INBOX", msgPlain)
		c.has.Store(0)
		c.put = func() { e.blobs.Delete(blob.Ref(sha256Hex(msgPlain))) } // as a collector would
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgPlain)); !errors.Is(err, ErrBlobCollected) {
			t.Errorf("Deliver of a blob gone after its Put: %v, want ErrBlobCollected", err)
		}
		if c.has.Load() != 1 {
			t.Errorf("%d Has calls for a blob a row named, want 1", c.has.Load())
		}
	})
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		e, c := countingEnv(t)
		a := e.account(t, 1)
		c.put = func() { e.advance(GCGrace / 2) }
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgPlain)); err != nil {
			t.Fatal(err)
		}
		if c.has.Load() != 1 {
			t.Errorf("%d Has calls after half of GCGrace, want 1", c.has.Load())
		}
	})
}

// TestDeliverRoundTrips counts what one delivery to one recipient sends
// PostgreSQL and waits for: the look for rows naming the body, then in
// the group commit BEGIN, the write lock, the job's savepoint, the INBOX
// with its usage and quota, the body's row noted for the index in the
// same statement, the mailbox's counters and the message's row in one,
// and COMMIT. Each is a round trip to another process, six of them while
// every other delivery waits for the write lock. (Ten before the
// statements were merged.)
func TestDeliverRoundTrips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Engine() != db.Postgres {
		t.Skip("round trips are PostgreSQL's")
	}
	ctx := t.Context()
	a := e.account(t, 1)
	// The pool's connections prepare the statements once.
	for i := range 3 {
		if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(strings.Replace(msgPlain, "Subject: ", "Subject: "+strconv.Itoa(i), 1))); err != nil {
			t.Fatal(err)
		}
	}
	before := e.db.RoundTrips()
	uids, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgLatin1))
	if err != nil {
		t.Fatal(err)
	}
	// The look for a row naming the body; then BEGIN, the write lock,
	// one statement for the blobs row, the INBOX's counters and the
	// message (quota checked in it), COMMIT: a delivery is a bare job of
	// the group commit, no savepoint of its own.
	if trips := e.db.RoundTrips() - before; trips > 5 {
		t.Errorf("%d round trips for one delivery, want at most 5", trips)
	}
	if uids[a] != 4 {
		t.Errorf("UID %d, want 4", uids[a])
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != 4 {
		t.Errorf("%d bodies noted for the index, want 4", n)
	}
}
