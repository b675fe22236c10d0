package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// addCopy keeps data for ref with AddCopy.
func addCopy(c *Cache, ref string, data []byte) {
	c.AddCopy(refOf(ref), int64(len(data)), func(p []byte) error { copy(p, data); return nil })
}

// readCopy reads the copy of ref; false if there is none.
func readCopy(t *testing.T, c *Cache, ref string) ([]byte, bool) {
	t.Helper()
	r, ok := c.OpenCopy(refOf(ref))
	if !ok {
		return nil, false
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading the copy of %s: %v", ref, err)
	}
	return got, true
}

// content is the i-th test copy, of n bytes.
func content(i, n int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, n)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// segFiles returns the copies' segment files, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, copiesDir, segPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCopies: a copy AddCopy keeps is read back by OpenCopy as it was
// made, once: a second AddCopy of it does not append it again, nor does
// one whose fill fails, or one too large for a segment; Open does not see
// copies, nor OpenCopy objects.
func TestCopies(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		addCopy(c, fmt.Sprint(i), content(i, 10_000+i))
	}
	c.Wait()
	used, n := c.Copies()
	if n != 10 || used != 10*headerLen+10*10_000+45 {
		t.Fatalf("Copies() = %d bytes, %d copies; want %d, 10", used, n, 10*headerLen+10*10_000+45)
	}
	for i := range 10 {
		if got, ok := readCopy(t, c, fmt.Sprint(i)); !ok || !bytes.Equal(got, content(i, 10_000+i)) {
			t.Errorf("copy %d: %d bytes, %v", i, len(got), ok)
		}
	}
	addCopy(c, "3", content(3, 10_003))
	calls := 0
	c.AddCopy(refOf("failed"), 100, func(p []byte) error { calls++; return errors.New("no") })
	c.AddCopy(refOf("huge"), c.segMax, func(p []byte) error { calls++; return nil })
	c.Wait()
	if got, _ := c.Copies(); got != used {
		t.Errorf("segments grew from %d to %d bytes for a copy kept already and a failed one", used, got)
	}
	if calls != 1 {
		t.Errorf("fill called %d times; want once (the one that fails)", calls)
	}
	if _, ok := readCopy(t, c, "failed"); ok {
		t.Error("a copy whose fill failed was kept")
	}
	if has(c, refOf("1")) {
		t.Error("Open found a copy")
	}
	fill(t, c, refOf("object"), []byte("sealed object"))
	if _, ok := readCopy(t, c, "object"); ok {
		t.Error("OpenCopy found an object's copy")
	}
}

// TestCopiesBound: the copies take at most a quarter of the cache,
// dropped oldest first a segment at a time, on disk as in the count;
// and they count in the cache's size, the objects' copies used least
// recently making room for them.
func TestCopiesBound(t *testing.T) {
	dir := t.TempDir()
	const size = 4 << 20 // copies: 1 MiB, in segments of 256 KiB
	c, err := New(dir, size)
	if err != nil {
		t.Fatal(err)
	}
	// Objects filling the cache but 64 KiB.
	obj := make([]byte, 60<<10)
	for i := range 63 {
		fill(t, c, refOf(fmt.Sprint("object", i)), obj)
	}
	const n = 200 // of 20,000 bytes: 4 MB, four times the copies' share
	for i := range n {
		addCopy(c, fmt.Sprint(i), content(i, 20_000))
		c.Wait()
	}
	used, kept := c.Copies()
	if used > size/4 || kept == 0 || kept >= n {
		t.Fatalf("Copies() = %d bytes, %d copies; want at most %d bytes", used, kept, size/4)
	}
	if _, ok := readCopy(t, c, "0"); ok {
		t.Error("the oldest copy is still there")
	}
	if got, ok := readCopy(t, c, fmt.Sprint(n-1)); !ok || !bytes.Equal(got, content(n-1, 20_000)) {
		t.Error("the newest copy is gone")
	}
	var disk int64
	for _, p := range segFiles(t, dir) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		disk += info.Size()
	}
	if disk != used {
		t.Errorf("segments hold %d bytes on disk, counted %d", disk, used)
	}
	total, _ := c.Used()
	if total > size {
		t.Errorf("the cache holds %d bytes (of them %d in copies), over its %d", total, used, size)
	}
	if has(c, refOf("object0")) {
		t.Error("the object used least recently was not dropped to make room for copies")
	}
	if !has(c, refOf("object62")) {
		t.Error("the object used last was dropped")
	}
}

