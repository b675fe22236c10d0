package mailimport

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestWireLimits: what a source server sends is bounded.
func TestWireLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
	}{
		{"atom", "* " + strings.Repeat("A", maxAtom+1) + "\r\n"},
		{"quoted", "* LIST () \"/\" \"" + strings.Repeat("a", maxAtom+1) + "\"\r\n"},
		{"literal", "* LIST () \"/\" {99999}\r\n" + strings.Repeat("a", 99999) + "\r\n"},
		{"depth", "* LIST " + strings.Repeat("(", maxDepth+1) + strings.Repeat(")", maxDepth+1) + " \"/\" x\r\n"},
		{"response", "* 1 FETCH (X-GM-LABELS (" + strings.Repeat("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" ", maxSmallData/40) + "))\r\n"},
		{"quoted line end", "* LIST () \"/\" \"a\r\nb\"\r\n"},
	} {
		rd := wireReader{r: bufio.NewReader(strings.NewReader(tc.in))}
		_, err := rd.readResponse(func(string, value) error { return nil })
		if !errors.Is(err, errWire) {
			t.Errorf("%s: err %v, want errWire", tc.name, err)
		}
	}
	// A body literal is not bound by the small-data budget: it goes to
	// the spool, which has its own limit.
	body := strings.Repeat("x", 2*maxSmallData)
	rd := wireReader{r: bufio.NewReader(strings.NewReader("* 1 FETCH (UID 3 BODY[] {" + itoa(len(body)) + "}\r\n" + body + ")\r\n"))}
	var got int64
	rd.spool = func(n int64, r io.Reader) error {
		got, _ = io.Copy(io.Discard, r)
		return nil
	}
	if _, err := rd.readResponse(nil); err != nil || got != int64(len(body)) {
		t.Fatalf("body of %d bytes: read %d, %v", len(body), got, err)
	}
}

// TestSpoolLimit: a body over the size limit is refused while spooled.
func TestSpoolLimit(t *testing.T) {
	t.Parallel()
	_, err := newSpool(strings.NewReader(strings.Repeat("x", 3<<20)), -1, 2<<20, t.TempDir())
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("err %v, want errTooLarge", err)
	}
	s, err := newSpool(strings.NewReader(strings.Repeat("x", 3<<20)), -1, 4<<20, t.TempDir())
	if err != nil || s.file == nil {
		t.Fatalf("a 3 MiB body: %v, in a file: %v", err, s != nil && s.file != nil)
	}
	s.Close()
}

// TestPacer: reads are paced to the rate (checked on a fake clock).
func TestPacer(t *testing.T) {
	t.Parallel()
	clock := testtool.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := &pacer{r: strings.NewReader(strings.Repeat("x", 10000)), rate: 1000, start: clock.Now(), now: clock.Now, sleep: clock.Advance}
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := p.Read(buf)
		if n > 1000 {
			t.Fatalf("read %d bytes at once, more than a second's worth", n)
		}
		total += n
		if err != nil {
			break
		}
	}
	if elapsed := clock.Now().Sub(p.start); total != 10000 || elapsed < 10*time.Second {
		t.Fatalf("%d bytes in %s at 1000 B/s", total, elapsed)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
