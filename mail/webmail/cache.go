package webmail

import (
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// Bounds of the sanitized-body cache.
const (
	bodyCacheBytes = 32 << 20        // all entries together
	bodyCacheTTL   = 2 * time.Minute // an entry's life
)

// bodyCache keeps the sanitized bodies the message page made, for the
// frame request that follows it at once: the sanitizer then runs once per
// opening, not twice (it is most of the time a large HTML message costs).
// An entry is the body of one message (its content address, mailbox and
// UID) as one session sees it: its cid: images are URLs that carry that
// session's token (inline.go), and a request reaches the cache only after
// the account-scoped read of its message. Entries are dropped oldest
// first past bodyCacheBytes, and after bodyCacheTTL.
type bodyCache struct {
	mu      sync.Mutex
	entries map[bodyKey]cachedBody
	order   []bodyKey // oldest first
	size    int
}

// bodyKey names a cached body: the message's content and place, and the
// session it was made for.
type bodyKey struct {
	ref     blob.Ref
	session int64
	mb      int64
	uid     imap.UID
}

// framed is a message body made for its frame: the document, and the
// Content-Security-Policy to serve it under (which names its images).
type framed struct {
	body []byte
	csp  string
}

type cachedBody struct {
	framed
	at time.Time
}

func newBodyCache() *bodyCache { return &bodyCache{entries: map[bodyKey]cachedBody{}} }

// put keeps f for key.
func (c *bodyCache) put(key bodyKey, f framed, now time.Time) {
	if len(f.body) > bodyCacheBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.size -= len(old.body)
	} else {
		c.order = append(c.order, key)
	}
	c.entries[key] = cachedBody{framed: f, at: now}
	c.size += len(f.body)
	c.evict(now)
}

// get returns the body kept for key, if any and not expired.
func (c *bodyCache) get(key bodyKey, now time.Time) (framed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(now)
	e, ok := c.entries[key]
	return e.framed, ok
}

// evict drops expired entries and the oldest ones past the size bound.
func (c *bodyCache) evict(now time.Time) {
	for len(c.order) > 0 {
		key := c.order[0]
		e, ok := c.entries[key]
		if ok && c.size <= bodyCacheBytes && now.Sub(e.at) < bodyCacheTTL {
			return
		}
		c.order = c.order[1:]
		if ok {
			delete(c.entries, key)
			c.size -= len(e.body)
		}
	}
}
