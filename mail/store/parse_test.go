package store

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/message"
)

// utcEnvelope returns a copy of e with its date in UTC, so that envelopes
// whose dates are equal compare equal with reflect.DeepEqual.
func utcEnvelope(e *imap.Envelope) *imap.Envelope {
	if e == nil {
		return nil
	}
	c := *e
	if !c.Date.IsZero() {
		c.Date = c.Date.UTC()
	}
	return &c
}

// utcStructure does utcEnvelope for the envelopes in a body structure.
func utcStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		c := *bs
		c.Children = nil
		for _, ch := range bs.Children {
			c.Children = append(c.Children, utcStructure(ch))
		}
		return &c
	case *imap.BodyStructureSinglePart:
		c := *bs
		if m := bs.MessageRFC822; m != nil {
			mc := *m
			mc.Envelope = utcEnvelope(m.Envelope)
			mc.BodyStructure = utcStructure(m.BodyStructure)
			c.MessageRFC822 = &mc
		}
		return &c
	}
	return bs
}

// TestParseRoundTrip stores each fixture and compares what Messages gives
// with what envelopeOf and imapserver.ExtractBodyStructure give directly.
func TestParseRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	for i, raw := range fixtures {
		uid := e.append(t, acct, "INBOX", raw)
		msgs, err := e.s.Messages(ctx, mb.ID, []imap.UID{uid})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fixture %d: %v %v", i, msgs, err)
		}
		hdr, _ := message.Parse([]byte(raw))
		wantEnv := envelopeOf(hdr)
		wantBS := imapserver.ExtractBodyStructure(strings.NewReader(raw))
		if got := msgs[0].Envelope; !reflect.DeepEqual(utcEnvelope(got), utcEnvelope(wantEnv)) {
			t.Errorf("fixture %d envelope:\n got %#v\nwant %#v", i, got, wantEnv)
		}
		if !msgs[0].Envelope.Date.IsZero() {
			_, got := msgs[0].Envelope.Date.Zone()
			_, want := wantEnv.Date.Zone()
			if got != want {
				t.Errorf("fixture %d: date zone offset %d, want %d", i, got, want)
			}
		}
		if got := msgs[0].BodyStructure; !reflect.DeepEqual(utcStructure(got), utcStructure(wantBS)) {
			t.Errorf("fixture %d body structure:\n got %s\nwant %s", i, dump(got), dump(wantBS))
		}
	}
}

// dump formats a body structure for a failure message.
func dump(bs imap.BodyStructure) string {
	var b strings.Builder
	var walk func(bs imap.BodyStructure, indent string)
	walk = func(bs imap.BodyStructure, indent string) {
		switch bs := bs.(type) {
		case *imap.BodyStructureMultiPart:
			fmt.Fprintf(&b, "%smultipart/%s %+v\n", indent, bs.Subtype, bs.Extended)
			for _, c := range bs.Children {
				walk(c, indent+"  ")
			}
		case *imap.BodyStructureSinglePart:
			fmt.Fprintf(&b, "%s%+v text=%+v ext=%+v\n", indent, *bs, bs.Text, bs.Extended)
			if bs.MessageRFC822 != nil {
				fmt.Fprintf(&b, "%s  envelope %+v\n", indent, bs.MessageRFC822.Envelope)
				walk(bs.MessageRFC822.BodyStructure, indent+"  ")
			}
		default:
			fmt.Fprintf(&b, "%s%#v\n", indent, bs)
		}
	}
	walk(bs, "\n")
	return b.String()
}

