// Package cache keeps, on a node's own disk, copies of the objects an
// object store holds for blobs (package s3's encrypted objects), so that
// reading a blob this node read or stored lately costs no request to the
// store: on the project's test host, with eight WebDAV GETs of 64 KiB
// files in flight, each waited on its S3 GET (to versitygw on the same
// machine) while caucus used a third of one core.
//
// Package s3 also keeps here, sealed the same way, contents it does not
// hold (s3.Store.KeepCopy): the small files' contents kept in the
// database, once they fall out of the files package's memory. Those are
// records appended to segment files rather than files of their own (see
// [Cache.AddCopy]).
//
// What it keeps are the objects' bytes as the store holds them: for
// package s3, sealed (encrypted and authenticated) under the master key,
// so the node's disk holds nothing more than the object store's operator
// can read, and the master key still guards every byte. The cache itself
// checks nothing: its user must check what it reads (package s3 opens
// every chunk with AES-GCM) and, when a copy fails the check, [Cache.Remove]
// it (or [Cache.RemoveCopy]) and fetch the object again. So entries are
// written without fsync (an object's to a temporary file, then renamed; a
// record appended): a copy cut short or lost by a crash is found by the
// check and fetched again, never served.
//
// Entries are named by the blob's [blob.Ref]. A blob's content never
// changes for its Ref, so an entry is never stale. An object deleted from
// the store (by this node's collector, or another node's) may linger here
// until it is evicted: harmless, since every read begins at a database
// row that names the blob, and a collector deletes a blob only once no
// row names it. Nothing answers "does the store hold this blob" from the
// cache: a store's Has always asks the store, so an upload never relies
// on a copy here of a blob the store no longer holds.
//
// The cache holds at most its configured bytes (each entry counted in
// whole 4 KiB blocks, as the file system stores it); past that, the
// entries used least recently go (the records of [Cache.AddCopy]'s
// copies, a quarter at most, go oldest first). Its memory is an index
// entry per copy (about 110 bytes: at most ~28 MiB per GiB of cache, were
// every copy a single block; ~2 MiB per GiB of 64 KiB copies; a record's
// about 100), and at most 16 MiB of copies handed to [Cache.Add] and
// [Cache.AddCopy] waiting to be written.
package cache

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// DefaultSize is the cache's size when none is configured: 1 GiB. A
// node's hot set (mail delivered and files stored or read lately) is far
// more than the small contents the files package keeps in memory, and
// 1 GiB of local disk is cheap beside the object store's own; the index
// of a full cache stays under 28 MiB of memory.
const DefaultSize = 1 << 30

// block is the size each entry is counted in.
const block = 4096

// maxPending bounds the bytes of [Cache.Add] and [Cache.AddCopy] copies
// waiting to be written; past it, an Add is dropped.
const maxPending = 16 << 20

// ErrTooLarge is returned by [Cache.Fill] when the fetched object is
// larger than [Cache.MaxEntry].
var ErrTooLarge = errors.New("blob/cache: object larger than an entry may be")

// key is a Ref's 32 bytes: half a hexadecimal string's memory in the index.
type key [32]byte

// entry is one copy in the index, in the list of recent use.
type entry struct {
	key        key
	charge     int64 // the entry's size rounded up to whole blocks
	prev, next *entry
}

// load is a Fill in progress: others asking for the same object wait.
type load struct {
	done chan struct{}
	err  error
	// removed is set by a Remove during the fill: what it writes is not
	// kept (a blob deleted while its copy was being written).
	removed bool
}

// errRemoved is a fill's error when [Cache.Remove] was called for its
// object while it wrote the copy.
var errRemoved = errors.New("blob/cache: copy removed while it was written")

