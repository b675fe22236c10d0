package s3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// countingStore is a store with a cache, reaching the object store
// through a proxy that counts the GET requests of blobs.
type countingStore struct {
	*s3.Store
	cache  *cache.Cache
	dir    string // the cache's
	bucket string

	mu   sync.Mutex
	gets int
}

func (c *countingStore) Gets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

// openCounting opens a store with a cache of size bytes in bucket of srv,
// under key.
func openCounting(t *testing.T, srv *s3test.Server, bucket string, key []byte, size int64) *countingStore {
	t.Helper()
	target, err := url.Parse("http://" + strings.TrimPrefix(srv.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{dir: filepath.Join(t.TempDir(), "cache"), bucket: bucket}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/b/") {
			cs.mu.Lock()
			cs.gets++
			cs.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	cs.cache, err = cache.New(cs.dir, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.cache.Wait)
	cs.Store, err = s3.New(context.Background(), s3.Config{Endpoint: strings.TrimPrefix(proxy.URL, "http://"), Insecure: true,
		Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: key, SpillDir: t.TempDir(), Cache: cs.cache})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// copyPath is the cache's file for ref.
func (c *countingStore) copyPath(ref blob.Ref) string {
	return filepath.Join(c.dir, string(ref[:2]), string(ref))
}

// segments returns what the cache's segments of copies (KeepCopy's) hold.
func (c *countingStore) segments(t *testing.T) []byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(c.dir, "copies", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// copyAt finds the newest copy KeepCopy kept of ref in the cache's
// segments: the segment's file, and where the copy's bytes are in it
// (after its record's header, which ends with the Ref's 32 bytes, after
// the copy's length and a checksum). ok is false if there is none.
func (c *countingStore) copyAt(t *testing.T, ref blob.Ref) (path string, off, n int64, ok bool) {
	t.Helper()
	k, err := hex.DecodeString(string(ref))
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(c.dir, "copies", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(paths) - 1; i >= 0; i-- {
		b, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if j := bytes.LastIndex(b, k); j >= 8 {
			return paths[i], int64(j + len(k)), int64(binary.BigEndian.Uint32(b[j-8:])), true
		}
	}
	return "", 0, 0, false
}

var testKey = bytes.Repeat([]byte{7}, s3.KeySize)

// TestCacheServes: a blob just stored, or read once, is read again from
// the node's disk without a GET; several readers of a blob not in the
// cache make one GET between them.
func TestCacheServes(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	body := bytes.Repeat([]byte("minutes of the executive committee "), 3000) // 105 KB, two chunks
	ref := put(t, st, body)
	st.cache.Wait()
	for range 3 {
		if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	if n := st.Gets(); n != 0 {
		t.Errorf("%d GETs reading a blob just stored; want 0", n)
	}

	// Another node: nothing in its cache; eight readers at once.
	other := openCounting(t, srv, st.Bucket(), testKey, 64<<20)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := readAll(other, ref); err != nil || !bytes.Equal(got, body) {
				t.Errorf("read %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	readAll(other, ref)
	if n := other.Gets(); n != 1 {
		t.Errorf("%d GETs by 9 readers of one blob; want 1", n)
	}
}

// Bucket is the bucket the store is in (for a second node).
func (c *countingStore) Bucket() string { return c.bucket }

// TestCacheBadCopy: a copy in the cache that was cut short, damaged, or
// replaced by another blob's object is never served: the read fetches
// the object again (and the damaged copy is replaced).
func TestCacheBadCopy(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	body := bytes.Repeat([]byte("the list of candidates, final "), 10000) // 300 KB, five chunks
	otherBody := bytes.Repeat([]byte("a press release "), 100)
	ref, other := put(t, st, body), put(t, st, otherBody)
	st.cache.Wait()
	good, err := os.ReadFile(st.copyPath(ref))
	if err != nil {
		t.Fatal(err)
	}
	otherCopy, err := os.ReadFile(st.copyPath(other))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1000] ^= 1 // in the last chunk: found mid-read
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"a bit flipped late", flipped},
		{"cut short", good[:len(good)-5000]},
		{"cut at a chunk", good[:40+2*(64<<10+16)]},
		{"empty", nil},
		{"another blob's object", otherCopy},
	} {
		if err := os.WriteFile(st.copyPath(ref), tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		before := st.Gets()
		got, err := readAll(st, ref)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: read %d bytes (want %d), %v", tc.name, len(got), len(body), err)
		}
		if st.Gets() == before {
			t.Errorf("%s: no GET: the bad copy was served", tc.name)
		}
		// Read again: from a good copy now.
		before = st.Gets()
		if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: read again %d bytes, %v", tc.name, len(got), err)
		}
		if n := st.Gets() - before; n > 1 {
			t.Errorf("%s: %d GETs reading again", tc.name, n)
		}
	}
}

// TestCacheNoPlaintext: the cache's directory holds none of the
// content it keeps.
func TestCacheNoPlaintext(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	secret := []byte("Subject: donors' list\r\n\r\nconfidential: the regional treasurer's donors\r\n")
	ref := put(t, st, bytes.Repeat(secret, 500))
	st.cache.Wait()
	other := openCounting(t, srv, st.Bucket(), testKey, 64<<20)
	if _, err := readAll(other, ref); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{st.dir, other.dir} {
		files := 0
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			if bytes.Contains(b, []byte("donors")) || bytes.Contains(b, []byte("treasurer")) {
				t.Errorf("%s holds the plaintext", p)
			}
			return nil
		})
		if err != nil || files == 0 {
			t.Errorf("%s: %d files, %v", dir, files, err)
		}
	}
}

// TestCacheDeleted: a blob the collector deleted is gone for every
// question that decides whether to store it again (Has, and Put, which
// stores it again), though another node still has a copy in its cache;
// the deleting node's copy goes with it.
func TestCacheDeleted(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	a := openCounting(t, srv, bucket, testKey, 64<<20)
	b := openCounting(t, srv, bucket, testKey, 64<<20)
	body := bytes.Repeat([]byte("an attachment "), 5000)
	ref := put(t, a, body)
	a.cache.Wait()
	if _, err := readAll(b, ref); err != nil { // now in b's cache too
		t.Fatal(err)
	}
	if err := a.Delete(ref); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(a, ref); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("read on the deleting node: %v; want ErrNotFound", err)
	}
	if ok, err := b.Has(ref); ok || err != nil {
		t.Errorf("Has on a node with a copy: %v, %v; want false", ok, err)
	}
	// b stores the same content again (a new upload): it must reach the
	// object store, not stop at b's copy.
	if got := put(t, b, body); got != ref {
		t.Fatalf("ref %s, want %s", got, ref)
	}
	o, err := srv.Client().StatObject(context.Background(), bucket, objectKey(ref), minio.StatObjectOptions{})
	if err != nil || o.Size == 0 {
		t.Errorf("the object after storing it again: %v", err)
	}
}

// TestCacheLarge: an object larger than a cache entry may be streams
// from the store as without a cache, and is not kept.
func TestCacheLarge(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 1<<20) // entries up to 64 KiB
	body := bytes.Repeat([]byte("a recording of the congress "), 10000)
	ref := put(t, st, body)
	st.cache.Wait()
	for range 2 {
		f, err := st.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(200000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, body[200000:]) {
			t.Errorf("read %d bytes, %v", len(got), err)
		}
	}
	if n := st.Gets(); n < 2 {
		t.Errorf("%d GETs for two reads of a blob too large to keep", n)
	}
	if _, n := st.cache.Used(); n != 0 {
		t.Errorf("%d copies kept, want 0", n)
	}
}