// TestCopiesRestore: a cache opened again on the directory reads the
// copies a previous one kept; a segment cut inside a record is cut back
// to the records before it, and what is not a segment goes.
func TestCopiesRestore(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		addCopy(c, fmt.Sprint(i), content(i, 5000))
	}
	c.Wait()
	used, _ := c.Copies()
	segs := segFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments; want 1", len(segs))
	}
	// The last record cut short, and a stranger beside the segment.
	if err := os.Truncate(segs[0], used-1); err != nil {
		t.Fatal(err)
	}
	stranger := filepath.Join(dir, copiesDir, "tmp-1")
	if err := os.WriteFile(stranger, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c2, err := New(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	used2, kept := c2.Copies()
	if kept != 4 || used2 != used-headerLen-5000 {
		t.Fatalf("restored %d copies in %d bytes; want 4 in %d", kept, used2, used-headerLen-5000)
	}
	found := 0
	for i := range 5 {
		if got, ok := readCopy(t, c2, fmt.Sprint(i)); ok {
			found++
			if !bytes.Equal(got, content(i, 5000)) {
				t.Errorf("restored copy %d differs", i)
			}
		}
	}
	if found != 4 {
		t.Errorf("%d copies read back; want 4", found)
	}
	if info, err := os.Stat(segs[0]); err != nil {
		t.Error(err)
	} else if info.Size() != used2 {
		t.Errorf("the segment holds %d bytes after restore; want %d", info.Size(), used2)
	}
	if _, err := os.Stat(stranger); err == nil {
		t.Error("a file that is not a segment is still there")
	}
	// New copies go after the restored ones, in the same segment: a
	// node restarted often does not leave a segment per run.
	addCopy(c2, "new", content(9, 100))
	c2.Wait()
	if segs := segFiles(t, dir); len(segs) != 1 {
		t.Errorf("%d segments after a copy added to a restored cache; want 1", len(segs))
	}
	if got, ok := readCopy(t, c2, "new"); !ok || !bytes.Equal(got, content(9, 100)) {
		t.Error("the copy added after a restore is not read back")
	}
	c3, err := New(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, kept := c3.Copies(); kept != 5 {
		t.Errorf("%d copies restored the second time; want 5", kept)
	}
	// A segment of nothing but junk goes entirely, and so do a
	// directory and a file named as no segment is.
	junk := c2.segPath(99)
	if err := os.WriteFile(junk, []byte("not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirLike := c2.segPath(100)
	if err := os.Mkdir(dirLike, 0o700); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(dir, copiesDir, segPrefix+"000000000000000A")
	if err := os.WriteFile(upper, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir, 64<<20); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{junk, dirLike, upper} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", filepath.Base(p))
		}
	}
	// Opened with a smaller size, the cache keeps no more copies than a
	// quarter of it (whole segments go: here, all of them).
	for i := range 100 {
		addCopy(c3, fmt.Sprint("more", i), content(i, 20_000))
	}
	c3.Wait()
	small, err := New(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if used, _ := small.Copies(); used > 1<<18 {
		t.Errorf("restored %d bytes of copies into a cache of 1 MiB; want at most a quarter", used)
	}
	var disk int64
	for _, p := range segFiles(t, dir) {
		if info, err := os.Stat(p); err == nil {
			disk += info.Size()
		}
	}
	if disk > 1<<18 {
		t.Errorf("%d bytes of segments on disk after a restore into a cache of 1 MiB; want at most a quarter", disk)
	}
}

// TestCopyDropped: a reader of a copy whose segment is dropped fails
// with os.ErrClosed, never reading another segment's bytes.
func TestCopyDropped(t *testing.T) {
	c, err := New(t.TempDir(), 1<<20) // copies: 256 KiB, in segments of 64 KiB
	if err != nil {
		t.Fatal(err)
	}
	addCopy(c, "first", content(1, 30_000))
	c.Wait()
	r, ok := c.OpenCopy(refOf("first"))
	if !ok {
		t.Fatal("no copy")
	}
	for i := range 20 {
		addCopy(c, fmt.Sprint(i), content(i, 30_000))
		c.Wait()
	}
	if _, ok := c.OpenCopy(refOf("first")); ok {
		t.Fatal("the oldest segment was not dropped")
	}
	if _, err := io.ReadAll(r); !errors.Is(err, os.ErrClosed) {
		t.Errorf("reading a copy of a dropped segment: %v; want os.ErrClosed", err)
	}
}

// TestRemoveCopy: a removed copy is not read again, nor is one removed
// while it was being written.
func TestRemoveCopy(t *testing.T) {
	c, err := New(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	addCopy(c, "a", []byte("sealed"))
	c.Wait()
	c.RemoveCopy(refOf("a"))
	if _, ok := readCopy(t, c, "a"); ok {
		t.Error("a removed copy is still read")
	}
	started, release := make(chan struct{}), make(chan struct{})
	c.AddCopy(refOf("b"), 6, func(p []byte) error {
		close(started)
		<-release
		copy(p, "sealed")
		return nil
	})
	<-started
	c.RemoveCopy(refOf("b"))
	close(release)
	c.Wait()
	if _, ok := readCopy(t, c, "b"); ok {
		t.Error("a copy removed while it was written is read")
	}
}

// FuzzScanSegment: whatever a segment's file holds, the scan indexes
// only whole records, one after another from its start, within the file.
func FuzzScanSegment(f *testing.F) {
	var rec [headerLen + 3]byte
	putHeader(rec[:], key{1}, 3)
	f.Add(rec[:])
	f.Add(append(rec[:], rec[:headerLen+1]...))
	f.Add(rec[:headerLen])
	f.Add([]byte("ccp1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Records made of the input are all found, in order.
		var seg []byte
		var want []int64
		for i, rest := 0, data; len(rest) > 0; i++ {
			n := min(len(rest), int(rest[0])+1)
			h := make([]byte, headerLen)
			putHeader(h, key{byte(i)}, int64(n))
			want = append(want, int64(len(seg)+headerLen))
			seg = append(append(seg, h...), rest[:n]...)
			rest = rest[n:]
		}
		var got []int64
		if end, err := scanSegment(bytes.NewReader(seg), func(k key, off, n int64) { got = append(got, off) }); err != nil || end != int64(len(seg)) || !slices.Equal(got, want) {
			t.Fatalf("records made: scan found %v, end %d, %v; want %v, end %d", got, end, err, want, len(seg))
		}

		var next int64
		end, err := scanSegment(bytes.NewReader(data), func(k key, off, n int64) {
			h := data[off-headerLen : off]
			if off-headerLen != next || off+n > int64(len(data)) {
				t.Fatalf("record at %d of %d bytes, after %d, in %d bytes", off-headerLen, n, next, len(data))
			}
			if hk, hn, ok := parseHeader(h); !ok || hk != k || hn != n {
				t.Fatalf("record at %d: its header does not say %x, %d", off-headerLen, k, n)
			}
			next = off + n
		})
		if err != nil || end != next {
			t.Fatalf("scan: end %d, %v; records end at %d", end, err, next)
		}
	})
}