// Cache is a directory of object copies, bounded in size. Its methods are
// safe for concurrent use; only one process may use a directory at once.
type Cache struct {
	dir      string
	max      int64
	maxEntry int64

	mu      sync.Mutex
	used    int64
	entries map[key]*entry
	head    entry // sentinel: head.next is the most recent, head.prev the least
	loading map[key]*load
	pending int64     // bytes of Add copies not yet written
	made    [256]bool // the fan-out directories known to exist

	writes sync.WaitGroup // Add's and AddCopy's writers

	// The copies (copies.go), under mu.
	copies     map[key]span
	copyLoads  map[key]*load // AddCopy's writes under way
	segs       []*segment    // oldest first; the last takes records unless sealed
	nextSeg    uint64        // the next segment's number
	copiesUsed int64         // bytes in segs, counted in used too
	copiesMax  int64         // a quarter of max
	segMax     int64         // the largest a segment grows
}

// New returns the cache in dir (made if missing, mode 0700), of at most
// maxBytes ([DefaultSize] when maxBytes is 0). It keeps the copies a
// previous run left, as many as fit, most recently written first, and
// removes the temporary files of writes a crash cut short; and the
// records of the copies' segments likewise (see [Cache.AddCopy]).
func New(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes == 0 {
		maxBytes = DefaultSize
	}
	if maxBytes < 16*block {
		return nil, fmt.Errorf("blob/cache: size %d is below %d bytes", maxBytes, 16*block)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob/cache: %w", err)
	}
	c := &Cache{dir: dir, max: maxBytes, maxEntry: maxBytes / 16,
		entries: map[key]*entry{}, loading: map[key]*load{},
		copies: map[key]span{}, copyLoads: map[key]*load{}, copiesMax: maxBytes / 4, segMax: min(maxSegment, maxBytes/16)}
	c.head.prev, c.head.next = &c.head, &c.head
	if err := c.restore(); err != nil {
		return nil, err
	}
	if err := c.restoreCopies(); err != nil {
		return nil, err
	}
	return c, nil
}

// MaxEntry is the largest object the cache keeps: a sixteenth of its size.
func (c *Cache) MaxEntry() int64 { return c.maxEntry }

// restore indexes the copies in the directory, oldest first so that the
// newest are the most recent, and removes temporary files and anything
// that is not a copy.
func (c *Cache) restore() error {
	type found struct {
		k    key
		size int64
		mod  time.Time
	}
	var all []found
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == c.dir {
			return err
		}
		if d.IsDir() {
			if len(d.Name()) != 2 || filepath.Dir(p) != c.dir {
				return filepath.SkipDir
			}
			return nil
		}
		k, ok := parseName(d.Name())
		info, ierr := d.Info()
		if !ok || ierr != nil || !info.Mode().IsRegular() || filepath.Base(filepath.Dir(p)) != d.Name()[:2] {
			os.Remove(p) // a temporary file, or not ours
			return nil
		}
		all = append(all, found{k, info.Size(), info.ModTime()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("blob/cache: reading %s: %w", c.dir, err)
	}
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		c.insertLocked(f.k, f.size)
	}
	return nil
}

// parseName returns the key of a copy's file name: a Ref.
func parseName(name string) (key, bool) {
	var k key
	ref, err := blob.ParseRef(name)
	if err != nil {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(ref)); err != nil {
		return k, false
	}
	return k, true
}

// keyOf returns ref's key; false for a malformed Ref.
func keyOf(ref blob.Ref) (key, bool) { return parseName(string(ref)) }

// path is where the copy of k lives: a fan-out over 256 directories, as
// the blob directory's.
func (c *Cache) path(k key) string {
	h := hex.EncodeToString(k[:])
	return filepath.Join(c.dir, h[:2], h)
}

// Open opens the copy of ref, if the cache has one, and counts it as
// used. The caller closes it, and must check what it reads.
func (c *Cache) Open(ref blob.Ref) (*os.File, bool) {
	k, ok := keyOf(ref)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	e := c.entries[k]
	if e != nil {
		c.unlinkLocked(e)
		c.pushLocked(e)
	}
	c.mu.Unlock()
	if e == nil {
		return nil, false
	}
	f, err := os.Open(c.path(k))
	if err != nil { // removed under us (by hand): forget it
		c.Remove(ref)
		return nil, false
	}
	return f, true
}

