package files

import "sync"

// contentCache keeps, on PostgreSQL, the small contents kept in the
// database (files_inline, see storeContent) that this node read or
// stored lately, so that a small GET whose path the path cache resolved
// asks the database nothing: there each read is a round trip. A content
// is named by its SHA-256 and never changes, so nothing written by any
// node can make an entry untrue, and no notification is needed. At most
// maxBytes are kept; past it, entries go at random.
type contentCache struct {
	maxBytes int

	mu    sync.Mutex
	bytes int
	data  map[string][]byte // ref → content
}

// DefaultContentCache is the most bytes of small contents a node keeps:
// 128 MiB, about 13,000 contents of 10 KiB. At 32 MiB, a store of 10,000
// such files (100 MB) was read with 0.91 database round trips per GET;
// contents above InlineBytes are in the node's disk cache of S3 objects
// instead (package blob/cache), not here.
const DefaultContentCache = 128 << 20

// newContentCache returns a cache of at most maxBytes; nil (none) if
// maxBytes <= 0.
func newContentCache(maxBytes int) *contentCache {
	if maxBytes <= 0 {
		return nil
	}
	return &contentCache{maxBytes: maxBytes, data: map[string][]byte{}}
}

// get returns the content ref, if kept. The caller must not change it.
func (c *contentCache) get(ref string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.data[ref]
	return d, ok
}

// add keeps data as the content ref; the caller must not change it after.
func (c *contentCache) add(ref string, data []byte) {
	if c == nil || len(data) > c.maxBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[ref]; ok {
		return
	}
	for r, d := range c.data { // at random, until there is room
		if c.bytes+len(data) <= c.maxBytes {
			break
		}
		delete(c.data, r)
		c.bytes -= len(d)
	}
	c.data[ref] = data
	c.bytes += len(data)
}