// TestCacheReadersApart: readers of cached blobs share pooled buffers
// only in turn: two read a piece at a time side by side get their own
// content, and a reader closed reads nothing more.
func TestCacheReadersApart(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	bodyA := bytes.Repeat([]byte("motion A "), 20000)
	bodyB := bytes.Repeat([]byte("amendment B "), 15000)
	refA, refB := put(t, st, bodyA), put(t, st, bodyB)
	st.cache.Wait()
	fa, err := st.Open(refA)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := st.Open(refB)
	if err != nil {
		t.Fatal(err)
	}
	var gotA, gotB []byte
	buf := make([]byte, 1000)
	for len(gotA) < len(bodyA) || len(gotB) < len(bodyB) {
		if n, err := fa.Read(buf); n > 0 || err == nil {
			gotA = append(gotA, buf[:n]...)
		} else if err != io.EOF {
			t.Fatal(err)
		} else if len(gotA) < len(bodyA) {
			t.Fatal("A ended early")
		}
		if n, err := fb.Read(buf); n > 0 || err == nil {
			gotB = append(gotB, buf[:n]...)
		} else if err != io.EOF {
			t.Fatal(err)
		} else if len(gotB) < len(bodyB) {
			t.Fatal("B ended early")
		}
	}
	if !bytes.Equal(gotA, bodyA) || !bytes.Equal(gotB, bodyB) {
		t.Error("contents mixed")
	}
	fa.Close()
	fa.Seek(0, io.SeekStart)
	if n, err := fa.Read(buf); n != 0 || err == nil {
		t.Errorf("read after Close: %d bytes, %v", n, err)
	}
	fb.Close()
	if n := st.Gets(); n != 0 {
		t.Errorf("%d GETs", n)
	}
}