// Fill returns the copy of ref, calling fetch to write the object when
// the cache has none; several callers filling the same ref at once share
// one fetch, the others waiting for it. fetch's writer fails with
// [ErrTooLarge] past [Cache.MaxEntry] bytes. If fetch fails, Fill
// returns its error (to every caller waiting) and keeps nothing. The
// caller closes the file, and must check what it reads.
func (c *Cache) Fill(ref blob.Ref, fetch func(w io.Writer) error) (*os.File, error) {
	k, ok := keyOf(ref)
	if !ok {
		return nil, fmt.Errorf("%w: %q", blob.ErrBadRef, ref)
	}
	for {
		if f, ok := c.Open(ref); ok {
			return f, nil
		}
		c.mu.Lock()
		if c.entries[k] != nil { // filled since Open looked
			c.mu.Unlock()
			continue
		}
		if l := c.loading[k]; l != nil {
			c.mu.Unlock()
			<-l.done
			if l.err != nil {
				return nil, l.err
			}
			continue // filled: open it (or, evicted already, fill again)
		}
		l := c.claimLocked(k) // neither cached nor loading: looked above
		c.mu.Unlock()
		f, err := c.fetch(k, fetch)
		if err == nil {
			if _, err = f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				f, err = nil, fmt.Errorf("blob/cache: %w", err)
			}
		}
		c.done(k, l, err)
		return f, err
	}
}

// done ends the fill l of k with err, waking those who wait for it.
func (c *Cache) done(k key, l *load, err error) {
	l.err = err
	c.mu.Lock()
	delete(c.loading, k)
	c.mu.Unlock()
	close(l.done)
}

// claimLocked registers a load of k and returns it, or nil if k is
// cached or being loaded already. From then on a Remove of k marks the
// load, so that its copy is not kept.
func (c *Cache) claimLocked(k key) *load {
	if c.entries[k] != nil || c.loading[k] != nil {
		return nil
	}
	l := &load{done: make(chan struct{})}
	c.loading[k] = l
	return l
}

// fill makes k's copy with fetch, for the load l claimed (AddFunc's): as
// Fill does, but opening nothing, an open and a seek fewer on a path that
// runs for every copy AddFunc takes.
func (c *Cache) fill(k key, l *load, fetch func(w io.Writer) error) {
	f, err := c.fetch(k, fetch)
	if err == nil {
		f.Close()
	}
	c.done(k, l, err)
}

