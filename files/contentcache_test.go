package files

import (
	"strconv"
	"strings"
	"testing"
)

// TestContentCacheBound: the content cache never holds more than its
// bytes, keeps what fits, and refuses a content over a sixteenth of it.
func TestContentCacheBound(t *testing.T) {
	c := newContentCache(1000)
	for i := range 100 {
		c.add(strconv.Itoa(i), []byte(strings.Repeat("x", 60)))
		if c.bytes > c.maxBytes {
			t.Fatalf("after %d adds the cache holds %d bytes, over %d", i+1, c.bytes, c.maxBytes)
		}
	}
	if len(c.data) != 16 {
		t.Errorf("%d contents of 60 bytes kept in 1000 bytes, want 16", len(c.data))
	}
	c.add("big", make([]byte, 63))
	if _, ok := c.get("big"); ok {
		t.Error("a content over a sixteenth of the cache was kept")
	}
	if newContentCache(0) != nil {
		t.Error("a cache of 0 bytes is not none")
	}
}
