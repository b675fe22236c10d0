package files_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// hookBlobs is a blob store that counts Has and calls afterPut, if set,
// after each Put.
type hookBlobs struct {
	blob.Store
	has      atomic.Int64
	afterPut func(ref blob.Ref)
}

func (h *hookBlobs) Has(ref blob.Ref) (bool, error) {
	h.has.Add(1)
	return h.Store.Has(ref)
}

func (h *hookBlobs) Put(ctx context.Context, r io.Reader, limit int64) (blob.Ref, int64, error) {
	ref, n, err := h.Store.Put(ctx, r, limit)
	if err == nil && h.afterPut != nil {
		h.afterPut(ref)
	}
	return ref, n, err
}

// hookedStore returns a store on e's database over e's blob directory
// through a hookBlobs.
func hookedStore(t *testing.T, e *filestest.Env) (*files.Store, *hookBlobs) {
	t.Helper()
	bs, err := blob.OpenDir(e.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookBlobs{Store: bs}
	return files.New(e.DB, h, files.Options{Now: e.Clock.Now}, files.Deps{Auth: e.Auth, Audit: e.Audit}), h
}

// TestUploadBlobDropped checks the rule that lets an upload on
// PostgreSQL commit without asking the blob store whether its content is
// still there (an S3 request under the cluster's write lock): it does not
// ask when no blob was deleted since it began (no Has at all), and when
// the blob it stored is deleted before its commit (a failed upload of the
// same content, another node's clean-up), the upload fails instead of
// naming a content that is gone, and no file appears.
func TestUploadBlobDropped(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, h := hookedStore(t, e)
	ctx := t.Context()
	alice := e.Member(t, "alice@example.org")
	home, err := s.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, files.DefaultInlineBytes+100) }
	for i, c := range []byte("abc") {
		if _, err := s.PutIn(ctx, alice, home, string(c)+".bin", bytes.NewReader(big(c)), int64(len(big(c)))); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if n := h.has.Load(); e.DB.Engine() == db.Postgres && n != 0 {
		t.Errorf("%d looks at the blob store for 3 uploads, want 0", n)
	}

	h.afterPut = func(ref blob.Ref) { files.DropBlobs(s, string(ref)) }
	content := big('d')
	_, err = s.PutIn(ctx, alice, home, "d.bin", bytes.NewReader(content), int64(len(content)))
	if err == nil || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("upload of a content deleted before its commit: %v, want it refused", err)
	}
	if _, err := s.Stat(ctx, alice, "/Home/d.bin"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("the refused upload's file: %v", err)
	}
	h.afterPut = nil
	n, err := s.PutIn(ctx, alice, home, "d.bin", bytes.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatalf("the upload again: %v", err)
	}
	if got := read(t, s, alice, n.ID); got != string(content) {
		t.Fatalf("the upload again reads %d bytes", len(got))
	}
}

// TestUploadRoundTrips counts, on PostgreSQL, the round trips of an
// upload of a new small file into a folder of one's home: the folder's
// chain and one check before the content is read, then the group's
// BEGIN, the write lock and the one statement in one message, then
// COMMIT (14 before: the checks twice, the savepoint, and each write its
// own; 6 when the lock was a message of its own, 5 when the statement
// was).
func TestUploadRoundTrips(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	if e.DB.Engine() != db.Postgres {
		t.Skip("round trips are PostgreSQL's")
	}
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	docs, err := s.Mkdir(ctx, alice, home.ID, "docs")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alice, "/Home/docs", "warm.txt", "statements prepared")
	before := e.DB.RoundTrips()
	n, err := s.Put(ctx, alice, docs.ID, "new.txt", strings.NewReader("hello"), 5)
	if err != nil {
		t.Fatal(err)
	}
	trips := e.DB.RoundTrips() - before
	if n.Path != "/Home/docs/new.txt" || n.ParentID != docs.ID || n.Size != 5 || n.Versions != 1 || !n.Writable {
		t.Errorf("node %+v", n)
	}
	if want := int64(4); trips > want {
		t.Errorf("%d round trips for an upload, want at most %d", trips, want)
	}
	t.Logf("%d round trips for an upload", trips)
}

