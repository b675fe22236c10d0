// Package blobtest checks that a [blob.Store] implementation keeps the
// guarantees the interface documents: content addressing, deduplication,
// streaming with a limit, cancellation, seekable reads, deletion, Walk and
// concurrent use. Durability across a crash is the implementation's own
// test (for [blob.Dir], its crash tests).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// Run runs the conformance tests as subtests of t. open returns a new,
// empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutOpen", testPutOpen},
		{"Dedup", testDedup},
		{"Limit", testLimit},
		{"FailedPut", testFailedPut},
		{"BadRef", testBadRef},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// content returns n bytes that differ with seed.
func content(seed string, n int) []byte {
	b := make([]byte, n)
	h := sha256.Sum256([]byte(seed))
	for i := 0; i < n; i += len(h) {
		copy(b[i:], h[:])
		h = sha256.Sum256(h[:])
	}
	return b
}

func refOf(b []byte) blob.Ref {
	sum := sha256.Sum256(b)
	return blob.RefOf(sum[:])
}

func put(t *testing.T, s blob.Store, b []byte) blob.Ref {
	t.Helper()
	ref, n, err := s.Put(context.Background(), bytes.NewReader(b), 0)
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(b), err)
	}
	if want := refOf(b); ref != want || n != int64(len(b)) {
		t.Fatalf("Put = %s, %d; want %s, %d", ref, n, want, len(b))
	}
	return ref
}

