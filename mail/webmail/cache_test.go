package webmail

import (
	"fmt"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// TestBodyCache: entries come back, to the same session and message
// only, until they expire, and the oldest go first past the size bound.
func TestBodyCache(t *testing.T) {
	t.Parallel()
	c := newBodyCache()
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	key := func(ref string) bodyKey { return bodyKey{ref: blob.Ref(ref), session: 1, mb: 2, uid: 3} }
	c.put(key("a"), framed{body: []byte("body a"), csp: "a's"}, now)
	if f, ok := c.get(key("a"), now.Add(time.Minute)); !ok || string(f.body) != "body a" || f.csp != "a's" {
		t.Fatalf("get a: %q %v", f.body, ok)
	}
	for _, other := range []bodyKey{{ref: "a", session: 9, mb: 2, uid: 3}, {ref: "a", session: 1, mb: 9, uid: 3}, {ref: "a", session: 1, mb: 2, uid: 9}} {
		if _, ok := c.get(other, now); ok {
			t.Errorf("%+v got a's body", other)
		}
	}
	if _, ok := c.get(key("a"), now.Add(bodyCacheTTL)); ok {
		t.Fatal("an expired entry came back")
	}
	big := make([]byte, bodyCacheBytes/4)
	for i := range 6 {
		c.put(key(fmt.Sprint(i)), framed{body: big}, now)
	}
	if c.size > bodyCacheBytes {
		t.Fatalf("size %d over the bound", c.size)
	}
	if _, ok := c.get(key("0"), now); ok {
		t.Error("the oldest entry was kept past the bound")
	}
	if _, ok := c.get(key("5"), now); !ok {
		t.Error("the newest entry was dropped")
	}
	c.put(key("huge"), framed{body: make([]byte, bodyCacheBytes/4+1)}, now)
	if _, ok := c.get(key("huge"), now); ok {
		t.Error("an entry over a quarter of the bound was kept")
	}
}
