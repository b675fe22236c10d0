package mailimport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The IMAP response reader of the IMAP source. It reads what a client
// needs to copy a mailbox (RFC 9051 section 7 responses: tagged status,
// CAPABILITY, LIST, SEARCH, FETCH with UID, FLAGS, INTERNALDATE,
// RFC822.SIZE, BODY[] and Gmail's X-GM-LABELS and X-GM-MSGID) and skips
// the rest. go-imap's client is not used because it refuses FETCH items
// it does not know, such as X-GM-LABELS.

// Bounds on what a source server may send.
const (
	maxAtom      = 8 << 10 // an atom, a number, a quoted string, a small literal
	maxSmallData = 1 << 20 // all the non-body data of one response
	maxDepth     = 8       // list nesting
	maxItems     = 1 << 20 // SEARCH results per response
)

// errWire reports a response that does not follow the grammar.
var errWire = errors.New("mailimport: malformed IMAP response")

// value is a parsed IMAP data item: an atom (also NIL and numbers), a
// string (quoted or literal), or a parenthesized list.
type value struct {
	atom   string
	str    string
	isStr  bool
	list   []value
	isList bool
}

// text returns an atom's or string's text.
func (v value) text() string {
	if v.isStr {
		return v.str
	}
	return v.atom
}

// wireReader reads responses from a server.
type wireReader struct {
	r      *bufio.Reader
	budget int // bytes of small data left in the current response
	// spool, if set, receives a literal that is a message body.
	spool func(n int64, r io.Reader) error
}

// startResponse resets the per-response budget.
func (w *wireReader) startResponse() { w.budget = maxSmallData }

// take counts n bytes against the budget.
func (w *wireReader) take(n int) error {
	w.budget -= n
	if w.budget < 0 {
		return fmt.Errorf("%w: response too large", errWire)
	}
	return nil
}

// peek returns the next byte without consuming it.
func (w *wireReader) peek() (byte, error) {
	b, err := w.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// expect consumes byte c or fails.
func (w *wireReader) expect(c byte) error {
	b, err := w.r.ReadByte()
	if err != nil {
		return err
	}
	if b != c {
		return fmt.Errorf("%w: got %q, want %q", errWire, b, c)
	}
	return nil
}

// sp consumes one space.
func (w *wireReader) sp() error { return w.expect(' ') }

// crlf consumes the line end (a bare LF is accepted).
func (w *wireReader) crlf() error {
	b, err := w.r.ReadByte()
	if err != nil {
		return err
	}
	if b == '\r' {
		b, err = w.r.ReadByte()
		if err != nil {
			return err
		}
	}
	if b != '\n' {
		return fmt.Errorf("%w: got %q, want line end", errWire, b)
	}
	return nil
}

// restOfLine reads up to the line end and returns the text (bounded).
func (w *wireReader) restOfLine() (string, error) {
	var b strings.Builder
	for {
		c, err := w.r.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if b.Len() < maxAtom {
			b.WriteByte(c)
		}
		if err := w.take(1); err != nil {
			return "", err
		}
	}
}

// atomChar reports whether c may be in an atom as servers send them:
// anything but space, parentheses, quotes, braces of literals, and
// control characters. Brackets are allowed (BODY[], flags like
// \Seen, response codes are read separately).
func atomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '(' && c != ')' && c != '"' && c != '{'
}

// atom reads an atom (possibly with "[...]" sections as in BODY[]).
func (w *wireReader) atom() (string, error) {
	var b strings.Builder
	depth := 0
	for {
		c, err := w.peek()
		if err != nil {
			return "", err
		}
		if depth == 0 && (c == ']' || !atomChar(c)) {
			if b.Len() == 0 {
				return "", fmt.Errorf("%w: expected atom, got %q", errWire, c)
			}
			return b.String(), nil
		}
		if c == '\r' || c == '\n' {
			return "", fmt.Errorf("%w: line end in section", errWire)
		}
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		}
		w.r.ReadByte()
		if b.Len() >= maxAtom {
			return "", fmt.Errorf("%w: atom too long", errWire)
		}
		if err := w.take(1); err != nil {
			return "", err
		}
		b.WriteByte(c)
	}
}

