package message

import (
	"fmt"
	"io"
	"mime"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// Kind says what an entry of an address list is.
type Kind uint8

// The kinds of entries. A group (RFC 5322 section 3.4) is a GroupStart
// entry holding its name, its mailboxes, and a GroupEnd entry: the shape
// of an IMAP ENVELOPE address list (RFC 9051 section 7.5.2).
const (
	Mailbox    Kind = iota // a mailbox
	GroupStart             // the start of a group; Name is the group's display name
	GroupEnd               // the end of a group
)

// Address is an entry of an address list.
type Address struct {
	Kind Kind
	// Name is the display name (RFC 5322 section 3.4), RFC 2047
	// encoded-words decoded, or the name of a group (GroupStart).
	Name string
	// Route is the obsolete source route of RFC 5322 section 4.4
	// ("@relay.example,@other.example"), "" when there is none; it is the
	// adl of an IMAP address.
	Route string
	// Mailbox is the local part, quotes and quoted-pairs removed.
	Mailbox string
	// Host is the domain as written, or an address literal in brackets.
	Host string
}

// Addr returns the address in the form "local@domain", the local part
// quoted when it is not a dot-atom; "" for a group marker.
func (a Address) Addr() string {
	if a.Kind != Mailbox {
		return ""
	}
	return quoteLocal(a.Mailbox) + "@" + a.Host
}

// Domain returns the host in lower case, "" for an address literal.
func (a Address) Domain() string {
	if strings.HasPrefix(a.Host, "[") {
		return ""
	}
	return strings.ToLower(a.Host)
}

// Mailboxes returns the mailboxes of a list, group markers left out.
func Mailboxes(list []Address) []Address {
	var out []Address
	for _, a := range list {
		if a.Kind == Mailbox {
			out = append(out, a)
		}
	}
	return out
}

// maxEntries bounds the entries of one address list.
const maxEntries = 10000

// ParseAddressList parses an address-list (RFC 5322 section 3.4): mailboxes
// with or without a display name, groups, comments and folding white space
// anywhere, and the obsolete forms of section 4.4 (routes in angle
// brackets, empty list elements, a phrase with dots, white space around
// dots and the "@"). UTF-8 is taken as text (RFC 6532). Display names are
// decoded (RFC 2047), in a quoted string too, as mail clients do. On an
// error it returns the entries read before the fault, and the error wraps
// ErrAddress.
func ParseAddressList(v string) ([]Address, error) {
	p := &parser{s: v}
	var out []Address
	for {
		p.skipCFWS()
		if p.open {
			return out, p.errorf("unterminated comment")
		}
		if p.end() {
			return out, nil
		}
		if p.take(',') { // obs-addr-list: empty elements
			continue
		}
		if len(out) >= maxEntries {
			return out, fmt.Errorf("%w: more than %d entries", ErrAddress, maxEntries)
		}
		var err error
		if out, err = p.address(out); err != nil {
			return out, err
		}
		p.skipCFWS()
		if !p.end() && !p.take(',') {
			return out, p.errorf("expected a comma")
		}
	}
}

// parser reads the value s from position i.
type parser struct {
	s string
	i int
	// comment is the text of the last comment skipCFWS skipped.
	comment string
	// open says a comment ran to the end of the value.
	open bool
}

func (p *parser) end() bool { return p.i >= len(p.s) }

func (p *parser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *parser) take(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrAddress, fmt.Sprintf(format, args...), p.i)
}

// skipCFWS skips folding white space and comments (RFC 5322 section 3.2.2),
// nested comments and quoted-pairs in them included. An unterminated
// comment runs to the end of the value, which the caller then finds.
func (p *parser) skipCFWS() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		case '(':
			depth, start := 0, p.i
			for p.i < len(p.s) {
				c := p.s[p.i]
				p.i++
				switch c {
				case '\\':
					p.i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			p.i = min(p.i, len(p.s))
			p.open = p.open || depth > 0
			p.comment = strings.TrimSuffix(p.s[start+1:p.i], ")")
		default:
			return
		}
	}
}

// isAtext reports whether c may be in an atom (RFC 5322 section 3.2.3;
// bytes of UTF-8 sequences too, RFC 6532 section 3.2).
func isAtext(c byte) bool {
	return c >= 0x80 || c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>[]:;@\,."`, rune(c))
}

