package files

import (
	"sync"
	"sync/atomic"

	"github.com/caucus-org/caucus/internal/blob"
)

// contentCache keeps the small contents kept in the database
// (files_inline, see storeContent) that this node read or stored lately,
// so that a small GET whose path the path cache resolved asks the
// database nothing. On PostgreSQL each read is a round trip; on SQLite
// it is a read transaction of the write-ahead log, a statement and the
// driver's copy of the row: 41% of the server's CPU in a 10 KiB WebDAV
// GET over HTTP/2 (issue 21). A content is named by its SHA-256 and
// never changes, so nothing written by any node can make an entry
// untrue, and no notification is needed; a content is reached only
// through a version the reader was allowed to see. At most maxBytes are
// kept; past it, entries go at random (those read before those not read
// yet, see put), so that a member reading a folder larger than the
// cache, in the order it was written, still finds a share of it
// (evicting the oldest would find none).
//
// On PostgreSQL with S3 blobs, the node also has a cache of S3 objects on
// its disk (package blob/cache, 1 GiB by default), and a content evicted
// from memory before anyone read it is kept there too (disk, see
// diskCopies), sealed as an S3 object would be, and read from there
// before the database is asked. Reading a 10 or 64 KiB content from
// PostgreSQL took 200-600 µs of PostgreSQL's CPU (its reads of the
// value's TOAST pages and its socket's sends, on the project's test host)
// besides the round trip; its copy on the node's disk is a read of a
// file kept open and a decryption: 108-128 µs of the node's CPU for 64
// KiB (an open, a read and a close of a file of its own, 127-175, before
// copies were records of a few segment files), which grows with the
// nodes where PostgreSQL's does not. Writing the copy costs the node
// more (sealing, a check of its SHA-256 and an append: 250-310 µs for 64
// KiB; 475-640 when each copy was a file made, BenchmarkCopy in package
// blob/s3), in the background, so a content that has been read already (a member's other
// devices fetch a new file once each, soon after it was stored) goes
// from memory without one: once the memory cache is full, every upload
// pushes a content out, and copying each made the HTTP/1.1 PUT of 64 KiB
// files into a full memory cost the node 210 µs of CPU per file more
// than the HTTP/2 PUT with room (DAV benchmark, means of four runs at
// load 5-12), 39 µs more without the copies of contents read. If such a
// content is read again, it is read from the database once and copied
// then (see loaded). Contents up to 64 KiB
// were S3 objects in that disk cache before they moved into the
// database, and a node kept 1 GiB of them, not 128 MiB.
type contentCache struct {
	maxBytes int
	disk     diskCopies // nil: none
	diskMax  int64      // the largest content read from disk

	hits, diskHits, misses atomic.Int64

	mu     sync.Mutex
	bytes  int               // held in read and unread
	read   map[string][]byte // by ref: contents read from memory or the database
	unread map[string][]byte // by ref: contents stored and not read since
}

// diskCopies keeps copies of contents on the node's own disk: the S3
// blob store with a cache on the node's disk ([s3.Store.KeepCopy]).
type diskCopies interface {
	// KeepCopy keeps data, the content ref, in the background; it
	// owns data from then on, and never changes it.
	KeepCopy(ref blob.Ref, data []byte)
	// ReadCopy returns the content ref from its copy, checked: false if
	// there is none of at most limit bytes, or it fails the check.
	ReadCopy(ref blob.Ref, limit int64) ([]byte, bool)
}

// DefaultContentCache is the most bytes of small contents a node keeps:
// 128 MiB, about 13,000 contents of 10 KiB. At 32 MiB, a store of 10,000
// such files (100 MB) was read with 0.91 database round trips per GET;
// contents above InlineBytes are in the node's disk cache of S3 objects
// instead (package blob/cache), not here, and so, on PostgreSQL, are the
// small ones that fall out of memory unread or are read from the database.
const DefaultContentCache = 128 << 20

// newContentCache returns a cache of at most maxBytes in memory that
// keeps on disk, if not nil, what it evicts unread and what is read from
// the database, and reads from there contents of at most diskMax bytes;
// nil (none) if maxBytes <= 0.
func newContentCache(maxBytes int, disk diskCopies, diskMax int64) *contentCache {
	if maxBytes <= 0 {
		return nil
	}
	return &contentCache{maxBytes: maxBytes, disk: disk, diskMax: diskMax,
		read: map[string][]byte{}, unread: map[string][]byte{}}
}

