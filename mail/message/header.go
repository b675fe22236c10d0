// Package message is caucus's one parser of message headers (RFC 5322
// section 2.2, with the obsolete syntax of section 4) and of the addresses
// in them (section 3.4, with the groups and the obsolete routes of section
// 4.4). Everything in caucus that reads a header reads it through this
// package: the MX's checks (DMARC's RFC5322.From, the impersonation
// check), submission's send-as check, DKIM signing, and the store's IMAP
// ENVELOPE. So the From a check judges is the From that a client shows
// (design rule 8: one From, parsed once).
//
// Split is lenient: it cuts any header block into fields the way a DKIM
// verifier does, and keeps every byte, so that a header can be rewritten
// without touching what it leaves alone. Parse is strict: a header that
// readers could cut differently (a line that is no field, a NUL, a bare CR,
// a header that does not end within MaxHeader bytes) is an error, and
// Header.Check refuses what RFC 5322 section 3.6 allows at most once but
// is there several times. The MX and submission refuse such messages; the
// store, which must show whatever it holds, uses what Parse could read.
package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxHeader bounds a header block, blank line included. A message whose
// header does not end within it is refused on the MX and at submission:
// parsers that stop reading at different points would otherwise see
// different fields (a From placed after a megabyte of padding).
const MaxHeader = 1 << 20

// Errors. Each error Parse, Check and the address parsers return wraps one
// of them.
var (
	// ErrMalformed: the header cannot be read one way only.
	ErrMalformed = errors.New("message: malformed header")
	// ErrTooLong: the header does not end within MaxHeader bytes.
	ErrTooLong = errors.New("message: header too long")
	// ErrDuplicate: a field allowed once is there several times (RFC
	// 5322 section 3.6).
	ErrDuplicate = errors.New("message: field present more than once")
	// ErrFrom: the message has no single From mailbox (RFC 5322 section
	// 3.6.2 as DMARC reads it, RFC 7489 section 6.6.1).
	ErrFrom = errors.New("message: no single From address")
	// ErrAddress: an address field does not parse (RFC 5322 section 3.4).
	ErrAddress = errors.New("message: malformed address")
)

// Field is one header field as it appears in a message: its name and its
// raw bytes, continuation lines and final line ending included.
type Field struct {
	// Name is the text before the colon with the white space around it
	// removed: "From :" is a From field (the obsolete syntax of RFC 5322
	// section 4.5 allows white space before the colon, and readers take
	// it so). For a line without a colon it is the whole line, trimmed.
	Name string
	// Colon says the field has a colon, i.e. a name and a value.
	Colon bool
	// Raw is the field's bytes, from its first byte through the line
	// ending of its last line.
	Raw []byte
}

// Is reports whether the field is a field named name (case-insensitive).
func (f Field) Is(name string) bool {
	return f.Colon && strings.EqualFold(f.Name, name)
}

// Value returns the field's value unfolded (RFC 5322 section 2.2.3: CR and
// LF removed), with the white space around it trimmed. It is not decoded.
func (f Field) Value() string {
	_, v, ok := bytes.Cut(f.Raw, []byte(":"))
	if !ok {
		return ""
	}
	v = bytes.ReplaceAll(v, []byte("\r"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// Split splits a header block into its fields. It stops at the first empty
// line, which it returns as blank (nil if there is none), and returns what
// follows that line as rest. Lines may end in CRLF or a bare LF; a line
// that starts with white space continues the field before it (a first line
// that does, becomes a nameless field), and a line without a colon is a
// field without one. This is how go-msgauth's DKIM code reads a header, so
// that signing and verifying count the same fields.
func Split(b []byte) (fields []Field, blank, rest []byte) {
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
			fields = append(fields, Field{Raw: append([]byte(nil), line...)})
			continue
		}
		if len(fields) > 0 && (content[0] == ' ' || content[0] == '\t') {
			last := &fields[len(fields)-1]
			last.Raw = append(last.Raw, line...)
			continue
		}
		name, _, colon := bytes.Cut(content, []byte(":"))
		fields = append(fields, Field{
			Name:  strings.TrimSpace(string(name)),
			Colon: colon,
			Raw:   append([]byte(nil), line...),
		})
	}
	return fields, nil, nil
}

// Header is a parsed header block.
type Header struct {
	// Fields are the fields in order.
	Fields []Field
	// Len is the length of the header block in the message, through the
	// empty line that ends it (the whole input if none does).
	Len int
}

// Parse parses the header block that msg starts with. It returns an error
// wrapping ErrMalformed for a header that readers could cut into fields
// differently, and ErrTooLong for one that does not end within MaxHeader
// bytes; the Header then holds the fields before the first fault, which is
// what a lenient reader (go-message, most clients) shows. A message
// without a body (no empty line) is a header alone.
func Parse(msg []byte) (*Header, error) {
	end := headerEnd(msg)
	var tooLong error
	if end < 0 {
		end = len(msg)
		if end > MaxHeader {
			end = MaxHeader
			tooLong = fmt.Errorf("%w: no end within %d bytes", ErrTooLong, MaxHeader)
		}
	} else if end > MaxHeader {
		tooLong = fmt.Errorf("%w: %d bytes", ErrTooLong, end)
	}
	fields, _, _ := Split(msg[:end])
	h := &Header{Len: end}
	for i, f := range fields {
		if err := f.check(i); err != nil {
			return h, err
		}
		h.Fields = append(h.Fields, f)
	}
	if tooLong != nil {
		return h, tooLong
	}
	return h, nil
}

// check reports whether the field, the i-th of its header, is one a
// reader can only read one way: a name of printable ASCII without white
// space (RFC 5322 section 3.6.8), a colon, no NUL and no CR but before LF
// (section 2.2). A line without a colon is where go-message and many
// clients end the header, while others take the fields after it: it is
// refused, not guessed.
func (f Field) check(i int) error {
	switch {
	case f.Raw[0] == ' ' || f.Raw[0] == '\t':
		return fmt.Errorf("%w: the header starts with white space", ErrMalformed)
	case !f.Colon:
		return fmt.Errorf("%w: field %d has no colon", ErrMalformed, i+1)
	case f.Name == "":
		return fmt.Errorf("%w: field %d has no name", ErrMalformed, i+1)
	}
	for j := 0; j < len(f.Name); j++ {
		if c := f.Name[j]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: field %d: invalid name", ErrMalformed, i+1)
		}
	}
	for j, c := range f.Raw {
		switch {
		case c == 0:
			return fmt.Errorf("%w: field %q holds a NUL", ErrMalformed, f.Name)
		case c == '\r' && (j+1 >= len(f.Raw) || f.Raw[j+1] != '\n'):
			return fmt.Errorf("%w: field %q holds a bare CR", ErrMalformed, f.Name)
		}
	}
	return nil
}

