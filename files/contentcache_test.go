package files

import (
	"strconv"
	"strings"
	"testing"
)

// TestContentCacheBound: the content cache never holds more than its
// bytes, keeps what fits, and refuses a content over a sixteenth of it.
func TestContentCacheBound(t *testing.T) {
	c := newContentCache(1000, nil, 0)
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
	if newContentCache(0, nil, 0) != nil {
		t.Error("a cache of 0 bytes is not none")
	}
}

// TestContentCacheHoldsManyFiles: the default cache keeps every content
// of a store of 10,000 files of 10 KiB (issue 20's small-GET set), so
// that a GET of any of them asks the database nothing; at 32 MiB it kept
// a third of them.
func TestContentCacheHoldsManyFiles(t *testing.T) {
	c := newContentCache(DefaultContentCache, nil, 0)
	data := make([]byte, 10<<10)
	for i := range 10000 {
		c.add(strconv.Itoa(i), data)
	}
	if len(c.data) != 10000 {
		t.Errorf("%d of 10,000 contents of 10 KiB kept", len(c.data))
	}
}
