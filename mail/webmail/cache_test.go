package webmail

import (
	"fmt"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// TestBodyCache: entries come back until they expire, and the oldest go
// first past the size bound.
func TestBodyCache(t *testing.T) {
	t.Parallel()
	c := newBodyCache()
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	c.put("a", []byte("body a"), now)
	if b, ok := c.get("a", now.Add(time.Minute)); !ok || string(b) != "body a" {
		t.Fatalf("get a: %q %v", b, ok)
	}
	if _, ok := c.get("a", now.Add(bodyCacheTTL)); ok {
		t.Fatal("an expired entry came back")
	}
	big := make([]byte, bodyCacheBytes/4)
	for i := range 6 {
		c.put(blob.Ref(fmt.Sprint(i)), big, now)
	}
	if c.size > bodyCacheBytes {
		t.Fatalf("size %d over the bound", c.size)
	}
	if _, ok := c.get("0", now); ok {
		t.Error("the oldest entry was kept past the bound")
	}
	if _, ok := c.get("5", now); !ok {
		t.Error("the newest entry was dropped")
	}
	c.put("huge", make([]byte, bodyCacheBytes/4+1), now)
	if _, ok := c.get("huge", now); ok {
		t.Error("an entry over a quarter of the bound was kept")
	}
}
