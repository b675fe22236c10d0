package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// diskCopyEnv is a store on S3 blobs with a cache on the node's disk, as
// a node of several has, with a content cache of 16 KiB: contents of 1000
// bytes, 16 at most, so that a few dozen fall out of memory.
type diskCopyEnv struct {
	store    *files.Store
	cache    *cache.Cache
	cacheDir string
	alice    files.Actor
	db       *db.DB
}

func newDiskCopyEnv(t *testing.T) *diskCopyEnv {
	t.Helper()
	srv := s3test.Start(t)
	e := &diskCopyEnv{cacheDir: filepath.Join(t.TempDir(), "s3cache")}
	var err error
	if e.cache, err = cache.New(e.cacheDir, 4<<20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cache.Wait)
	key := make([]byte, s3.KeySize)
	rand.Read(key)
	blobs, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: key, SpillDir: t.TempDir(), Cache: e.cache})
	if err != nil {
		t.Fatal(err)
	}
	ae := authtest.New(t, auth.Config{}, files.Component())
	e.db = ae.DB
	e.store = files.New(ae.DB, blobs, files.Options{ContentCache: 16 << 10, Now: ae.Clock.Now}, files.Deps{Auth: ae.Auth, Audit: ae.Audit})
	u := ae.User(t, "alice@example.org", auth.RoleMember)
	e.alice = files.Actor{ID: u.Account.ID, Login: u.Account.Login}
	return e
}

// diskCopy is one copy of a content in the node's disk cache: a record
// of one of its segments (see package blob/cache, AddCopy), at off in the
// file path, of n bytes after its header, for ref.
type diskCopy struct {
	path   string
	off, n int64
	ref    blob.Ref
}

// copies returns the copies in the node's disk cache, read from its
// segments as the cache lays them out: each record a header of 44 bytes
// ("ccp1", the copy's length, a checksum, the Ref's 32 bytes), then the
// copy.
func (e *diskCopyEnv) copies(t *testing.T) []diskCopy {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(e.cacheDir, "copies", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []diskCopy
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+44 <= len(b) && string(b[off:off+4]) == "ccp1"; {
			n := int(binary.BigEndian.Uint32(b[off+4:]))
			out = append(out, diskCopy{path: p, off: int64(off + 44), n: int64(n), ref: blob.Ref(hex.EncodeToString(b[off+12 : off+44]))})
			off += 44 + n
		}
	}
	return out
}

// read returns the bytes of c as they are on disk now.
func (c diskCopy) read(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, c.n)
	if _, err := f.ReadAt(b, c.off); err != nil {
		t.Fatal(err)
	}
	return b
}

// write puts b (its bytes, at most c.n of them) in place of c's on disk.
func (c diskCopy) write(t *testing.T, b []byte) {
	t.Helper()
	f, err := os.OpenFile(c.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b[:min(len(b), int(c.n))], c.off); err != nil {
		t.Fatal(err)
	}
}

// putMany stores n files of 1000 bytes, numbered from first, each its
// own content, and returns their nodes and contents.
func (e *diskCopyEnv) putMany(t *testing.T, first, n int) ([]files.Node, []string) {
	t.Helper()
	var nodes []files.Node
	var contents []string
	for i := first; i < first+n; i++ {
		c := fmt.Sprintf("%04d minutes of the branch meeting ", i)
		c = strings.Repeat(c, 1000/len(c)+1)[:1000]
		nodes = append(nodes, put(t, e.store, e.alice, "/Home", fmt.Sprintf("m%02d.txt", i), c))
		contents = append(contents, c)
	}
	e.cache.Wait() // the copies of what fell out of memory
	return nodes, contents
}

// TestSmallContentsOnDisk: on PostgreSQL, with S3 blobs and a cache on
// the node's disk, a small content (kept in the database) that falls out
// of the memory cache unread is kept on the node's disk and read from
// there, asking the database nothing; on SQLite nothing is kept on disk (its
// database is on that disk already) and such a read asks the database.
// Either way every file reads its own content.
func TestSmallContentsOnDisk(t *testing.T) {
	s3test.Need(t)
	t.Parallel()
	e := newDiskCopyEnv(t)
	nodes, contents := e.putMany(t, 0, 48)
	before := e.store.ContentCacheStats()
	for i, n := range nodes {
		if got := read(t, e.store, e.alice, n.ID); got != contents[i] {
			t.Fatalf("file %d reads %.20q…, want %.20q…", i, got, contents[i])
		}
	}
	st := e.store.ContentCacheStats()
	hits, disk, misses := st.Hits-before.Hits, st.DiskHits-before.DiskHits, st.Misses-before.Misses
	t.Logf("%s: %d read from memory, %d from disk, %d from the database; %d copies on disk", dbtest.Engine(), hits, disk, misses, len(e.copies(t)))
	if hits+disk+misses != int64(len(nodes)) || hits > 16 {
		t.Fatalf("%d reads from memory, %d from disk, %d from the database: want 48 in all, at most 16 from memory", hits, disk, misses)
	}
	if dbtest.Engine() == db.Postgres {
		if misses != 0 || disk < 32 {
			t.Errorf("%d contents read from the database and %d from disk; want 0 and at least 32 (all that fell out of memory)", misses, disk)
		}
	} else if disk != 0 || len(e.copies(t)) != 0 {
		t.Errorf("on SQLite, %d contents read from disk, %d copies there; want none", disk, len(e.copies(t)))
	}
}

