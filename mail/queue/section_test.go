package queue

import (
	"strings"
	"testing"
	"testing/iotest"
)

// TestSection checks the body reader over a blob store's seekable reader:
// the bytes after the header, no further, with Seek from every origin.
func TestSection(t *testing.T) {
	const head, body, tail = "HEADER\n", "the body of the message", "trailing bytes"
	r := strings.NewReader(head + body + tail)
	if _, err := r.Seek(int64(len(head)), 0); err != nil {
		t.Fatal(err)
	}
	s := &section{r: r, base: int64(len(head)), size: int64(len(body))}
	if err := iotest.TestReader(s, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seek(-1, 0); err == nil {
		t.Error("seeking before the start succeeded")
	}
}
