package blob

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// TestOpenSmallNoCopy: a small blob (at most smallRead bytes) is read
// straight into the reader's buffer, as a WebDAV download's buffer: Open
// makes no copy of its own, which was a heap object of the blob's size at
// every download of a file of 16 to 64 KiB (the garbage collector took a
// sixth of the server's CPU in a 64 KiB GET load; issue 21). Not parallel:
// it counts the bytes the process allocates.
func TestOpenSmallNoCopy(t *testing.T) {
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 10
	data := make([]byte, size)
	rand.Read(data)
	ref, _, err := s.Put(t.Context(), bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	read := func() {
		r, err := s.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	read()
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		read()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > size/8 {
		t.Errorf("Open and a read of a %d-byte blob allocate %d bytes", size, per)
	}
	if !bytes.Equal(buf, data) {
		t.Error("content read differs")
	}
}

// TestOpenSmallConcurrent: a small blob's reader serves reads at its
// own offset and at any offset (ReadAt) from several goroutines, and a
// Close among them never lets a read reach another file that took its
// descriptor's number: after Close every read fails.
func TestOpenSmallConcurrent(t *testing.T) {
	t.Parallel()
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40<<10)
	rand.Read(data)
	ref, _, err := s.Put(t.Context(), bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, bytes.Repeat([]byte{'!'}, len(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r, err := s.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		ra := r.(io.ReaderAt)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				p := make([]byte, 1000)
				for i := range 30 {
					off := int64((g*7919 + i*1013) % (len(data) - len(p)))
					n, err := ra.ReadAt(p, off)
					if err != nil {
						if n != 0 {
							t.Errorf("ReadAt failed (%v) with %d bytes", err, n)
						}
						return // closed
					}
					if !bytes.Equal(p[:n], data[off:off+int64(n)]) {
						t.Errorf("ReadAt at %d: not the blob's bytes", off)
						return
					}
				}
			})
		}
		wg.Go(func() {
			r.Close()
			// Take the freed descriptor number, if the system gives it.
			if f, err := os.Open(other); err == nil {
				defer f.Close()
			}
		})
		wg.Wait()
		if _, err := r.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after close succeeded")
		}
	}
}

// TestOpenSmallPartReads: a reader that reads a small blob in parts (a
// parser's bufio.Reader) gets it read whole with its first read and the
// descriptor closed at once, as Open did before; one that takes all the
// rest in one read gets it straight into its buffer. Not parallel: it
// counts this process's open descriptors.
func TestOpenSmallPartReads(t *testing.T) {
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 30<<10)
	rand.Read(data)
	ref, _, err := s.Put(t.Context(), bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	r, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	if fds() != before+1 {
		t.Fatal("Open keeps no descriptor")
	}
	part := make([]byte, 4096)
	if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, data[:4096]) {
		t.Fatalf("first part: %v", err)
	}
	if n := fds(); n != before {
		t.Errorf("%d descriptors open after a part was read, want %d: the file was not read whole", n, before)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, data[4096:]) {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if fds() != before {
		t.Error("a descriptor is left after Close")
	}
}
