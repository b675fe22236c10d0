package dav_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestGetTraced: a plain GET of a group's file (its content read with the
// path's lookup when the database keeps it, from a blob file otherwise)
// sends the content and leaves one files.read record per file; a GET
// answered 304 Not Modified sends nothing and records no read; a Range
// GET sends its part.
func TestGetTraced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna, _, aa := e.client(t, "anna@example.org")
	bob, _, ba := e.client(t, "bob@example.org")
	ctx := t.Context()
	for _, id := range []int64{aa.ID, ba.ID} {
		if err := e.Auth.AddToGroup(ctx, "", "board", id); err != nil {
			t.Fatal(err)
		}
	}
	large := strings.Repeat("minutes of the board ", 4000) // 84 KB: a blob file
	anna.expect(http.StatusCreated, "PUT", "/dav/Groups/board/small.txt", strings.NewReader("small minutes"))
	anna.expect(http.StatusCreated, "PUT", "/dav/Groups/board/large.txt", strings.NewReader(large))

	resp := bob.do("GET", "/dav/Groups/board/small.txt", nil)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" {
		t.Fatalf("GET: %s, ETag %q", resp.Status, etag)
	}
	// anna's client already has it: 304, and no read. Her GETs of the
	// group's file are reads too.
	if got := anna.expect(http.StatusNotModified, "GET", "/dav/Groups/board/small.txt", nil, "If-None-Match", etag); got != "" {
		t.Errorf("304 with a body: %q", got)
	}
	if got := anna.expect(http.StatusOK, "GET", "/dav/Groups/board/large.txt", nil); got != large {
		t.Errorf("GET of the large file: %d bytes, want %d", len(got), len(large))
	}
	if got := anna.expect(http.StatusPartialContent, "GET", "/dav/Groups/board/large.txt", nil, "Range", "bytes=8-20"); got != large[8:21] {
		t.Errorf("Range GET: %q, want %q", got, large[8:21])
	}
	if err := e.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, actor string
		n           int
	}{
		{"small.txt", "bob@example.org", 1},
		{"small.txt", "anna@example.org", 0}, // the 304
		{"large.txt", "anna@example.org", 1}, // one download window
	} {
		recs, err := e.Audit.List(ctx, audit.Filter{Kind: "files.read", Text: tc.name})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Actor == tc.actor {
				n++
			}
		}
		if n != tc.n {
			t.Errorf("files.read records of %s by %s: %d, want %d (%+v)", tc.name, tc.actor, n, tc.n, recs)
		}
	}
}
