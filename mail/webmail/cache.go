package webmail

import (
	"sync"
	"time"

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
// Keys are body references, which are content addresses: the sanitized
// form of the same bytes is the same for every account, and a request
// reaches the cache only after the account-scoped read of its message.
// Entries are dropped oldest first past bodyCacheBytes, and after
// bodyCacheTTL.
type bodyCache struct {
	mu      sync.Mutex
	entries map[blob.Ref]cachedBody
	order   []blob.Ref // oldest first
	size    int
}

type cachedBody struct {
	body []byte
	at   time.Time
}

func newBodyCache() *bodyCache { return &bodyCache{entries: map[blob.Ref]cachedBody{}} }

// put keeps body for ref.
func (c *bodyCache) put(ref blob.Ref, body []byte, now time.Time) {
	if len(body) > bodyCacheBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[ref]; ok {
		c.size -= len(old.body)
	} else {
		c.order = append(c.order, ref)
	}
	c.entries[ref] = cachedBody{body: body, at: now}
	c.size += len(body)
	c.evict(now)
}

// get returns the body kept for ref, if any and not expired.
func (c *bodyCache) get(ref blob.Ref, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(now)
	e, ok := c.entries[ref]
	return e.body, ok
}

// evict drops expired entries and the oldest ones past the size bound.
func (c *bodyCache) evict(now time.Time) {
	for len(c.order) > 0 {
		ref := c.order[0]
		e, ok := c.entries[ref]
		if ok && c.size <= bodyCacheBytes && now.Sub(e.at) < bodyCacheTTL {
			return
		}
		c.order = c.order[1:]
		if ok {
			delete(c.entries, ref)
			c.size -= len(e.body)
		}
	}
}