// get returns the content ref, if kept, in memory or on disk. The caller
// must not change it. A content read from disk stays there and is not
// put in memory: putting it there would evict another, whose copy would
// then be written to disk, for a content whose next read costs a read of
// a file in the page cache.
func (c *contentCache) get(ref string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	data, ok := c.read[ref]
	if !ok {
		if data, ok = c.unread[ref]; ok {
			c.markRead(ref, data)
		}
	}
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
		return data, true
	}
	if c.disk != nil {
		if d, ok := c.disk.ReadCopy(blob.Ref(ref), c.diskMax); ok {
			c.diskHits.Add(1)
			return d, true
		}
	}
	c.misses.Add(1)
	return nil, false
}

// markRead moves the content ref, data, from unread to read; c.mu is
// held.
func (c *contentCache) markRead(ref string, data []byte) {
	delete(c.unread, ref)
	c.read[ref] = data
}

// add keeps data, the content ref just stored, in memory; the caller
// must not change it after. What it evicts unread goes to disk, if the
// cache has one.
func (c *contentCache) add(ref string, data []byte) {
	c.put(ref, data, false)
}

// loaded keeps data, the content ref just read from the database, in
// memory, and on disk if the cache has one (unless memory has it, read
// with its path): the database is asked for it once. The caller must not
// change data after.
func (c *contentCache) loaded(ref string, data []byte) {
	if c == nil {
		return
	}
	if !c.put(ref, data, true) && c.disk != nil && int64(len(data)) <= c.diskMax {
		c.disk.KeepCopy(blob.Ref(ref), data)
	}
}

// put keeps data as the content ref, read or not, making room by
// evicting contents at random, those read before those not read yet:
// the members' other devices fetch a new file soon after it was stored,
// and a content read has been served already. Evicting at random among
// all of them made the second of two sets of 2000 files of 64 KiB, each
// put and then got over WebDAV in a cache of 128 MiB that held the
// first set, read, miss the cache on 53% of its GETs, at 360 µs of CPU
// each beside 250 for a GET from memory (BenchmarkDAVManyFiles, issue
// 21). A content read from the database pushes out contents not read
// yet too if there is no other room: kept out, it would be read from the
// database at every GET for as long as memory held uploads nobody read.
// If ref is kept already, only its move to read, if read, is done, and
// put reports that memory held it.
func (c *contentCache) put(ref string, data []byte, read bool) (held bool) {
	if c == nil || len(data) > c.maxBytes/16 {
		return false
	}
	c.mu.Lock()
	if _, ok := c.read[ref]; ok {
		c.mu.Unlock()
		return true
	}
	if old, ok := c.unread[ref]; ok {
		if read { // read from the database with its path
			c.markRead(ref, old)
		}
		c.mu.Unlock()
		return true
	}
	c.evictLocked(c.read, len(data), false)
	out := c.evictLocked(c.unread, len(data), c.disk != nil)
	if read {
		c.read[ref] = data
	} else {
		c.unread[ref] = data
	}
	c.bytes += len(data)
	c.mu.Unlock()
	for _, ev := range out {
		c.disk.KeepCopy(blob.Ref(ev.ref), ev.data)
	}
	return false
}

// evictLocked removes contents of m, at random, until n more bytes fit,
// and returns those it removed if copies (to copy to disk); c.mu is held.
func (c *contentCache) evictLocked(m map[string][]byte, n int, copies bool) (out []evicted) {
	for r, old := range m {
		if c.bytes+n <= c.maxBytes {
			break
		}
		delete(m, r)
		c.bytes -= len(old)
		if copies {
			out = append(out, evicted{r, old})
		}
	}
	return out
}

// evicted is a content put leaves to copy to disk.
type evicted struct {
	ref  string
	data []byte
}

// ContentCacheStats is what a node's cache of small contents did since
// the store was made (see Store.ContentCacheStats).
type ContentCacheStats struct {
	// Hits, DiskHits and Misses count the reads of a content kept in the
	// database: found in memory, found on the node's disk (PostgreSQL
	// with S3 blobs only), or read from the database.
	Hits, DiskHits, Misses int64
	Bytes                  int // held in memory now
	Entries                int
}

// ContentCacheStats returns the hits, misses and size of the store's
// cache of small contents.
func (s *Store) ContentCacheStats() ContentCacheStats {
	c := s.contents
	if c == nil {
		return ContentCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ContentCacheStats{Hits: c.hits.Load(), DiskHits: c.diskHits.Load(), Misses: c.misses.Load(),
		Bytes: c.bytes, Entries: len(c.read) + len(c.unread)}
}