// fetch writes what fetch yields to a temporary file, moves it into
// place and returns it open.
func (c *Cache) fetch(k key, fetch func(w io.Writer) error) (*os.File, error) {
	f, err := os.CreateTemp(c.dir, "tmp-")
	if err != nil {
		return nil, fmt.Errorf("blob/cache: %w", err)
	}
	lw := &limitWriter{w: f, left: c.maxEntry}
	if err := fetch(lw); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if err := c.place(k, f, c.maxEntry-lw.left); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// place renames the temporary file f, of size bytes, to k's name and
// indexes it, evicting what no longer fits. On error, f's name is gone.
func (c *Cache) place(k key, f *os.File, size int64) error {
	p := c.path(k)
	// Under the lock, so that an eviction of k never removes the file
	// just renamed to its name.
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.loading[k]; l != nil && l.removed {
		os.Remove(f.Name())
		return errRemoved
	}
	if !c.made[k[0]] { // a Mkdir of a directory that exists costs ~100 µs here
		if err := os.Mkdir(filepath.Dir(p), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			os.Remove(f.Name())
			return fmt.Errorf("blob/cache: %w", err)
		}
		c.made[k[0]] = true
	}
	if err := os.Rename(f.Name(), p); err != nil {
		c.made[k[0]] = false // removed by hand? made again next time
		os.Remove(f.Name())
		return fmt.Errorf("blob/cache: %w", err)
	}
	if old := c.entries[k]; old != nil {
		c.dropLocked(old, false)
	}
	c.insertLocked(k, size)
	return nil
}

// Add keeps data, the object of ref, as its copy (a blob just stored: it
// is likely to be read soon), unless the cache has it. It writes in the
// background and returns at once; it drops the copy when more than
// [maxPending] bytes wait to be written. The cache owns data.
func (c *Cache) Add(ref blob.Ref, data []byte) {
	c.AddFunc(ref, int64(len(data)), func(w io.Writer) error { _, err := w.Write(data); return err })
}

// AddFunc is [Cache.Add] for a copy of size bytes that write makes, in
// the background: what to keep costs work to make (sealing it, say) that
// should not delay the caller, and is not done when the cache has the
// copy, or [maxPending] bytes wait already. If write fails, or writes
// other than size bytes, nothing is kept.
func (c *Cache) AddFunc(ref blob.Ref, size int64, write func(w io.Writer) error) {
	k, ok := keyOf(ref)
	if !ok || size > c.maxEntry || size < 0 {
		return
	}
	c.mu.Lock()
	if c.pending+size > maxPending {
		c.mu.Unlock()
		return
	}
	// Claimed here, not in the goroutine: a Remove that follows AddFunc
	// (a blob stored, then deleted at once) must find the load.
	l := c.claimLocked(k)
	if l == nil {
		c.mu.Unlock()
		return
	}
	c.pending += size
	c.mu.Unlock()
	c.writes.Add(1)
	go func() {
		defer c.writes.Done()
		c.fill(k, l, func(w io.Writer) error {
			cw := &countWriter{w: w}
			if err := write(cw); err != nil {
				return err
			}
			if cw.n != size {
				return fmt.Errorf("blob/cache: copy of %s: %d bytes written, %d said", ref, cw.n, size)
			}
			return nil
		})
		c.mu.Lock()
		c.pending -= size
		c.mu.Unlock()
	}()
}

// countWriter counts the bytes written to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Wait returns once the copies [Cache.Add] and [Cache.AddCopy] took are
// written.
func (c *Cache) Wait() { c.writes.Wait() }

// Remove drops the copy of ref, if any: one that failed its check, or of
// a blob deleted from the store. A copy being written at the time (by
// Fill or Add) is not kept either: without that, a blob deleted just
// after it was stored, while Add wrote its copy in the background, was
// found in the cache once the copy was in, and served.
func (c *Cache) Remove(ref blob.Ref) {
	k, ok := keyOf(ref)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		c.dropLocked(e, true)
	}
	if l := c.loading[k]; l != nil {
		l.removed = true
	}
}

// Used returns the bytes the cache takes (the objects' copies counted in
// whole blocks, and the segments of [Cache.AddCopy]'s copies), and how
// many objects' copies it holds.
func (c *Cache) Used() (bytes int64, copies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.entries)
}

// insertLocked indexes a copy of size bytes as the most recent, then
// evicts the least recent until the cache fits its size.
func (c *Cache) insertLocked(k key, size int64) {
	e := &entry{key: k, charge: (size + block - 1) / block * block}
	if e.charge == 0 {
		e.charge = block
	}
	c.entries[k] = e
	c.pushLocked(e)
	c.used += e.charge
	c.trimLocked(e)
}

// dropLocked forgets e and, with remove, deletes its file.
func (c *Cache) dropLocked(e *entry, remove bool) {
	c.unlinkLocked(e)
	delete(c.entries, e.key)
	c.used -= e.charge
	if remove {
		os.Remove(c.path(e.key))
	}
}

func (c *Cache) pushLocked(e *entry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *Cache) unlinkLocked(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

// limitWriter writes to w until left bytes are written, then fails with
// [ErrTooLarge].
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, ErrTooLarge
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}