// headerEnd returns the length of the header block in b (through the empty
// line), or -1 if b holds no empty line.
func headerEnd(b []byte) int { return headerEndFrom(b, 0) }

// HeaderEnd returns the length of msg's header block, through the empty
// line that ends it (RFC 5322 section 2.1), by the same rule as [Split];
// the whole of msg when it has no empty line.
func HeaderEnd(msg []byte) int {
	if n := headerEnd(msg); n >= 0 {
		return n
	}
	return len(msg)
}

// headerEndFrom is headerEnd for a b whose first from bytes hold no end
// of header, so that a header read in pieces is scanned once.
func headerEndFrom(b []byte, from int) int {
	if from == 0 {
		if bytes.HasPrefix(b, []byte("\r\n")) {
			return 2
		}
		if bytes.HasPrefix(b, []byte("\n")) {
			return 1
		}
	}
	for i := from; ; {
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

// ReadHeader reads a message's header block from r, through the empty line
// that ends it, reading at most limit bytes; what it returns then ends
// without an empty line.
func ReadHeader(r io.Reader, limit int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < limit {
		n, err := r.Read(buf[:min(len(buf), limit-len(out))])
		from := max(len(out)-2, 0) // an end may begin in what was read before
		out = append(out, buf[:n]...)
		if i := headerEndFrom(out, from); i >= 0 {
			return out[:i], nil
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("message: reading header: %w", err)
		}
	}
	return out, nil
}

// Get returns the fields named name, in order.
func (h *Header) Get(name string) []Field {
	var out []Field
	for _, f := range h.Fields {
		if f.Is(name) {
			out = append(out, f)
		}
	}
	return out
}

// First returns the value of the first field named name, "" if none. It is
// the field readers show when a message has several.
func (h *Header) First(name string) string {
	for _, f := range h.Fields {
		if f.Is(name) {
			return f.Value()
		}
	}
	return ""
}

// once lists the fields that say who a message is from or where replies
// go, which RFC 5322 section 3.6 allows at most once. A message with two of
// one is shown by one reader after the first, by another after the second,
// and checked after whichever a check happens to take.
var once = []string{"From", "Sender", "Reply-To"}

// Check applies RFC 5322 section 3.6 to the fields that name the author:
// exactly one From, holding exactly one mailbox with a domain (the DMARC
// identity); at most one Sender, holding one mailbox; at most one
// Reply-To, which parses. The MX and submission refuse a message that
// fails it.
func (h *Header) Check() error {
	for _, name := range once {
		if n := len(h.Get(name)); n > 1 {
			return fmt.Errorf("%w: %d %s fields", ErrDuplicate, n, name)
		}
	}
	if _, err := h.From(); err != nil {
		return err
	}
	if s := h.Get("Sender"); len(s) == 1 {
		if _, err := single(s[0].Value()); err != nil {
			return fmt.Errorf("Sender: %w", err)
		}
	}
	if r := h.Get("Reply-To"); len(r) == 1 {
		if _, err := ParseAddressList(r[0].Value()); err != nil {
			return fmt.Errorf("Reply-To: %w", err)
		}
	}
	return nil
}

// From returns the message's author: the one mailbox of its one From field
// (RFC 5322 section 3.6.2), whose host must be a domain name, not an
// address literal, so that DMARC can apply (RFC 7489 section 6.6.1). Any
// other From is an error wrapping ErrFrom.
func (h *Header) From() (Address, error) {
	fs := h.Get("From")
	if len(fs) != 1 {
		return Address{}, fmt.Errorf("%w: %d From fields", ErrFrom, len(fs))
	}
	a, err := single(fs[0].Value())
	if err != nil {
		return Address{}, fmt.Errorf("%w: %w", ErrFrom, err)
	}
	if strings.HasPrefix(a.Host, "[") {
		return Address{}, fmt.Errorf("%w: address literal", ErrFrom)
	}
	return a, nil
}

// Sender returns the Sender mailbox, ok false if there is no Sender field.
func (h *Header) Sender() (a Address, ok bool, err error) {
	fs := h.Get("Sender")
	switch len(fs) {
	case 0:
		return Address{}, false, nil
	case 1:
		a, err := single(fs[0].Value())
		return a, true, err
	}
	return Address{}, true, fmt.Errorf("%w: %d Sender fields", ErrDuplicate, len(fs))
}

// single parses a value that must hold one mailbox and nothing else.
func single(v string) (Address, error) {
	list, err := ParseAddressList(v)
	if err != nil {
		return Address{}, err
	}
	if len(list) != 1 || list[0].Kind != Mailbox {
		return Address{}, fmt.Errorf("%w: %d entries where one mailbox belongs", ErrAddress, len(list))
	}
	return list[0], nil
}
