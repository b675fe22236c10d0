package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/blobtest"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

func refOf(b []byte) blob.Ref {
	sum := sha256.Sum256(b)
	return blob.Ref(hex.EncodeToString(sum[:]))
}

// objectKey is where the store keeps the blob ref (see the package doc).
func objectKey(ref blob.Ref) string { return "b/" + string(ref[:2]) + "/" + string(ref) }

func put(t *testing.T, s blob.Store, b []byte) blob.Ref {
	t.Helper()
	ref, _, err := s.Put(context.Background(), bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func readAll(s blob.Store, ref blob.Ref) ([]byte, error) {
	f, err := s.Open(ref)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestEncryptedAtRest: what the object store keeps, as its operator sees
// it on the gateway's disk, holds none of the mail that was stored.
func TestEncryptedAtRest(t *testing.T) {
	srv := s3test.Start(t)
	st := blobtest.OpenS3(t, srv, srv.Bucket(t))
	secret := []byte("Subject: candidate list for the regional election\r\n\r\nDo not forward.\r\n")
	body := bytes.Repeat(secret, 2000) // several chunks
	ref := put(t, st, body)
	files := 0
	err := filepath.WalkDir(srv.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte("candidate list")) || bytes.Contains(b, []byte("Do not forward")) {
			t.Errorf("%s holds the plaintext", p)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walking the gateway's directory: %d files, %v", files, err)
	}
	if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reading back: %d bytes, %v", len(got), err)
	}
}

// TestOperatorTampering: the store's operator changes an object, puts
// another blob's object in its place, or cuts it short; caucus reads
// none of it as the blob, and says the object is corrupt.
func TestOperatorTampering(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	st := blobtest.OpenS3(t, srv, bucket)
	c := srv.Client()
	ctx := context.Background()
	a := put(t, st, bytes.Repeat([]byte("the treasurer's report "), 10000))
	b := put(t, st, bytes.Repeat([]byte("a press release "), 10000))

	raw := func(ref blob.Ref) []byte {
		o, err := c.GetObject(ctx, bucket, objectKey(ref), minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		data, err := io.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	replace := func(ref blob.Ref, data []byte) {
		if _, err := c.PutObject(ctx, bucket, objectKey(ref), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	objA, objB := raw(a), raw(b)
	flipped := bytes.Clone(objA)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"a bit flipped", flipped},
		{"another blob's object", objB},
		{"cut short", objA[:len(objA)-100]},
	} {
		replace(a, tc.data)
		if got, err := readAll(st, a); !errors.Is(err, s3.ErrCorrupt) {
			t.Errorf("%s: read %d bytes, %v; want ErrCorrupt", tc.name, len(got), err)
		}
	}
	replace(a, objA)
	if _, err := readAll(st, a); err != nil {
		t.Errorf("the object put back: %v", err)
	}
}

// TestWrongKey: a node configured with another key than the store's is
// refused when it opens the store; should the key check object be lost,
// it still reads nothing.
func TestWrongKey(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	cfg := s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Key: bytes.Repeat([]byte{1}, s3.KeySize), SpillDir: t.TempDir()}
	first, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := put(t, first, []byte("minutes of the board"))
	if _, err := s3.New(context.Background(), cfg); err != nil {
		t.Fatalf("a second node with the same key: %v", err)
	}
	cfg.Key = bytes.Repeat([]byte{2}, s3.KeySize)
	if _, err := s3.New(context.Background(), cfg); !errors.Is(err, s3.ErrWrongKey) {
		t.Fatalf("a node with another key: %v, want ErrWrongKey", err)
	}
	if err := srv.Client().RemoveObject(context.Background(), bucket, "key-check", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(other, ref); !errors.Is(err, s3.ErrCorrupt) {
		t.Fatalf("read with another key: %q, %v; want ErrCorrupt", got, err)
	}
}

// count returns how many objects are under prefix, and how many
// multipart uploads are unfinished there.
func count(t *testing.T, c *minio.Client, bucket, prefix string) (objects, uploads int) {
	t.Helper()
	ctx := context.Background()
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		objects++
	}
	for u := range c.ListIncompleteUploads(ctx, bucket, prefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		uploads++
	}
	return objects, uploads
}

// TestMultipartLeavesNothing: a blob larger than a part goes up in parts
// to a temporary key and is copied to its own; neither the temporary
// object nor an unfinished upload is left, and the blob is dated now.
func TestMultipartLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	st := blobtest.OpenS3(t, srv, bucket)
	before := time.Now().Add(-time.Minute)
	body := bytes.Repeat([]byte("0123456789abcdef"), (2*s3.MinPartSize+12345)/16)
	ref := put(t, st, body)
	if objs, ups := count(t, srv.Client(), bucket, "tmp/"); objs != 0 || ups != 0 {
		t.Errorf("after a multipart Put: %d temporary objects, %d unfinished uploads", objs, ups)
	}
	if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reading back: %d bytes, %v", len(got), err)
	}
	err := st.Walk(func(r blob.Ref, info fs.FileInfo) error {
		if r != ref || info.Size() != int64(len(body)) || info.ModTime().Before(before) {
			t.Errorf("Walk: %s, %d bytes, stored %v", r, info.Size(), info.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSweep: what a crashed node left (a temporary object, an unfinished
// multipart upload) stays while it may still be some node's upload in
// progress, and Walk never reports it; once old, Sweep removes it, and
// no blob.
func TestSweep(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	st := blobtest.OpenS3(t, srv, bucket)
	c := srv.Client()
	ctx := context.Background()
	kept := put(t, st, []byte("a stored blob"))
	leftover := "tmp/" + string(refOf([]byte("half"))) + ".0011223344556677"
	if _, err := c.PutObject(ctx, bucket, leftover, strings.NewReader("half"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: c}
	if _, err := core.NewMultipartUpload(ctx, bucket, objectKey(refOf([]byte("unfinished"))), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := 0
	if err := st.Walk(func(blob.Ref, fs.FileInfo) error { seen++; return nil }); err != nil || seen != 1 {
		t.Errorf("Walk: %d blobs, %v; want the 1 stored", seen, err)
	}
	if n, err := st.Sweep(ctx, 0); err != nil || n != 0 {
		t.Errorf("Sweep of young leftovers: removed %d, %v; want none", n, err)
	}
	if objs, ups := count(t, c, bucket, "b/"); objs != 1 || ups != 1 {
		t.Fatalf("before they are old: %d objects, %d uploads", objs, ups)
	}
	if n, err := st.Sweep(ctx, time.Nanosecond); err != nil || n != 2 {
		t.Errorf("Sweep of old leftovers: removed %d, %v; want 2", n, err)
	}
	if objs, ups := count(t, c, bucket, "b/"); objs != 1 || ups != 0 {
		t.Errorf("after Sweep: %d objects, %d uploads; want the blob alone", objs, ups)
	}
	if ok, err := st.Has(kept); !ok || err != nil {
		t.Errorf("Has(blob) after Sweep = %v, %v", ok, err)
	}
}

// TestPrefixes: stores under different prefixes of one bucket (mail,
// files) see only their own blobs, so one's collector never deletes
// another's.
func TestPrefixes(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	key := bytes.Repeat([]byte{1}, s3.KeySize)
	open := func(prefix string) *s3.Store {
		st, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: bucket, Prefix: prefix,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: key, SpillDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	mail, files := open("mail/"), open("files/")
	ref := put(t, mail, []byte("a message"))
	if ok, err := files.Has(ref); ok || err != nil {
		t.Errorf("files.Has(mail's blob) = %v, %v", ok, err)
	}
	n := 0
	files.Walk(func(blob.Ref, fs.FileInfo) error { n++; return nil })
	if n != 0 {
		t.Errorf("files' Walk saw %d of mail's blobs", n)
	}
}

// TestNewRefuses: a missing bucket, a key of the wrong size and parts
// smaller than S3 takes are refused when the store is opened.
func TestNewRefuses(t *testing.T) {
	srv := s3test.Start(t)
	good := s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: make([]byte, s3.KeySize)}
	for name, mod := range map[string]func(*s3.Config){
		"missing bucket": func(c *s3.Config) { c.Bucket = "no-such-bucket" },
		"short key":      func(c *s3.Config) { c.Key = c.Key[:16] },
		"small parts":    func(c *s3.Config) { c.PartSize = 1 << 20 },
		"wrong secret":   func(c *s3.Config) { c.SecretKey = "wrong" },
	} {
		c := good
		mod(&c)
		if _, err := s3.New(context.Background(), c); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
	if _, err := s3.New(context.Background(), good); err != nil {
		t.Fatalf("the good configuration: %v", err)
	}
}

// TestLoadKey: the key file is made once when allowed, read back the
// same, and refused when missing (a node that must share the party's key)
// or of the wrong size.
func TestLoadKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "blob.key")
	if _, err := s3.LoadKey(p, false); err == nil {
		t.Fatal("missing key file without create: no error")
	}
	k1, err := s3.LoadKey(p, true)
	if err != nil || len(k1) != s3.KeySize {
		t.Fatalf("creating: %d bytes, %v", len(k1), err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi.Mode(), err)
	}
	if k2, err := s3.LoadKey(p, true); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reading back: %v", err)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := s3.LoadKey(p, true); err == nil {
		t.Fatal("a 5-byte key file: no error")
	}
}

// cutProxy forwards TCP connections to addr on 127.0.0.1 and can cut
// every connection open through it, or each after it has carried limit
// bytes back from addr.
type cutProxy struct {
	ln     net.Listener
	limit  atomic.Int64 // 0: none
	freeze atomic.Bool  // at the limit, stop forwarding but keep the connection
	done   chan struct{}
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, addr string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); close(p.done); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, addr)
		}
	}()
	return p
}

func (p *cutProxy) forward(c net.Conn, addr string) {
	u, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, u)
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	if limit := p.limit.Load(); limit > 0 {
		io.CopyN(c, u, limit)
		if p.freeze.Load() {
			<-p.done
		}
		u.Close()
	} else {
		io.Copy(c, u)
	}
	c.Close()
}

// cut closes every connection open through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReadResumes: a reader whose GET the network (or the store, after a
// pause of the caller's) closes midway starts another from where it was,
// and the blob reads through whole.
func TestReadResumes(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	proxy := newCutProxy(t, srv.Endpoint)
	st, err := s3.New(context.Background(), s3.Config{Endpoint: proxy.ln.Addr().String(), Insecure: true, Bucket: bucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: bytes.Repeat([]byte{3}, s3.KeySize), SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("minutes of the congress "), 1<<18) // 6 MiB
	ref := put(t, st, body)
	// Every connection made from now on is cut after 1 MiB of answer.
	proxy.limit.Store(1 << 20)
	proxy.cut()
	f, err := st.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reading through connections cut every MiB: %d bytes, %v", len(got), err)
	}
}

// generated yields n bytes made up as they are read, never all in memory.
type generated struct{ n, i int64 }

func (g *generated) Read(p []byte) (int, error) {
	if g.i >= g.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), g.n-g.i)
	for j := range p[:k] {
		p[j] = byte((g.i + int64(j)) * 7 >> 3)
	}
	g.i += k
	return int(k), nil
}

