package msgview

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// syntheticMessage is a message of a header, a text part and a base64
// attachment of n lines, served by ReadAt without being held in memory.
type syntheticMessage struct {
	head, line, tail string
	n                int64
}

func (m *syntheticMessage) size() int64 {
	return int64(len(m.head)) + m.n*int64(len(m.line)) + int64(len(m.tail))
}

func (m *syntheticMessage) ReadAt(p []byte, off int64) (int, error) {
	size := m.size()
	if off >= size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < size {
		var c byte
		switch body := off - int64(len(m.head)); {
		case off < int64(len(m.head)):
			c = m.head[off]
		case body < m.n*int64(len(m.line)):
			c = m.line[body%int64(len(m.line))]
		default:
			c = m.tail[body-m.n*int64(len(m.line))]
		}
		p[n] = c
		n++
		off++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestParseLarge: a 50 MB message is parsed, its body shown and its
// attachment streamed without holding the message: the memory allocated
// stays a small fraction of it.
func TestParseLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB")
	}
	line := strings.Repeat("QUJD", 19) + "\r\n" // 76 characters: "ABC" × 19
	m := &syntheticMessage{
		head: "From: a@x.example\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n" +
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		line: line,
		tail: "--b--\r\n",
		n:    50 << 20 / int64(len(line)),
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := Parse(m, m.size(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].Size != m.n*57 {
		t.Fatalf("attachments %+v", v.Attachments)
	}
	var w countWriter
	if _, err := v.WritePart(&w, "2"); err != nil || w.n != m.n*57 {
		t.Fatalf("WritePart: %d bytes, %v", w.n, err)
	}
	var b strings.Builder
	if err := v.BodyText(&b); err != nil || b.String() != "see the attachment" {
		t.Fatalf("body %q, %v", b.String(), err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes allocated for a %d-byte message", alloc, m.size())
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes for a %d-byte message", alloc, m.size())
	}
}