// TestSmallContentsOnDiskNeverWrong: a copy on the node's disk that was
// damaged, cut short or replaced by another content's copy is never
// served: the file reads its own content, from the database, and the bad
// copy is dropped.
func TestSmallContentsOnDiskNeverWrong(t *testing.T) {
	s3test.Need(t)
	if dbtest.Engine() != db.Postgres {
		t.Skip("copies on disk are kept on PostgreSQL only (see TestSmallContentsOnDisk)")
	}
	t.Parallel()
	e := newDiskCopyEnv(t)
	nodes, contents := e.putMany(t, 0, 48)
	copies := e.copies(t)
	if len(copies) < 32 {
		t.Fatalf("%d copies on disk, want at least 32", len(copies))
	}
	first := copies[0].read(t)
	bad := map[diskCopy][]byte{} // what each copy held once damaged
	for i, c := range copies {
		b := c.read(t)
		switch i % 3 {
		case 0:
			b[len(b)-20] ^= 1
		case 1:
			clear(b[len(b)-100:]) // its last page lost in a crash
		case 2:
			b = bytes.Clone(first) // another content's copy
		}
		c.write(t, b)
		bad[c] = b
	}
	before := e.store.ContentCacheStats()
	for i, n := range nodes {
		if got := read(t, e.store, e.alice, n.ID); got != contents[i] {
			t.Fatalf("file %d reads %.20q…, want %.20q…", i, got, contents[i])
		}
	}
	// Every content whose copy was bad was out of memory: read from the
	// database. (Contents that memory evicted meanwhile have good copies
	// now, which may be read from disk.)
	if misses := e.store.ContentCacheStats().Misses - before.Misses; misses < int64(len(copies)) {
		t.Errorf("%d contents read from the database; want at least the %d whose copies were bad", misses, len(copies))
	}
	e.cache.Wait()
	for c, b := range bad {
		r, ok := e.cache.OpenCopy(c.ref)
		if !ok {
			continue
		}
		now, err := io.ReadAll(r)
		if err == nil && bytes.Equal(now, b) {
			t.Errorf("the bad copy of %s is still the one read", c.ref)
		}
	}
}

// TestReadContentsNotCopied: on PostgreSQL with S3 blobs, a content that
// was read from memory and then falls out of it leaves no copy on the
// node's disk (its readers have had it; writing a copy costs the node
// CPU for each upload once memory is full); read again, it comes
// from the database once, which copies it, and from disk after. An
// upload evicted unread still leaves a copy (TestSmallContentsOnDisk).
func TestReadContentsNotCopied(t *testing.T) {
	s3test.Need(t)
	if dbtest.Engine() != db.Postgres {
		t.Skip("copies on disk are kept on PostgreSQL only (see TestSmallContentsOnDisk)")
	}
	t.Parallel()
	e := newDiskCopyEnv(t)
	first, contents := e.putMany(t, 0, 16) // 16,000 bytes: all in memory
	readAll := func() (hits, disk, misses int64) {
		t.Helper()
		before := e.store.ContentCacheStats()
		for i, n := range first {
			if got := read(t, e.store, e.alice, n.ID); got != contents[i] {
				t.Fatalf("file %d reads %.20q…, want %.20q…", i, got, contents[i])
			}
		}
		e.cache.Wait()
		st := e.store.ContentCacheStats()
		return st.Hits - before.Hits, st.DiskHits - before.DiskHits, st.Misses - before.Misses
	}
	if hits, _, _ := readAll(); hits != 16 {
		t.Fatalf("%d of 16 contents just stored read from memory, want 16", hits)
	}
	e.putMany(t, 16, 32) // pushes the first 16 out
	hits, disk, misses := readAll()
	t.Logf("read again: %d from memory, %d from disk, %d from the database", hits, disk, misses)
	if disk != 0 || misses == 0 {
		t.Errorf("contents read once and then pushed out of memory: %d read from disk, %d from the database; want none from disk (no copies), some from the database", disk, misses)
	}
	// Those read from the database were copied then: none is read from
	// it again. (Those read from memory may have been pushed out since,
	// read, without a copy.)
	if _, _, again := readAll(); again > hits {
		t.Errorf("%d contents read from the database in a third pass, more than the %d read from memory in the second: some were read from it twice", again, hits)
	}
}
