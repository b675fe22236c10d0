package msgauth

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// field is one header field as it appears in a message (RFC 5322 section
// 2.2): its name and its raw bytes, continuation lines and final line
// ending included, so that a header can be rewritten without touching the
// fields it leaves alone.
type field struct {
	// name is the text before the colon, trimmed of white space; for a
	// malformed line without a colon it is the whole line, trimmed, as
	// go-msgauth's DKIM code reads it.
	name  string
	colon bool // the field has a colon, i.e. a value
	raw   []byte
}

// value returns the field's value unfolded (RFC 5322 section 2.2.3: CR and
// LF removed), with the white space around it trimmed.
func (f field) value() string {
	_, v, ok := bytes.Cut(f.raw, []byte(":"))
	if !ok {
		return ""
	}
	v = bytes.ReplaceAll(v, []byte("\r"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// splitHeader splits a header block into its fields. It stops at the first
// empty line, which it returns as blank (nil if there is none), and returns
// what follows that line as rest. Lines may end in CRLF or a bare LF; a
// line that starts with white space continues the field before it, the way
// go-msgauth's DKIM verifier reads a header, so both count the same
// DKIM-Signature fields.
func splitHeader(b []byte) (fields []field, blank, rest []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		content := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(content) == 0 {
			if bytes.HasSuffix(line, []byte("\n")) {
				return fields, line, b
			}
			// A lone CR at the very end: keep it, as a nameless field.
			fields = append(fields, field{raw: append([]byte(nil), line...)})
			continue
		}
		if len(fields) > 0 && (content[0] == ' ' || content[0] == '\t') {
			last := &fields[len(fields)-1]
			last.raw = append(last.raw, line...)
			continue
		}
		name, _, colon := bytes.Cut(content, []byte(":"))
		fields = append(fields, field{
			name:  strings.TrimSpace(string(name)),
			colon: colon,
			raw:   append([]byte(nil), line...),
		})
	}
	return fields, nil, nil
}

// readHeaderBlock reads a message's header block, through the empty line
// that ends it, reading at most limit bytes.
func readHeaderBlock(r io.Reader, limit int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < limit {
		n, err := r.Read(buf[:min(len(buf), limit-len(out))])
		out = append(out, buf[:n]...)
		if i := headerEnd(out); i >= 0 {
			return out[:i], nil
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// headerEnd returns the length of the header block in b (through the empty
// line), or -1 if b holds no empty line.
func headerEnd(b []byte) int {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(b, []byte("\n")) {
		return 1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case bytes.HasPrefix(b[i:], []byte("\r\n")):
			return i + 2
		case bytes.HasPrefix(b[i:], []byte("\n")):
			return i + 1
		}
	}
}

// wordDecoder decodes RFC 2047 encoded-words in any charset the WHATWG
// encoding index knows (golang.org/x/text), not only UTF-8, US-ASCII and
// ISO-8859-1 as mime.WordDecoder does alone.
func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(charset)
		if err != nil {
			return nil, err
		}
		return enc.NewDecoder().Reader(input), nil
	}}
}

// tagValue returns the value of the tag name in a tag=value list (RFC 6376
// section 3.2), white space removed, or "".
func tagValue(list, name string) string {
	for _, kv := range strings.Split(list, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
	}
	return ""
}