// quoted reads a quoted string (RFC 9051 section 4.3), the opening quote
// not yet consumed.
func (w *wireReader) quoted() (string, error) {
	if err := w.expect('"'); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		c, err := w.r.ReadByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if c, err = w.r.ReadByte(); err != nil {
				return "", err
			}
		case '\r', '\n':
			return "", fmt.Errorf("%w: line end in quoted string", errWire)
		}
		if b.Len() >= maxAtom {
			return "", fmt.Errorf("%w: quoted string too long", errWire)
		}
		if err := w.take(1); err != nil {
			return "", err
		}
		b.WriteByte(c)
	}
}

// literalSize reads "{n}" or "{n+}" and the line end after it.
func (w *wireReader) literalSize() (int64, error) {
	if err := w.expect('{'); err != nil {
		return 0, err
	}
	var n int64
	digits := 0
	for {
		c, err := w.r.ReadByte()
		if err != nil {
			return 0, err
		}
		if c >= '0' && c <= '9' && digits < 12 {
			n = n*10 + int64(c-'0')
			digits++
			continue
		}
		if c == '+' {
			c, err = w.r.ReadByte()
			if err != nil {
				return 0, err
			}
		}
		if c != '}' || digits == 0 {
			return 0, fmt.Errorf("%w: bad literal size", errWire)
		}
		return n, w.crlf()
	}
}

