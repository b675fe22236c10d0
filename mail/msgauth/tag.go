package msgauth

import (
	"bytes"
	"strings"

	"github.com/caucus-org/caucus/mail/message"
)

const (
	// subjectTag is what TagMessage puts before a suspicious subject.
	subjectTag = "[External]"
	// warningField is the field TagMessage adds to explain the tag.
	warningField = "X-Caucus-Warning"
	// maxWarning bounds the warning text.
	maxWarning = 900
)

// TagMessage returns a copy of a message header (through the empty line
// that ends it; anything after is copied unchanged) marked for the reader
// when v is suspicious:
//
//   - "[External] " before the subject, unless the subject already starts
//     with it (after decoding RFC 2047 encoded-words); the tag goes before
//     the first word as plain text, so an encoded subject stays intact
//     and RFC 2047 section 6.2 shows tag, space and decoded text; a
//     message without a Subject gets "Subject: [External]";
//   - an X-Caucus-Warning field at the top saying why (v.Reason).
//
// Every X-Caucus-Warning field already in the header is removed first,
// suspicious or not, so that a sender cannot forge or pre-empt one, and so
// is a first line that starts with white space, which would otherwise
// continue the field put above it. The result keeps the header's line
// endings (CRLF or LF). TagMessage is idempotent: tagging a tagged header
// changes nothing.
//
// Only suspicious mail is tagged, not all mail from outside: most of a
// party's mail comes from outside, and a tag on every message is a tag
// nobody reads.
func TagMessage(header []byte, v Verdict) []byte {
	fields, blank, rest := message.Split(header)
	eol := "\r\n"
	if i := bytes.IndexByte(header, '\n'); i >= 0 && (i == 0 || header[i-1] != '\r') {
		eol = "\n"
	}
	suspicious := v.Suspicious()

	out := make([]byte, 0, len(header)+256)
	if suspicious {
		out = append(out, foldField(warningField, warningText(v), eol)...)
	}
	sawSubject := false
	for i, f := range fields {
		switch {
		case i == 0 && (f.Raw[0] == ' ' || f.Raw[0] == '\t'):
			// A header that starts with white space: whatever is put
			// before it (this warning, the SMTP server's Received and
			// Authentication-Results) would take the line as its own
			// continuation. It is no field; drop it.
			continue
		case f.Colon && strings.EqualFold(f.Name, warningField):
			continue
		case suspicious && f.Colon && strings.EqualFold(f.Name, "Subject"):
			sawSubject = true
			out = append(out, tagSubject(f.Raw, eol)...)
		default:
			out = append(out, f.Raw...)
		}
	}
	if suspicious && !sawSubject {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, eol...)
		}
		out = append(out, "Subject: "+subjectTag+eol...)
	}
	if blank != nil && len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, eol...)
	}
	out = append(out, blank...)
	return append(out, rest...)
}

// tagSubject returns the raw Subject field with the tag before its value,
// or unchanged if the value already starts with the tag.
func tagSubject(raw []byte, eol string) []byte {
	colon := bytes.IndexByte(raw, ':')
	name, value := raw[:colon+1], raw[colon+1:]
	if alreadyTagged(value) {
		return raw
	}
	out := append([]byte(nil), name...)
	out = append(out, ' ')
	out = append(out, subjectTag...)
	switch {
	case len(value) == 0:
		// The last line of a header without line ending.
	case value[0] == '\r' || value[0] == '\n':
		// Empty first line; the value, if any, is on the next.
	case value[0] == ' ' || value[0] == '\t':
		if firstLine := bytes.IndexByte(raw, '\n'); firstLine+len(subjectTag)+1 > 998 {
			out = append(out, eol...) // keep lines within RFC 5322's 998
		}
	default:
		out = append(out, ' ')
	}
	return append(out, value...)
}

// alreadyTagged reports whether a Subject value starts with the tag, as
// a reader would see it.
func alreadyTagged(value []byte) bool {
	v := strings.NewReplacer("\r", "", "\n", "").Replace(string(value))
	if d, err := message.WordDecoder().DecodeHeader(v); err == nil {
		v = d
	}
	v = strings.TrimLeft(v, " \t")
	return len(v) >= len(subjectTag) && strings.EqualFold(v[:len(subjectTag)], subjectTag)
}

// warningText returns the text of the warning field: v.Reason, or a
// general warning if a caller made a Verdict without one, as printable
// ASCII of at most maxWarning bytes.
func warningText(v Verdict) string {
	s := v.Reason
	if strings.TrimSpace(s) == "" {
		s = "This message may impersonate the party or one of its members"
	}
	s = asciiText(strings.Join(strings.Fields(s), " "))
	if len(s) > maxWarning {
		s = s[:maxWarning]
	}
	return s
}

// foldField formats a header field with an ASCII text value, folded at
// spaces before column 78 (RFC 5322 section 2.2.3).
func foldField(name, text, eol string) string {
	var b strings.Builder
	line := name + ":"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 78 && len(line) > len(name)+1 {
			b.WriteString(line + eol)
			line = ""
		}
		line += " " + w
	}
	b.WriteString(line + eol)
	return b.String()
}