// token is a word of a phrase or local part, or a dot.
type token struct {
	text   string
	quoted bool // a quoted-string, text without the quotes
	dot    bool
	space  bool // white space or a comment came before it
}

// atom reads an atom, "" if there is none.
func (p *parser) atom() string {
	start := p.i
	for p.i < len(p.s) && isAtext(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string (p at its opening quote) and returns its
// content, quoted-pairs resolved and folding removed (section 3.2.4).
func (p *parser) quoted() (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf("unterminated quoted string")
}

// words reads a phrase or an obsolete local part: words (atoms and quoted
// strings) and dots, with white space and comments between them.
func (p *parser) words() ([]token, error) {
	var out []token
	for {
		before := p.i
		p.skipCFWS()
		space := p.i > before
		switch {
		case p.peek('"'):
			q, err := p.quoted()
			if err != nil {
				return out, err
			}
			out = append(out, token{text: q, quoted: true, space: space})
		case p.peek('.'):
			p.i++
			out = append(out, token{dot: true, space: space})
		default:
			a := p.atom()
			if a == "" {
				return out, nil
			}
			out = append(out, token{text: a, space: space})
		}
	}
}

// address reads one address (a mailbox or a group) and appends it.
func (p *parser) address(out []Address) ([]Address, error) {
	start := p.i
	ws, err := p.words()
	if err != nil {
		return out, err
	}
	p.skipCFWS()
	switch {
	case p.peek('<'):
		a, err := p.angle()
		if err != nil {
			return out, err
		}
		a.Name = phrase(ws)
		return append(out, a), nil
	case p.peek(':') && len(ws) > 0:
		p.i++
		return p.group(out, phrase(ws))
	case p.peek('@') && len(ws) > 0:
		p.i = start
		a, err := p.addrSpec()
		if err != nil {
			return out, err
		}
		// "leader@example.org (Party Leader)": readers show the
		// comment as the name.
		p.comment = ""
		p.skipCFWS()
		if c := strings.TrimSpace(p.comment); c != "" {
			a.Name = DecodeText(c)
		}
		return append(out, a), nil
	}
	return out, p.errorf("expected an address")
}

// group reads the rest of a group after its colon (RFC 5322 section 3.4:
// group-list and the closing semicolon; obs-group-list allows empty
// elements). Groups do not nest.
func (p *parser) group(out []Address, name string) ([]Address, error) {
	out = append(out, Address{Kind: GroupStart, Name: name})
	for {
		p.skipCFWS()
		switch {
		case p.take(';'):
			return append(out, Address{Kind: GroupEnd}), nil
		case p.end():
			return out, p.errorf("group %q has no closing semicolon", name)
		case p.take(','):
			continue
		}
		if len(out) >= maxEntries {
			return out, fmt.Errorf("%w: more than %d entries", ErrAddress, maxEntries)
		}
		n := len(out)
		var err error
		if out, err = p.address(out); err != nil {
			return out, err
		}
		if out[n].Kind != Mailbox {
			return out, p.errorf("group in a group")
		}
		p.skipCFWS()
		if !p.peek(';') && !p.take(',') {
			return out, p.errorf("expected a comma or semicolon in group")
		}
	}
}

// angle reads an angle-addr (p at "<"), with an obsolete route (RFC 5322
// section 4.4: "<@a.example,@b.example:user@c.example>").
func (p *parser) angle() (Address, error) {
	p.i++
	p.skipCFWS()
	var route []string
	if p.peek('@') || p.peek(',') {
		for {
			p.skipCFWS()
			if p.take(',') {
				continue
			}
			if !p.take('@') {
				break
			}
			d, err := p.domain()
			if err != nil {
				return Address{}, err
			}
			route = append(route, "@"+d)
		}
		if !p.take(':') {
			return Address{}, p.errorf("route without a colon")
		}
		if len(route) == 0 {
			return Address{}, p.errorf("empty route")
		}
	}
	a, err := p.addrSpec()
	if err != nil {
		return Address{}, err
	}
	p.skipCFWS()
	if !p.take('>') {
		return Address{}, p.errorf("expected >")
	}
	a.Route = strings.Join(route, ",")
	return a, nil
}

// addrSpec reads local-part "@" domain (RFC 5322 section 3.4.1, with the
// obsolete local part and domain of section 4.4).
func (p *parser) addrSpec() (Address, error) {
	ws, err := p.words()
	if err != nil {
		return Address{}, err
	}
	local, ok := localPart(ws)
	if !ok {
		return Address{}, p.errorf("invalid local part")
	}
	p.skipCFWS()
	if !p.take('@') {
		return Address{}, p.errorf("expected @")
	}
	d, err := p.domain()
	if err != nil {
		return Address{}, err
	}
	return Address{Kind: Mailbox, Mailbox: local, Host: d}, nil
}

// domain reads a domain: a dot-atom, an obsolete domain (white space
// around the dots), or a domain literal.
func (p *parser) domain() (string, error) {
	p.skipCFWS()
	if p.peek('[') {
		start := p.i
		for p.i++; p.i < len(p.s) && p.s[p.i] != ']'; p.i++ {
			if c := p.s[p.i]; c == '[' || c == '\\' {
				return "", p.errorf("invalid domain literal")
			}
		}
		if !p.take(']') {
			return "", p.errorf("unterminated domain literal")
		}
		return strings.Map(dropWS, p.s[start:p.i]), nil
	}
	var labels []string
	for {
		p.skipCFWS()
		a := p.atom()
		if a == "" {
			return "", p.errorf("invalid domain")
		}
		labels = append(labels, a)
		save := p.i
		p.skipCFWS()
		if !p.take('.') {
			p.i = save
			return strings.Join(labels, "."), nil
		}
	}
}

func dropWS(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}

// localPart joins the words of a local part: word *("." word).
func localPart(ws []token) (string, bool) {
	if len(ws) == 0 || len(ws)%2 == 0 {
		return "", false
	}
	var b strings.Builder
	for i, t := range ws {
		if t.dot != (i%2 == 1) {
			return "", false
		}
		if t.dot {
			b.WriteByte('.')
		} else {
			b.WriteString(t.text)
		}
	}
	return b.String(), true
}

// phrase returns the display name of a phrase: its words separated by one
// space, a dot attached to the word before it (obs-phrase), and RFC 2047
// encoded-words decoded; adjacent encoded-words join without the space
// between them (RFC 2047 section 6.2).
func phrase(ws []token) string {
	var b strings.Builder
	prevEncoded := false
	for i, t := range ws {
		if t.dot {
			if t.space && i > 0 {
				b.WriteByte(' ')
			}
			b.WriteByte('.')
			prevEncoded = false
			continue
		}
		text, encoded := decodeWord(t.text)
		if i > 0 && !(encoded && prevEncoded) && (t.space || ws[i-1].quoted || t.quoted) {
			b.WriteByte(' ')
		}
		b.WriteString(text)
		prevEncoded = encoded
	}
	return b.String()
}

// decodeWord decodes the encoded-words in a word, and says whether it
// was one.
func decodeWord(w string) (string, bool) {
	if !strings.Contains(w, "=?") {
		return w, false
	}
	d, err := WordDecoder().DecodeHeader(w)
	if err != nil || d == w {
		return w, false
	}
	return d, true
}

// DecodeText decodes the RFC 2047 encoded-words of an unstructured field
// value such as Subject, leaving it as it is where it does not decode.
func DecodeText(v string) string {
	d, err := WordDecoder().DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// WordDecoder decodes RFC 2047 encoded-words in any charset the WHATWG
// encoding index knows (golang.org/x/text), not only UTF-8, US-ASCII and
// ISO-8859-1 as mime.WordDecoder does alone.
func WordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(charset)
		if err != nil {
			return nil, err
		}
		return enc.NewDecoder().Reader(input), nil
	}}
}

// quoteLocal returns a local part as a dot-atom, or as a quoted string when
// it is not one (RFC 5322 section 3.4.1).
func quoteLocal(l string) string {
	dotAtom := l != "" && !strings.HasPrefix(l, ".") && !strings.HasSuffix(l, ".") && !strings.Contains(l, "..")
	for i := 0; dotAtom && i < len(l); i++ {
		dotAtom = l[i] == '.' || isAtext(l[i])
	}
	if dotAtom {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if l[i] == '"' || l[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}