// namedBlobs is a blob store that takes PutNamed (as the S3 store does)
// and records what named answered for each Put.
type namedBlobs struct {
	blob.Store
	answers []bool
}

func (b *namedBlobs) PutNamed(ctx context.Context, r io.Reader, limit int64, named func(blob.Ref) (bool, error)) (blob.Ref, int64, error) {
	ref, n, err := b.Store.Put(ctx, r, limit)
	if err != nil {
		return ref, n, err
	}
	ok, err := named(ref)
	b.answers = append(b.answers, ok)
	return ref, n, err
}

// TestUploadTellsNamed checks what an upload tells a blob store that
// takes PutNamed: that no version names a new content (so an object
// store uploads it without a HEAD request first), and that one does
// when the same content is uploaded again.
func TestUploadTellsNamed(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	bs, err := blob.OpenDir(e.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	nb := &namedBlobs{Store: bs}
	s := files.New(e.DB, nb, files.Options{Now: e.Clock.Now}, files.Deps{Auth: e.Auth, Audit: e.Audit})
	alice := e.Member(t, "alice@example.org")
	content := strings.Repeat("x", files.DefaultInlineBytes+1)
	put(t, s, alice, "/Home", "a.bin", content)
	put(t, s, alice, "/Home", "b.bin", content)
	if got := fmt.Sprint(nb.answers); got != "[false true]" {
		t.Errorf("named answered %s, want [false true]", got)
	}
}

// TestUploadGroupRoundTrips counts, on PostgreSQL, the round trips of one
// group commit of eight new uploads into a folder of one's home: BEGIN,
// the write lock and the eight statements in one message, then COMMIT
// (10 when each upload's statement was a round trip of its own, 3 when
// BEGIN was a message of its own). Then, in a
// second group, two uploads of the same new name: the second one's
// statement finds the name taken by the first's, and it commits as a
// second version, read again after the pipeline.
func TestUploadGroupRoundTrips(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	if e.DB.Engine() != db.Postgres {
		t.Skip("round trips are PostgreSQL's")
	}
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	docs, err := s.Mkdir(ctx, alice, home.ID, "docs")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alice, "/Home/docs", "warm.txt", "statements prepared")
	// group uploads names into docs in one group commit and returns the
	// nodes and its round trips.
	group := func(names ...string) ([]files.Node, int64) {
		release, queued, err := files.HoldGroup(s)
		if err != nil {
			t.Fatal(err)
		}
		nodes, errs := make([]files.Node, len(names)), make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				body := fmt.Sprintf("content %d", i)
				nodes[i], errs[i] = s.Put(ctx, alice, docs.ID, name, strings.NewReader(body), int64(len(body)))
			})
		}
		for queued() < len(names) {
			time.Sleep(time.Millisecond)
		}
		before := e.DB.RoundTrips()
		release()
		wg.Wait()
		trips := e.DB.RoundTrips() - before
		for i, err := range errs {
			if err != nil {
				t.Fatalf("upload %d: %v", i, err)
			}
			if want := "/Home/docs/" + names[i]; nodes[i].Path != want || nodes[i].Size != int64(len(fmt.Sprintf("content %d", i))) {
				t.Errorf("upload %d: node %+v", i, nodes[i])
			}
		}
		return nodes, trips
	}
	_, trips := group("a", "b", "c", "d", "e", "f", "g", "h")
	if want := int64(2); trips != want {
		t.Errorf("%d round trips for a group of 8 uploads, want %d", trips, want)
	}
	t.Logf("%d round trips for a group of 8 uploads", trips)
	nodes, _ := group("same", "same")
	same, err := s.Stat(ctx, alice, "/Home/docs/same")
	if err != nil || same.Versions != 2 || nodes[0].ID != nodes[1].ID || same.ID != nodes[0].ID {
		t.Errorf("the name uploaded twice: %+v (%v), nodes %d and %d, want one node of two versions", same, err, nodes[0].ID, nodes[1].ID)
	}
}