// TestStructureJSON converts hand-made structures, with the nil/empty
// distinctions that matter, to JSON and back.
func TestStructureJSON(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -7*3600))
	inner := &imap.BodyStructureMultiPart{
		Subtype: "alternative",
		Children: []imap.BodyStructure{
			&imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"}, Size: 10, Text: &imap.BodyStructureText{NumLines: 1},
				Extended: &imap.BodyStructureSinglePartExt{Language: []string{"de", "en"}}},
			&imap.BodyStructureSinglePart{Type: "text", Subtype: "html", Params: map[string]string{}, Encoding: "base64", Size: 20, Text: &imap.BodyStructureText{}},
		},
		Extended: &imap.BodyStructureMultiPartExt{Params: map[string]string{"boundary": "x"}, Location: "http://example.org/"},
	}
	tests := []imap.BodyStructure{
		&imap.BodyStructureSinglePart{Type: "text", Subtype: "plain"},
		inner,
		&imap.BodyStructureMultiPart{
			Subtype: "mixed",
			Children: []imap.BodyStructure{
				inner,
				&imap.BodyStructureSinglePart{Type: "application", Subtype: "pdf", Params: map[string]string{"name": "a.pdf"}, ID: "<id@x>", Description: "flyer", Encoding: "base64", Size: 4096,
					Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "attachment", Params: map[string]string{"filename": "a.pdf"}}}},
				&imap.BodyStructureSinglePart{Type: "message", Subtype: "rfc822", Params: map[string]string{}, Size: 300,
					MessageRFC822: &imap.BodyStructureMessageRFC822{
						Envelope: &imap.Envelope{Date: date, Subject: "fwd", From: []imap.Address{{Name: "Eve", Mailbox: "eve", Host: "example.com"}}, InReplyTo: []string{"a@b"}, MessageID: "c@d"},
						BodyStructure: &imap.BodyStructureMultiPart{Subtype: "related", Children: []imap.BodyStructure{
							&imap.BodyStructureSinglePart{Type: "image", Subtype: "png", Size: 3, Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "inline"}}},
						}},
						NumLines: 12,
					},
					Extended: &imap.BodyStructureSinglePartExt{}},
			},
			Extended: &imap.BodyStructureMultiPartExt{Disposition: &imap.BodyStructureDisposition{Value: "inline", Params: map[string]string{}}},
		},
	}
	for i, bs := range tests {
		s, err := encodeStructure(bs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStructure(s)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(utcStructure(got), utcStructure(bs)) {
			t.Errorf("structure %d:\n got %s\nwant %s\njson %s", i, dump(got), dump(bs), s)
		}
		if m, ok := bs.(*imap.BodyStructureMultiPart); ok && len(m.Children) == 3 {
			d := got.(*imap.BodyStructureMultiPart).Children[2].(*imap.BodyStructureSinglePart).MessageRFC822.Envelope.Date
			if _, off := d.Zone(); off != -7*3600 || !d.Equal(date) {
				t.Errorf("nested envelope date %v, want %v", d, date)
			}
		}
	}
	env := &imap.Envelope{}
	s, _ := encodeEnvelope(env)
	if got, err := decodeEnvelope(s); err != nil || !reflect.DeepEqual(got, env) {
		t.Errorf("empty envelope round trip: %#v %v", got, err)
	}
}

// TestParseTooComplex checks that messages nested too deep or with too
// many parts get an opaque body structure instead of a huge one, quickly.
func TestParseTooComplex(t *testing.T) {
	t.Parallel()
	var deep strings.Builder
	deep.WriteString("Subject: deep\r\n")
	for i := range 2000 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")

	var many strings.Builder
	many.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range maxParts + 10 {
		many.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	many.WriteString("--b--\r\n")

	for _, raw := range []string{deep.String(), many.String()} {
		start := time.Now()
		p, err := parseMessage(strings.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		sp, ok := p.structure.(*imap.BodyStructureSinglePart)
		if !ok || sp.MediaType() != "application/octet-stream" || sp.Size == 0 {
			t.Errorf("structure %s", dump(p.structure))
		}
		if p.envelope.Subject == "" {
			t.Error("no envelope")
		}
		t.Logf("%d bytes parsed in %v", len(raw), time.Since(start))
	}
	// Just within the limits is parsed normally.
	var ok strings.Builder
	ok.WriteString("Subject: ok\r\n")
	for i := range maxDepth {
		fmt.Fprintf(&ok, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	ok.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	p, err := parseMessage(strings.NewReader(ok.String()), int64(ok.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, multi := p.structure.(*imap.BodyStructureMultiPart); !multi || !strings.Contains(p.body, "bottom") {
		t.Errorf("message at the depth limit: %s, text %q", dump(p.structure), p.body)
	}
}

func TestParseTextBounded(t *testing.T) {
	t.Parallel()
	raw := "Subject: big\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("abcdefghij\r\n", maxBodyText/8)
	p, err := parseMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.body) > maxBodyText || len(p.body) < maxBodyText-16 {
		t.Errorf("indexed %d bytes of text, want about %d", len(p.body), maxBodyText)
	}
	// Many header fields: only maxHeaderFields are indexed.
	var h bytes.Buffer
	for i := range maxHeaderFields + 50 {
		fmt.Fprintf(&h, "X-F%d: v\r\n", i)
	}
	h.WriteString("\r\nbody\r\n")
	p, err = parseMessage(bytes.NewReader(h.Bytes()), int64(h.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.headers) != maxHeaderFields {
		t.Errorf("%d header fields indexed, want %d", len(p.headers), maxHeaderFields)
	}
}

func TestStripHTML(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"<p>Hello <b>world</b></p>", "\nHello world\n"},
		{"a &amp; b &lt;c&gt; &eacute;", "a & b <c> é"},
		{"<script type=x>alert(1)</script>after", "after"},
		{"<STYLE>p{}</STYLE>x", "x"},
		{"x<!-- comment -->y", "xy"},
		{"a<br/>b", "a\nb"},
		{"unclosed <b", "unclosed "},
		{"<script>never closed", ""},
		{"<td>a</td><td>b</td>", " a  b "},
	}
	for _, tt := range tests {
		if got := stripHTML(tt.in); got != tt.want {
			t.Errorf("stripHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