// TestPutMemory: storing a blob of 96 MiB never holds much of it in
// memory (the heap, sampled while Put runs, grows by less than a third
// of the blob), nor does reading it back.
func TestPutMemory(t *testing.T) {
	srv := s3test.Start(t)
	st := blobtest.OpenS3(t, srv, srv.Bucket(t))
	const size = 96 << 20
	peak := func(fn func()) uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, top := ms.HeapAlloc, ms.HeapAlloc
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapAlloc)
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		fn()
		close(done)
		<-sampled
		return top - base
	}
	var ref blob.Ref
	grew := peak(func() {
		var err error
		if ref, _, err = st.Put(context.Background(), &generated{n: size}, 0); err != nil {
			t.Fatal(err)
		}
	})
	if grew > size/3 {
		t.Errorf("Put of %d MiB: the heap grew by %d MiB", size>>20, grew>>20)
	}
	t.Logf("heap growth while storing %d MiB: %d MiB", size>>20, grew>>20)
	grew = peak(func() {
		f, err := st.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if n, err := io.Copy(io.Discard, f); err != nil || n != size {
			t.Fatalf("read back %d bytes, %v", n, err)
		}
	})
	if grew > size/3 {
		t.Errorf("reading %d MiB: the heap grew by %d MiB", size>>20, grew>>20)
	}
	t.Logf("heap growth while reading %d MiB: %d MiB", size>>20, grew>>20)
}