// count returns the refs Walk reports.
func count(t *testing.T, s blob.Store) map[blob.Ref]fs.FileInfo {
	t.Helper()
	seen := map[blob.Ref]fs.FileInfo{}
	err := s.Walk(func(ref blob.Ref, info fs.FileInfo) error {
		if _, dup := seen[ref]; dup {
			return fmt.Errorf("Walk reported %s twice", ref)
		}
		seen[ref] = info
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return seen
}

// testPutOpen stores blobs of several sizes, across the sizes where a
// streaming implementation changes strategy, and reads them back, seeking.
func testPutOpen(t *testing.T, s blob.Store) {
	for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<20 + 17} {
		b := content(fmt.Sprint(n), n)
		ref := put(t, s, b)
		f, err := s.Open(ref)
		if err != nil {
			t.Fatalf("Open(%d bytes): %v", n, err)
		}
		// Reads, and seeks from every origin.
		if err := iotest.TestReader(f, b); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
		if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(n) {
			t.Errorf("%d bytes: Seek to end = %d, %v", n, end, err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if ok, err := s.Has(ref); !ok || err != nil {
			t.Errorf("Has(stored) = %v, %v", ok, err)
		}
	}
}

func testDedup(t *testing.T, s blob.Store) {
	b := []byte("the same content, twice")
	ref := put(t, s, b)
	if again := put(t, s, b); again != ref {
		t.Fatalf("second Put = %s, want %s", again, ref)
	}
	if seen := count(t, s); len(seen) != 1 {
		t.Errorf("Walk after storing one content twice: %d blobs", len(seen))
	}
}

// testLimit checks that Put refuses content beyond its limit, leaving
// nothing, and accepts content of exactly the limit.
func testLimit(t *testing.T, s blob.Store) {
	for _, n := range []int{100, 5 << 20} {
		b := content("limit", n)
		_, _, err := s.Put(context.Background(), bytes.NewReader(b), int64(n-1))
		if !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("Put of %d bytes with limit %d: %v, want ErrTooLarge", n, n-1, err)
		}
		if ok, err := s.Has(refOf(b)); ok || err != nil {
			t.Errorf("Has(refused blob) = %v, %v", ok, err)
		}
		if ref, m, err := s.Put(context.Background(), bytes.NewReader(b), int64(n)); err != nil || ref != refOf(b) || m != int64(n) {
			t.Errorf("Put of %d bytes with limit %d = %s, %d, %v", n, n, ref, m, err)
		}
	}
	if seen := count(t, s); len(seen) != 2 {
		t.Errorf("Walk: %d blobs, want the 2 within their limit", len(seen))
	}
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// testFailedPut checks that a Put cancelled midway, or whose reader
// fails, returns an error and leaves no blob.
func testFailedPut(t *testing.T, s blob.Store) {
	b := content("cancelled", 4<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, err := s.Put(ctx, &cancelAfter{r: bytes.NewReader(b), n: 2 << 20, cancel: cancel}, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Put: %v, want context.Canceled", err)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, _, err := s.Put(done, strings.NewReader("x"), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
	broken := errors.New("the network went away")
	r := io.MultiReader(bytes.NewReader(b[:1<<20]), iotest.ErrReader(broken))
	if _, _, err := s.Put(context.Background(), r, 0); !errors.Is(err, broken) {
		t.Errorf("Put from a failing reader: %v, want %v", err, broken)
	}
	if seen := count(t, s); len(seen) != 0 {
		t.Errorf("failed Puts left %d blobs", len(seen))
	}
}

func testBadRef(t *testing.T, s blob.Store) {
	for _, bad := range []blob.Ref{"", "../../etc/passwd", blob.Ref(strings.Repeat("A", 64)), blob.Ref(strings.Repeat("0", 63))} {
		if _, err := s.Open(bad); !errors.Is(err, blob.ErrBadRef) {
			t.Errorf("Open(%q): %v", bad, err)
		}
		if _, err := s.Has(bad); !errors.Is(err, blob.ErrBadRef) {
			t.Errorf("Has(%q): %v", bad, err)
		}
		if err := s.Delete(bad); !errors.Is(err, blob.ErrBadRef) {
			t.Errorf("Delete(%q): %v", bad, err)
		}
	}
}

func testDelete(t *testing.T, s blob.Store) {
	keep := put(t, s, []byte("kept"))
	ref := put(t, s, []byte("deleted"))
	if err := s.Delete(ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := s.Has(ref); ok || err != nil {
		t.Errorf("Has(deleted) = %v, %v", ok, err)
	}
	if _, err := s.Open(ref); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(deleted): %v, want ErrNotFound", err)
	}
	if err := s.Delete(ref); err != nil {
		t.Errorf("Delete of a missing blob: %v", err)
	}
	if seen := count(t, s); len(seen) != 1 || seen[keep] == nil {
		t.Errorf("Walk after Delete: %v, want only %s", seen, keep)
	}
	put(t, s, []byte("deleted")) // stored again after its deletion
}

func testWalk(t *testing.T, s blob.Store) {
	before := time.Now().Add(-time.Minute)
	want := map[blob.Ref]int{}
	for i := range 20 {
		b := content(fmt.Sprint("walk", i), i*100)
		want[put(t, s, b)] = len(b)
	}
	seen := count(t, s)
	if len(seen) != len(want) {
		t.Errorf("Walk: %d blobs, want %d", len(seen), len(want))
	}
	for ref, n := range want {
		info := seen[ref]
		switch {
		case info == nil:
			t.Errorf("Walk missed %s", ref)
		case info.Name() != string(ref) || info.Size() != int64(n):
			t.Errorf("Walk: %s: name %q, size %d, want size %d", ref, info.Name(), info.Size(), n)
		case info.ModTime().Before(before) || info.ModTime().After(time.Now().Add(time.Minute)):
			t.Errorf("Walk: %s: stored at %v, not now", ref, info.ModTime())
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Walk(func(blob.Ref, fs.FileInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with fn failing: %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// testConcurrent stores from many goroutines at once, several of them the
// same content, while others read and delete.
func testConcurrent(t *testing.T, s blob.Store) {
	doomed := put(t, s, []byte("deleted meanwhile"))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			b := content(fmt.Sprint("concurrent", i%8), 100<<10+i%8)
			ref, n, err := s.Put(context.Background(), bytes.NewReader(b), 0)
			if err != nil || ref != refOf(b) || n != int64(len(b)) {
				errs <- fmt.Errorf("Put = %s, %d, %v", ref, n, err)
				return
			}
			f, err := s.Open(ref)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, b) {
				errs <- fmt.Errorf("reading back %s: %d bytes, %v", ref, len(got), err)
			}
		})
	}
	wg.Go(func() {
		if err := s.Delete(doomed); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if seen := count(t, s); len(seen) != 8 {
		t.Errorf("Walk after concurrent Puts of 8 contents: %d blobs", len(seen))
	}
}
