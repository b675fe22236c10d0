package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func open(t testing.TB) *Dir {
	t.Helper()
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func sum(b []byte) Ref {
	h := sha256.Sum256(b)
	return Ref(hex.EncodeToString(h[:]))
}

// files lists the regular files under the store directory, by path
// relative to it.
func files(t *testing.T, s *Dir) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(s.dir, p); !d.IsDir() && rel != layoutFile {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertEmpty checks that a failed Put left nothing: no file anywhere but
// the layout file, and no directory but tmp and the 256 fan-out ones.
func assertEmpty(t *testing.T, s *Dir) {
	t.Helper()
	if f := files(t, s); len(f) != 0 {
		t.Errorf("files left behind: %v", f)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 256+2 {
		t.Errorf("%d entries in the store directory, want tmp, layout and 256 fan-out directories", len(entries))
	}
	for _, e := range entries {
		if _, err := hex.DecodeString(e.Name()); e.Name() != "tmp" && e.Name() != layoutFile && (err != nil || len(e.Name()) != 2) {
			t.Errorf("unexpected entry %s in store directory", e.Name())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	for _, content := range [][]byte{
		nil,
		[]byte("Subject: hello\r\n\r\nbody\r\n"),
		bytes.Repeat([]byte("0123456789abcdef"), 10000), // several chunks
	} {
		ref, n, err := s.Put(ctx, bytes.NewReader(content), 0)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if want := sum(content); ref != want {
			t.Errorf("ref %s, want %s", ref, want)
		}
		if n != int64(len(content)) {
			t.Errorf("n = %d, want %d", n, len(content))
		}
		if _, err := ParseRef(string(ref)); err != nil {
			t.Errorf("Put returned unparsable ref: %v", err)
		}
		if p, want := s.Path(ref), filepath.Join(s.dir, string(ref[:2]), string(ref)); p != want {
			t.Errorf("Path = %s, want %s", p, want)
		}

		f, err := s.Open(ref)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("content differs: got %d bytes, want %d", len(got), len(content))
		}
		if size, err := s.Size(ref); err != nil || size != int64(len(content)) {
			t.Errorf("Size = %d, %v; want %d", size, err, len(content))
		}
		if ok, err := s.Has(ref); err != nil || !ok {
			t.Errorf("Has = %v, %v; want true", ok, err)
		}
		fi, err := os.Stat(s.Path(ref))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o400 {
			t.Errorf("blob mode %v, want 0400", mode)
		}

		if err := s.Delete(ref); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if ok, err := s.Has(ref); err != nil || ok {
			t.Errorf("Has after Delete = %v, %v; want false", ok, err)
		}
		if err := s.Delete(ref); err != nil {
			t.Errorf("Delete of missing blob: %v", err)
		}
	}
	if f := files(t, s); len(f) != 0 {
		t.Errorf("files left after deleting all: %v", f)
	}
}

func TestDirModes(t *testing.T) {
	t.Parallel()
	// A directory Open creates; an existing one keeps its mode.
	s, err := OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := s.Put(t.Context(), strings.NewReader("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	cd := filepath.Dir(s.Path(ref))
	for _, d := range []string{s.dir, s.tmpDir(), cd, filepath.Dir(cd)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o700 {
			t.Errorf("%s: mode %v, want 0700", d, mode)
		}
	}
}

func TestDedup(t *testing.T) {
	t.Parallel()
	s := open(t)
	content := []byte("the same attachment, sent to the whole list")
	var refs []Ref
	for range 2 {
		ref, _, err := s.Put(t.Context(), bytes.NewReader(content), 0)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if refs[0] != refs[1] {
		t.Errorf("refs differ: %s, %s", refs[0], refs[1])
	}
	if f := files(t, s); len(f) != 1 {
		t.Errorf("files %v, want exactly one", f)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size, limit int64
		ok          bool
	}{
		{0, 1, true},
		{100, 100, true},
		{101, 100, false},
		{1 << 20, 100, false},
		{1 << 20, 1<<20 - 1, false},
		{1 << 20, 1 << 20, true},
		{1 << 20, 0, true},
		{1 << 20, -1, true},
	}
	for _, tt := range tests {
		s := open(t)
		ref, n, err := s.Put(t.Context(), io.LimitReader(newGen(), tt.size), tt.limit)
		if tt.ok {
			if err != nil || n != tt.size {
				t.Errorf("size %d limit %d: Put = %d, %v; want success", tt.size, tt.limit, n, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("size %d limit %d: Put error %v, want ErrTooLarge", tt.size, tt.limit, err)
		}
		if ref != "" || n != 0 {
			t.Errorf("size %d limit %d: Put returned %q, %d with error", tt.size, tt.limit, ref, n)
		}
		assertEmpty(t, s)
	}
}

// cancelReader cancels its context once it has handed out after bytes.
type cancelReader struct {
	r      io.Reader
	after  int64
	n      int64
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func TestCancel(t *testing.T) {
	t.Parallel()
	for _, after := range []int64{1, 1 << 20, 4 << 20} { // first chunk, middle, last
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelReader{r: io.LimitReader(newGen(), 4<<20), after: after, cancel: cancel}
		_, _, err := s.Put(ctx, r, 0)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after %d: Put error %v, want context.Canceled", after, err)
		}
		if after < 4<<20 && r.n >= 4<<20 {
			t.Errorf("after %d: Put read everything (%d bytes) despite cancellation", after, r.n)
		}
		assertEmpty(t, s)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadError(t *testing.T) {
	t.Parallel()
	s := open(t)
	_, _, err := s.Put(t.Context(), io.MultiReader(strings.NewReader("partial"), errReader{}), 0)
	if err == nil {
		t.Fatal("Put succeeded on a failing reader")
	}
	assertEmpty(t, s)
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	valid := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		in string
		ok bool
	}{
		{valid, true},
		{string(sum(nil)), true},
		{strings.Repeat("f", 64), true},
		{"", false},
		{strings.ToUpper(valid), false},
		{valid[:63] + "A", false},
		{valid[:63], false},       // short
		{valid + "0", false},      // long
		{valid[:63] + "g", false}, // not hex
		{valid[:63] + " ", false}, // space
		{" " + valid[:63], false}, // space
		{valid[:62] + "é", false}, // 64 bytes, not 64 hex characters
		{"../../../../etc/passwd", false},
		{valid[:2] + "/" + valid[3:], false},
		{valid[:63] + "\x00", false},
	}
	for _, tt := range tests {
		ref, err := ParseRef(tt.in)
		if tt.ok {
			if err != nil || string(ref) != tt.in {
				t.Errorf("ParseRef(%q) = %q, %v; want success", tt.in, ref, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadRef) || ref != "" {
			t.Errorf("ParseRef(%q) = %q, %v; want ErrBadRef", tt.in, ref, err)
		}
	}
}

func TestBadRefMethods(t *testing.T) {
	t.Parallel()
	s := open(t)
	bad := Ref("../tmp/x")
	if p := s.Path(bad); p != "" {
		t.Errorf("Path(bad) = %q, want empty", p)
	}
	if _, err := s.Open(bad); !errors.Is(err, ErrBadRef) {
		t.Errorf("Open: %v, want ErrBadRef", err)
	}
	if _, err := s.Size(bad); !errors.Is(err, ErrBadRef) {
		t.Errorf("Size: %v, want ErrBadRef", err)
	}
	if _, err := s.Has(bad); !errors.Is(err, ErrBadRef) {
		t.Errorf("Has: %v, want ErrBadRef", err)
	}
	if err := s.Delete(bad); !errors.Is(err, ErrBadRef) {
		t.Errorf("Delete: %v, want ErrBadRef", err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := open(t)
	ref := sum([]byte("never stored"))
	if _, err := s.Open(ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open: %v, want ErrNotFound", err)
	}
	if _, err := s.Size(ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Size: %v, want ErrNotFound", err)
	}
	if ok, err := s.Has(ref); ok || err != nil {
		t.Errorf("Has = %v, %v; want false, nil", ok, err)
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	t.Parallel()
	s := open(t)
	ref, _, err := s.Put(t.Context(), strings.NewReader("kept"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of Put leaves.
	for _, name := range []string{"put-123", "put-456"} {
		if err := os.WriteFile(filepath.Join(s.tmpDir(), name), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.tmpDir(), "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	// And one in a shard directory of Put's.
	if err := os.WriteFile(filepath.Join(s.tmpDir(), "d", "put-789"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2, err := OpenDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s2.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d leftovers remain in tmp", len(entries))
	}
	if ok, err := s2.Has(ref); !ok || err != nil {
		t.Errorf("stored blob lost: Has = %v, %v", ok, err)
	}
}

// TestAttachDirLeavesTmp checks that a second process attaching to a store
// (`caucus backup` beside the server) keeps the owner's writes in progress
// in dir/tmp, reads the owner's blobs, and that its own Puts do not
// collide with the owner's temporary files.
func TestAttachDirLeavesTmp(t *testing.T) {
	t.Parallel()
	s := open(t)
	ref, _, err := s.Put(t.Context(), strings.NewReader("owner's"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The owner's next Puts, in progress: the names its counter gives next.
	var inFlight []string
	for n := s.next.Load() + 1; n < s.next.Load()+3; n++ {
		shard := filepath.Join(s.tmpDir(), fmt.Sprintf("%02d", n%tmpShards))
		if err := os.MkdirAll(shard, 0o700); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(shard, "put-"+strconv.FormatUint(n, 10))
		if err := os.WriteFile(name, []byte("half"), 0o400); err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, name)
	}

	a, err := AttachDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range inFlight {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("AttachDir removed the owner's write in progress: %v", err)
		}
	}
	r, err := a.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != "owner's" {
		t.Errorf("attached Open(owner's blob) = %q, %v", b, err)
	}
	for i := range 3 {
		if _, _, err := a.Put(t.Context(), strings.NewReader(fmt.Sprint("attached ", i)), 0); err != nil {
			t.Errorf("attached Put beside the owner's temporary files: %v", err)
		}
	}
	for _, name := range inFlight {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("attached Put touched the owner's write in progress: %v", err)
		}
	}
}

func TestConcurrentPutSame(t *testing.T) {
	t.Parallel()
	s := open(t)
	const size = 1 << 20
	want := sum(readAll(t, io.LimitReader(newGen(), size)))
	var wg sync.WaitGroup
	refs := make([]Ref, 8)
	errs := make([]error, 8)
	for i := range refs {
		wg.Go(func() {
			refs[i], _, errs[i] = s.Put(t.Context(), io.LimitReader(newGen(), size), 0)
		})
	}
	wg.Wait()
	for i := range refs {
		if errs[i] != nil {
			t.Errorf("Put %d: %v", i, errs[i])
		} else if refs[i] != want {
			t.Errorf("Put %d: ref %s, want %s", i, refs[i], want)
		}
	}
	if f := files(t, s); len(f) != 1 {
		t.Errorf("files %v, want exactly one", f)
	}
	f, err := s.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := sum(readAll(t, f)); got != want {
		t.Errorf("stored content hashes to %s, want %s", got, want)
	}
}

// TestLargeBlobStreams checks that Put does not hold the blob in memory. It
// is not parallel: runtime.MemStats counts the allocations of every
// goroutine, and parallel tests only start once serial ones are done.
func TestLargeBlobStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	s := open(t)
	const size = 64 << 20
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(newGen(), size)); err != nil {
		t.Fatal(err)
	}
	want := Ref(hex.EncodeToString(h.Sum(nil)))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ref, n, err := s.Put(t.Context(), io.LimitReader(newGen(), size), 0)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if ref != want || n != size {
		t.Fatalf("Put = %s, %d; want %s, %d", ref, n, want, size)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("Put of %d MiB allocated %d KiB", size>>20, allocated>>10)
	if allocated > 4<<20 {
		t.Errorf("Put of %d MiB allocated %d KiB; it should stream", size>>20, allocated>>10)
	}
}

// gen is a reader of endless pseudo-random bytes (xorshift64), so tests can
// make large blobs without large slices. The stream does not depend on the
// sizes of the reads.
type gen struct {
	x   uint64
	buf [8]byte
	off int // next unread byte of buf; len(buf) when used up
}

func newGen() *gen { return &gen{x: 0x9e3779b97f4a7c15, off: 8} }

func (g *gen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.off == len(g.buf) {
			binary.LittleEndian.PutUint64(g.buf[:], g.next())
			g.off = 0
		}
		c := copy(p[n:], g.buf[g.off:])
		g.off += c
		n += c
	}
	return n, nil
}

func (g *gen) next() uint64 {
	g.x ^= g.x << 13
	g.x ^= g.x >> 7
	g.x ^= g.x << 17
	return g.x
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseRef(f *testing.F) {
	f.Add(strings.Repeat("0123456789abcdef", 4))
	f.Add(strings.Repeat("0123456789ABCDEF", 4))
	f.Add(strings.Repeat("a", 63))
	f.Add(strings.Repeat("a", 65))
	f.Add("")
	f.Add("../" + strings.Repeat("a", 61))
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseRef(s)
		if err != nil {
			if !errors.Is(err, ErrBadRef) || ref != "" {
				t.Fatalf("ParseRef(%q) = %q, %v", s, ref, err)
			}
			// A refused string must not be a lowercase hex SHA-256.
			if b, derr := hex.DecodeString(s); derr == nil && len(b) == sha256.Size && hex.EncodeToString(b) == s {
				t.Fatalf("ParseRef(%q) refused a valid reference", s)
			}
			return
		}
		if string(ref) != s {
			t.Fatalf("ParseRef(%q) = %q", s, ref)
		}
		b, derr := hex.DecodeString(s)
		if derr != nil || len(b) != sha256.Size || hex.EncodeToString(b) != s {
			t.Fatalf("ParseRef(%q) accepted a string that is not lowercase hex SHA-256", s)
		}
		if p := (&Dir{dir: "/d"}).Path(ref); p != filepath.Join("/d", s[:2], s) {
			t.Fatalf("Path(%q) = %q", s, p)
		}
		if p := (&Dir{dir: "/d", nested: true}).Path(ref); p != filepath.Join("/d", s[:2], s[2:4], s) {
			t.Fatalf("nested Path(%q) = %q", s, p)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	const size = 1 << 20
	content := readAll(b, io.LimitReader(newGen(), size))
	b.SetBytes(size)
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		// Distinct content each time, or Put only deduplicates.
		i++
		binary.LittleEndian.PutUint64(content, i)
		if _, _, err := s.Put(ctx, bytes.NewReader(content), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPutRemovedDir checks that Put makes a fan-out directory again that
// was removed after an earlier Put used it (Put remembers which ones are
// durable, and must not trust that blindly).
func TestPutRemovedDir(t *testing.T) {
	t.Parallel()
	s := open(t)
	ref, _, err := s.Put(t.Context(), strings.NewReader("first"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(s.Path(ref))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(t.Context(), strings.NewReader("first"), 0); err != nil {
		t.Fatalf("Put after its directory was removed: %v", err)
	}
	if ok, err := s.Has(ref); !ok || err != nil {
		t.Errorf("Has = %v, %v; want the blob back", ok, err)
	}
}

// TestChunkEdges stores contents around the sizes where Put switches from
// writing at once to streaming in chunks, read in pieces of odd sizes.
func TestChunkEdges(t *testing.T) {
	t.Parallel()
	s := open(t)
	for _, size := range []int64{firstChunk - 1, firstChunk, firstChunk + 1, firstChunk + chunkSize, 3*chunkSize + 12345} {
		content := readAll(t, io.LimitReader(newGen(), size))
		for name, r := range map[string]io.Reader{
			"whole": bytes.NewReader(content),
			"half":  iotest.HalfReader(bytes.NewReader(content)),
			"eof":   iotest.DataErrReader(bytes.NewReader(content)),
		} {
			ref, n, err := s.Put(t.Context(), r, size)
			if err != nil || ref != sum(content) || n != size {
				t.Errorf("size %d, %s reads: Put = %s, %d, %v; want %s, %d", size, name, ref, n, err, sum(content), size)
			}
			f, err := s.Open(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, f); !bytes.Equal(got, content) {
				t.Errorf("size %d, %s reads: stored content differs", size, name)
			}
			f.Close()
		}
		if _, _, err := s.Put(t.Context(), bytes.NewReader(content), size-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("size %d, limit one less: Put error %v, want ErrTooLarge", size, err)
		}
	}
}

// TestReadErrorStreaming fails the reader after several chunks.
func TestReadErrorStreaming(t *testing.T) {
	t.Parallel()
	s := open(t)
	_, _, err := s.Put(t.Context(), io.MultiReader(io.LimitReader(newGen(), 3*chunkSize+5), errReader{}), 0)
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Put error %v, want the reader's", err)
	}
	assertEmpty(t, s)
}

// TestLayout checks that a new store is flat, that a store holding blobs
// in the older nested layout keeps it, and that an unknown layout is
// refused.
func TestLayout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := s.Put(ctx, strings.NewReader("flat"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, string(ref[:2]), string(ref))); err != nil {
		t.Fatalf("a new store's blob: %v", err)
	}
	if s2, err := OpenDir(dir); err != nil || s2.nested {
		t.Fatalf("reopened: nested %v, %v", s2 != nil && s2.nested, err)
	}

	// A store from before the layout file: dir/ab/cd/<ref>.
	old := filepath.Join(t.TempDir(), "old")
	sum := sha256.Sum256([]byte("nested"))
	oldRef := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(old, oldRef[:2], oldRef[2:4]), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, oldRef[:2], oldRef[2:4], oldRef), []byte("nested"), 0o400); err != nil {
		t.Fatal(err)
	}
	s, err = OpenDir(old)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := s.Open(Ref(oldRef)); err != nil {
		t.Fatalf("the old blob: %v", err)
	} else {
		f.Close()
	}
	ref, _, err = s.Put(ctx, strings.NewReader("also nested"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(old, string(ref[:2]), string(ref[2:4]), string(ref))); err != nil {
		t.Fatalf("a new blob in an old store: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(old, layoutFile)); err != nil || string(data) != "nested\n" {
		t.Fatalf("layout file of the old store: %q, %v", data, err)
	}

	if err := os.WriteFile(filepath.Join(dir, layoutFile), []byte("spiral\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); err == nil {
		t.Fatal("Open accepted an unknown layout")
	}
}

// BenchmarkPutSmallParallel stores 10 KB blobs from 8 goroutines at once,
// as a WebDAV client uploading a folder of small files makes the server do.
func BenchmarkPutSmallParallel(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	var n atomic.Uint64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.SetBytes(10 << 10)
	b.RunParallel(func(pb *testing.PB) {
		content := make([]byte, 10<<10)
		for pb.Next() {
			binary.LittleEndian.PutUint64(content, n.Add(1)) // distinct content
			if _, _, err := s.Put(ctx, bytes.NewReader(content), 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestOpenSmall checks the blobs Open reads whole (at most smallRead
// bytes) against those it opens as files: the same content, seeking
// anywhere, nothing read after Close.
func TestOpenSmall(t *testing.T) {
	t.Parallel()
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 10 << 10, 64 << 10, 64<<10 + 1} {
		data := bytes.Repeat([]byte{byte(n), 'x', 'y'}, n/3+1)[:n]
		ref, _, err := s.Put(t.Context(), bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		if end, err := r.Seek(0, io.SeekEnd); err != nil || end != int64(n) {
			t.Fatalf("%d bytes: seek to the end: %d, %v", n, end, err)
		}
		if _, err := r.Seek(int64(n/2), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data[n/2:]) {
			t.Fatalf("%d bytes: read from the middle: %d bytes, %v", n, len(got), err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%d bytes: read after close succeeded", n)
		}
	}
}

// TestPutAnonymous checks that on a file system that allows it a Put's
// content has no name until it is complete and synced (so that a crash
// leaves nothing behind and no name is made and removed), for content
// that fits in the first chunk and for larger.
func TestPutAnonymous(t *testing.T) {
	t.Parallel()
	s, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !s.anon {
		if runtime.GOOS == "linux" {
			t.Fatal("O_TMPFILE and linkat refused on Linux")
		}
		t.Skip("no files without a name here")
	}
	for i, n := range []int{10 << 10, 3 << 20} {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, _, err := s.Put(t.Context(), pr, 0)
			done <- err
		}()
		data := bytes.Repeat([]byte{byte(n)}, n)
		if _, err := pw.Write(data[:n-1]); err != nil {
			t.Fatal(err)
		}
		if names := fileNames(t, s.dir); len(names) != i {
			t.Errorf("%d bytes: names while the content comes: %q", n, names)
		}
		pw.Write(data[n-1:])
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if names := fileNames(t, s.dir); len(names) != 2 {
		t.Errorf("names after two Puts: %q", names)
	}
}

// fileNames lists the regular files under dir, the layout file aside.
func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != layoutFile {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