// smallLiteral reads a literal that is not a message body.
func (w *wireReader) smallLiteral() (string, error) {
	n, err := w.literalSize()
	if err != nil {
		return "", err
	}
	if n > maxAtom {
		return "", fmt.Errorf("%w: literal of %d bytes where a short string belongs", errWire, n)
	}
	if err := w.take(int(n)); err != nil {
		return "", err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(w.r, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// value reads one data item. A literal after a BODY[...] name goes to
// w.spool (see fetchItems); everywhere else literals are small.
func (w *wireReader) value(depth int) (value, error) {
	c, err := w.peek()
	if err != nil {
		return value{}, err
	}
	switch c {
	case '"':
		s, err := w.quoted()
		return value{str: s, isStr: true}, err
	case '{':
		s, err := w.smallLiteral()
		return value{str: s, isStr: true}, err
	case '(':
		return w.list(depth)
	default:
		a, err := w.atom()
		return value{atom: a}, err
	}
}

// list reads a parenthesized list.
func (w *wireReader) list(depth int) (value, error) {
	if depth >= maxDepth {
		return value{}, fmt.Errorf("%w: lists nested too deep", errWire)
	}
	if err := w.expect('('); err != nil {
		return value{}, err
	}
	v := value{isList: true}
	for i := 0; ; i++ {
		c, err := w.peek()
		if err != nil {
			return value{}, err
		}
		if c == ')' {
			w.r.ReadByte()
			return v, nil
		}
		if i > 0 {
			if err := w.sp(); err != nil {
				return value{}, err
			}
		}
		item, err := w.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		if err := w.take(16); err != nil { // per-item overhead
			return value{}, err
		}
		v.list = append(v.list, item)
	}
}

// number parses a non-negative 32-bit number atom.
func number(v value) (uint32, error) {
	n, err := strconv.ParseUint(v.atom, 10, 32)
	if err != nil || v.isStr || v.isList {
		return 0, fmt.Errorf("%w: %q is not a number", errWire, v.atom)
	}
	return uint32(n), nil
}

// response is one server response line, read up to its end, except for
// FETCH data, whose items are handed to a callback as they are read.
type response struct {
	tag    string // "*" for untagged, "+" for a continuation
	status string // OK, NO, BAD, BYE, PREAUTH for status responses
	code   string // the response code inside [ ], if any
	text   string // the human-readable rest
	kind   string // for untagged data: CAPABILITY, LIST, SEARCH, FETCH, EXISTS, …
	num    uint32 // the message number of EXISTS, FETCH, …
	fields []value
}

// readResponse reads one response. FETCH items go to onFetch (name,
// value); a body literal goes to w.spool through fetchItems.
func (w *wireReader) readResponse(onFetch func(name string, v value) error) (response, error) {
	w.startResponse()
	var resp response
	first, err := w.peek()
	if err != nil {
		return resp, err
	}
	if first == '+' {
		w.r.ReadByte()
		resp.tag = "+"
		resp.text, err = w.restOfLine()
		return resp, err
	}
	if resp.tag, err = w.atom(); err != nil {
		return resp, err
	}
	if err := w.sp(); err != nil {
		return resp, err
	}
	word, err := w.atom()
	if err != nil {
		return resp, err
	}
	if n, err := strconv.ParseUint(word, 10, 32); err == nil && resp.tag == "*" {
		resp.num = uint32(n)
		if err := w.sp(); err != nil {
			return resp, err
		}
		if resp.kind, err = w.atom(); err != nil {
			return resp, err
		}
		resp.kind = strings.ToUpper(resp.kind)
		if resp.kind == "FETCH" {
			if err := w.sp(); err != nil {
				return resp, err
			}
			if err := w.fetchItems(onFetch); err != nil {
				return resp, err
			}
		}
		_, err = w.restOfLine()
		return resp, err
	}
	switch up := strings.ToUpper(word); up {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		resp.status = up
		return resp, w.statusText(&resp)
	default:
		resp.kind = up
		return resp, w.dataFields(&resp)
	}
}

// statusText reads the optional response code and the text of a status
// response (RFC 9051 section 7.1).
func (w *wireReader) statusText(resp *response) error {
	rest, err := w.restOfLine()
	if err != nil {
		return err
	}
	rest = strings.TrimPrefix(rest, " ")
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i > 0 {
			resp.code, rest = rest[1:i], strings.TrimPrefix(rest[i+1:], " ")
		}
	}
	resp.text = rest
	return nil
}

// dataFields reads the space-separated items of untagged data (LIST,
// SEARCH, CAPABILITY, FLAGS …) to the line end.
func (w *wireReader) dataFields(resp *response) error {
	for n := 0; ; n++ {
		c, err := w.peek()
		if err != nil {
			return err
		}
		if c == '\r' || c == '\n' {
			return w.crlf()
		}
		if err := w.sp(); err != nil {
			return err
		}
		if c, err = w.peek(); err != nil {
			return err
		}
		if c == '\r' || c == '\n' { // a trailing space, as some servers send after SEARCH
			continue
		}
		if n >= maxItems {
			return fmt.Errorf("%w: too many items", errWire)
		}
		v, err := w.value(0)
		if err != nil {
			return err
		}
		if err := w.take(8); err != nil && resp.kind != "SEARCH" {
			return err
		}
		resp.fields = append(resp.fields, v)
	}
}

// fetchItems reads "(name value name value …)" of a FETCH response
// (RFC 9051 section 7.5.2). A BODY[...] literal is handed to w.spool
// and not kept; other items go to onFetch.
func (w *wireReader) fetchItems(onFetch func(name string, v value) error) error {
	if err := w.expect('('); err != nil {
		return err
	}
	for i := 0; ; i++ {
		c, err := w.peek()
		if err != nil {
			return err
		}
		if c == ')' {
			w.r.ReadByte()
			return nil
		}
		if i > 0 {
			if err := w.sp(); err != nil {
				return err
			}
		}
		name, err := w.atom()
		if err != nil {
			return err
		}
		name = strings.ToUpper(name)
		if err := w.sp(); err != nil {
			return err
		}
		if strings.HasPrefix(name, "BODY[") || name == "RFC822" {
			if err := w.body(); err != nil {
				return err
			}
			continue
		}
		v, err := w.value(0)
		if err != nil {
			return err
		}
		if onFetch != nil {
			if err := onFetch(name, v); err != nil {
				return err
			}
		}
	}
}

// body reads a message body: a literal (streamed to w.spool), a quoted
// string, or NIL.
func (w *wireReader) body() error {
	c, err := w.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		v, err := w.value(0)
		if err != nil {
			return err
		}
		if v.isStr && w.spool != nil {
			return w.spool(int64(len(v.str)), strings.NewReader(v.str))
		}
		return nil
	}
	n, err := w.literalSize()
	if err != nil {
		return err
	}
	lr := &io.LimitedReader{R: w.r, N: n}
	if w.spool != nil {
		err = w.spool(n, lr)
	}
	if _, derr := io.Copy(io.Discard, lr); err == nil {
		err = derr
	}
	if err == nil && lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// quote returns s as an IMAP quoted string, or an error if it cannot be
// one (line ends, NUL, 8-bit without UTF8=ACCEPT).
func quote(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n' || c == 0:
			return "", fmt.Errorf("mailimport: %w: line end or NUL in a string", errBadName)
		case c == '"' || c == '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String(), nil
}