// TestKeepCopy: a content the store does not hold (a small file's,
// kept in a database) is kept sealed in the node's cache by KeepCopy and
// read back by ReadCopy with no request to the store; the cache's
// segments hold none of its plaintext; a content that is not what its
// Ref names is not kept; above max, or without a copy, ReadCopy says so;
// and the store's Open and Has do not take the copy for the blob.
func TestKeepCopy(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	body := bytes.Repeat([]byte("agenda: the treasurer's report "), 2114) // 65,534 bytes: one chunk
	ref := refOf(body)
	if _, ok := st.ReadCopy(ref, 1<<20); ok {
		t.Fatal("ReadCopy found a copy before any was kept")
	}
	st.KeepCopy(ref, bytes.Clone(body))
	st.KeepCopy(refOf([]byte("another")), bytes.Clone(body)) // not what the Ref names
	st.cache.Wait()
	got, ok := st.ReadCopy(ref, 1<<20)
	if !ok || !bytes.Equal(got, body) {
		t.Fatalf("ReadCopy: %d bytes, %v; want the content kept", len(got), ok)
	}
	if _, ok := st.ReadCopy(ref, int64(len(body))-1); ok {
		t.Error("ReadCopy returned a copy larger than its max")
	}
	if _, ok := st.ReadCopy(refOf([]byte("another")), 1<<20); ok {
		t.Error("a content kept under a Ref that does not name it was read back")
	}
	if _, _, _, ok := st.copyAt(t, refOf([]byte("another"))); ok {
		t.Error("a content under a Ref that does not name it is on disk")
	}
	disk := st.segments(t)
	if len(disk) < len(body) {
		t.Fatalf("the segments hold %d bytes; want the copy", len(disk))
	}
	if bytes.Contains(disk, []byte("treasurer")) {
		t.Error("the cache's segments hold the plaintext")
	}
	if n := st.Gets(); n != 0 {
		t.Errorf("%d GETs; want none", n)
	}
	if ok, err := st.Has(ref); ok || err != nil {
		t.Errorf("Has = %v, %v for a blob only the cache has a copy of; want false", ok, err)
	}
	if _, err := readAll(st, ref); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open of a blob the store does not hold, with a copy kept: %v; want ErrNotFound", err)
	}

	// Another node's store (no cache): nothing kept, nothing found.
	bare, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true,
		Bucket: st.Bucket(), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: testKey, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bare.KeepCopy(ref, bytes.Clone(body))
	if _, ok := bare.ReadCopy(ref, 1<<20); ok {
		t.Error("a store without a cache read a copy")
	}
}

// TestReadCopyBad: a copy that was damaged, cut short, or is another
// content's is never returned by ReadCopy, and is dropped.
func TestReadCopyBad(t *testing.T) {
	srv := s3test.Start(t)
	st := openCounting(t, srv, srv.Bucket(t), testKey, 64<<20)
	body := bytes.Repeat([]byte("motion carried "), 4000) // 60,000 bytes
	otherBody := bytes.Repeat([]byte("motion lost "), 5000)
	ref, other := refOf(body), refOf(otherBody)
	st.KeepCopy(other, bytes.Clone(otherBody))
	st.cache.Wait()
	path, off, n, ok := st.copyAt(t, other)
	if !ok {
		t.Fatal("no copy kept")
	}
	seg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	otherCopy := seg[off : off+n]
	for _, tc := range []struct {
		name   string
		damage func(path string, off, n int64) error
	}{
		{"a bit flipped", func(path string, off, n int64) error {
			b := make([]byte, 1)
			if err := readAt(path, off+n-100, b); err != nil {
				return err
			}
			return writeAt(path, off+n-100, []byte{b[0] ^ 1})
		}},
		{"another content's copy", func(path string, off, n int64) error {
			return writeAt(path, off, otherCopy)
		}},
		{"cut short", func(path string, off, n int64) error { return os.Truncate(path, off+n-1000) }},
		{"header only", func(path string, off, n int64) error { return os.Truncate(path, off+40) }},
		{"empty", func(path string, off, n int64) error { return os.Truncate(path, off) }},
	} {
		st.KeepCopy(ref, bytes.Clone(body))
		st.cache.Wait()
		if _, ok := st.ReadCopy(ref, 1<<20); !ok {
			t.Fatalf("%s: the copy kept again is not read", tc.name)
		}
		path, off, n, ok := st.copyAt(t, ref)
		if !ok {
			t.Fatalf("%s: no copy kept", tc.name)
		}
		if err := tc.damage(path, off, n); err != nil {
			t.Fatal(err)
		}
		if got, ok := st.ReadCopy(ref, 1<<20); ok {
			t.Errorf("%s: ReadCopy returned %d bytes", tc.name, len(got))
		}
		if _, ok := st.cache.OpenCopy(ref); ok {
			t.Errorf("%s: the bad copy is still there", tc.name)
		}
	}
}

// readAt reads len(p) bytes at off in the file path.
func readAt(path string, off int64, p []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	_, err = f.ReadAt(p, off)
	return errors.Join(err, f.Close())
}

// writeAt writes p at off in the file path.
func writeAt(path string, off int64, p []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(p, off)
	return errors.Join(err, f.Close())
}
