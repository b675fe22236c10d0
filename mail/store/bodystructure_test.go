package store

import (
	"bytes"
	"encoding/base64"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// TestBodyStructureStreams checks that the structure of a message with a
// large attachment, which every APPEND and delivery computes
// (parseMessageText), is computed without holding the attachment in
// memory: go-imap read each part whole (io.ReadAll) to count its bytes
// and lines, 23% of the steady-session load's allocations. The sizes and
// line counts must stay what RFC 9051 7.5.2 asks (the part's body in
// octets; a text part's lines).
func TestBodyStructureStreams(t *testing.T) {
	const attach = 4 << 20
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("council minutes "), attach/16))
	var b strings.Builder
	for len(data) > 76 {
		b.WriteString(data[:76] + "\r\n")
		data = data[76:]
	}
	b.WriteString(data + "\r\n")
	encoded := b.String()
	text := "See the minutes attached.\r\nRegards,\r\nthe secretary\r\n"
	raw := crlf("From: sec@example.org\nTo: board@example.org\nSubject: minutes\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n") +
		text + crlf("--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n") +
		encoded + crlf("--b1--\n")

	extract := func() imap.BodyStructure { return imapserver.ExtractBodyStructure(strings.NewReader(raw)) }
	extract() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bs := extract()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > attach/4 {
		t.Errorf("the structure of a message with a %d-byte attachment allocated %d bytes", len(encoded), alloc)
	}

	mp, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 {
		t.Fatalf("structure %#v, want two parts", bs)
	}
	// The multipart reader ends a part's body before the CRLF that
	// precedes the next boundary (RFC 2046 5.1.1).
	want := []struct {
		size  uint32
		lines int64
	}{
		{uint32(len(text) - 2), int64(strings.Count(text, "\n") - 1)},
		{uint32(len(encoded) - 2), -1},
	}
	for i, c := range mp.Children {
		p := c.(*imap.BodyStructureSinglePart)
		if p.Size != want[i].size {
			t.Errorf("part %d: size %d, want %d", i+1, p.Size, want[i].size)
		}
		if want[i].lines >= 0 && (p.Text == nil || p.Text.NumLines != want[i].lines) {
			t.Errorf("part %d: text %+v, want %d lines", i+1, p.Text, want[i].lines)
		}
	}
}