// TestKeyCheckRace: nodes with two different keys open a new store at
// once; the key check is written once, so the nodes of one key open it
// and those of the other are refused.
func TestKeyCheckRace(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	var wg sync.WaitGroup
	var opened [2]atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			_, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: bucket,
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: bytes.Repeat([]byte{byte(i % 2)}, s3.KeySize)})
			switch {
			case err == nil:
				opened[i%2].Add(1)
			case !errors.Is(err, s3.ErrWrongKey):
				t.Errorf("New: %v", err)
			}
		})
	}
	wg.Wait()
	if a, b := opened[0].Load(), opened[1].Load(); a+b != 4 || a != 0 && b != 0 {
		t.Errorf("nodes opened with key 0: %d, with key 1: %d; want 4 of one and none of the other", a, b)
	}
}

// TestTLS: over HTTPS the store's certificate is verified: with the
// private CA given it works, and with the system's roots, or in plain
// HTTP, the store is refused at New.
func TestTLS(t *testing.T) {
	srv := s3test.StartTLS(t)
	cfg := s3.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket(t), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Key: make([]byte, s3.KeySize), SpillDir: t.TempDir(), RootCAs: srv.RootCAs}
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := put(t, st, []byte("over TLS"))
	if got, err := readAll(st, ref); err != nil || string(got) != "over TLS" {
		t.Fatalf("reading back: %q, %v", got, err)
	}
	noCA := cfg
	noCA.RootCAs = nil
	if _, err := s3.New(context.Background(), noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate the system does not trust: %v", err)
	}
	plain := cfg
	plain.Insecure = true
	if _, err := s3.New(context.Background(), plain); err == nil {
		t.Error("plain HTTP to an HTTPS store: no error")
	}
}

// TestStalledStore: a store that stops answering, before its answer's
// header or in the middle of a blob, fails the read after the timeout
// instead of holding the reader for ever (the transport bounds the wait
// for a header, and each read on the connection has a deadline); the
// reader starts one GET again, which stalls too. (Were the reader held,
// the test would be too, until go test's own timeout.)
func TestStalledStore(t *testing.T) {
	srv := s3test.Start(t)
	proxy := newCutProxy(t, srv.Endpoint)
	cfg := s3.Config{Endpoint: proxy.ln.Addr().String(), Insecure: true, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: make([]byte, s3.KeySize), SpillDir: t.TempDir()}
	writer, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := put(t, writer, bytes.Repeat([]byte("a long report "), 1<<18))
	// The reader's timeout is short, the writer's not: on a loaded
	// machine the upload may take longer than the test waits for silence.
	cfg.Timeout = 2 * time.Second
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every connection from now on carries limit bytes and then goes
	// silent.
	proxy.freeze.Store(true)
	for _, limit := range []int64{1, 100 << 10} {
		proxy.limit.Store(limit)
		proxy.cut() // no connection kept from before
		f, err := st.Open(ref)
		n := int64(0)
		if err == nil {
			n, err = io.Copy(io.Discard, f)
			f.Close()
		}
		// The failure is the connection's deadline or the transport's
		// wait for a header; a deadline that cuts the status line short
		// reads, through bufio's ReadLine, as a malformed response (seen
		// in CI). Either way the read fails instead of waiting for ever.
		if err == nil || n >= 1<<18*int64(len("a long report ")) {
			t.Errorf("store silent after %d bytes: read %d bytes, %v; want a failed read", limit, n, err)
		}
	}
}

// TestPutRereadable: content the caller can read twice (a message held
// in memory: *bytes.Reader, *strings.Reader, *io.SectionReader) is hashed
// and uploaded from where it is, not spilled to a local file first (a
// file made and written per message: a third of the MX's CPU on S3).
// The spill directory here does not exist: only a spill would fail.
// So is content read once of at most 256 KiB, from memory.
func TestPutRereadable(t *testing.T) {
	srv := s3test.Start(t)
	st, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: bytes.Repeat([]byte{4}, s3.KeySize),
		SpillDir: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: minutes\r\n\r\nof the congress\r\n")
	half := bytes.NewReader(append([]byte("skipped"), body...))
	half.Seek(int64(len("skipped")), io.SeekStart) // read from where it is
	for name, r := range map[string]io.Reader{
		"bytes":   bytes.NewReader(body),
		"strings": strings.NewReader(string(body)),
		"section": io.NewSectionReader(bytes.NewReader(body), 0, int64(len(body))),
		"half":    half,
	} {
		ref, n, err := st.Put(t.Context(), r, 1<<20)
		if err != nil || ref != refOf(body) || n != int64(len(body)) {
			t.Errorf("%s: Put = %s, %d, %v; want %s, %d", name, ref, n, err, refOf(body), len(body))
			continue
		}
		if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: read back %q, %v", name, got, err)
		}
	}
	if _, _, err := st.Put(t.Context(), bytes.NewReader(body), 10); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("Put over the limit: %v, want ErrTooLarge", err)
	}
	// A reader read once is read into memory up to 256 KiB (a file
	// made per Put cost 27% of a 64 KiB upload's CPU), spilled beyond.
	for _, n := range []int64{100, 64 << 10, 256 << 10} {
		ref, got, err := st.Put(t.Context(), &generated{n: n}, 0)
		if err != nil || got != n {
			t.Errorf("a reader read once, %d bytes: %d, %v; want it stored from memory", n, got, err)
			continue
		}
		want, _ := io.ReadAll(&generated{n: n})
		if back, err := readAll(st, ref); err != nil || !bytes.Equal(back, want) {
			t.Errorf("%d bytes read back: %d bytes, %v", n, len(back), err)
		}
	}
	if _, _, err := st.Put(t.Context(), &generated{n: 256<<10 + 1}, 0); err == nil {
		t.Error("a reader read once of more than 256 KiB was not spilled (the spill directory is missing)")
	}
	if _, _, err := st.Put(t.Context(), &generated{n: 100 << 10}, 50<<10); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("a reader read once, over the limit: %v, want ErrTooLarge", err)
	}
}
