package msgview

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Limits of SanitizeHTML when SanitizeOptions leaves them zero.
const (
	// DefaultMaxHTMLInput bounds the HTML read: the rest is dropped and
	// Result.Truncated set.
	DefaultMaxHTMLInput = 16 << 20
	// DefaultMaxHTMLOutput bounds the HTML written.
	DefaultMaxHTMLOutput = 16 << 20
	// DefaultMaxDepth bounds the nesting of kept elements; deeper
	// elements lose their tags and keep their text.
	DefaultMaxDepth = 128
	// maxToken bounds one token (a tag with its attributes, a run of
	// text): the tokenizer stops with html.ErrBufferExceeded beyond it.
	maxToken = 1 << 20
	// maxLinkText bounds the text kept to compare a link's text with
	// its target.
	maxLinkText = 1024
	// maxMismatches bounds Result.Mismatches.
	maxMismatches = 100
	// maxDataImage bounds a data: image URL kept in an img src.
	maxDataImage = 1 << 20
)

// SanitizeOptions configures SanitizeHTML.
type SanitizeOptions struct {
	// CID maps the Content-ID of a cid: image (RFC 2392, without the
	// "cid:" and angle brackets) to the URL that serves that part, ok
	// false if the message has no such part. Nil drops cid: images.
	// View.SanitizeBody fills it from the message's parts.
	CID func(contentID string) (url string, ok bool)
	// RemoteImage, when the member asked to load remote images for this
	// message, maps a remote image URL (http or https) to the caucus
	// proxy URL that fetches it (see the package doc). Nil blocks remote
	// images, counting them in Result.RemoteBlocked.
	RemoteImage func(remote string) string
	// MaxInput, MaxOutput and MaxDepth bound the work; zero means the
	// Default constants.
	MaxInput, MaxOutput int64
	MaxDepth            int
}

// Result is what SanitizeHTML found and did.
type Result struct {
	// RemoteBlocked counts the references to remote content removed:
	// images, backgrounds, srcsets, style sheets, CSS url()s.
	RemoteBlocked int
	// RemoteImages counts the remote images rewritten by
	// SanitizeOptions.RemoteImage.
	RemoteImages int
	// Removed counts elements and attributes removed as unsafe or
	// unknown (scripts, event handlers, forms, frames, javascript: URLs).
	Removed int
	// Links counts the links kept.
	Links int
	// Mismatches are the links whose text shows a domain other than the
	// one they lead to; each such link is marked in the output too.
	Mismatches []Mismatch
	// Truncated says the input was cut at a limit (size, token size or
	// output size): the output holds what came before, well formed.
	Truncated bool
}

// Mismatch is a link whose visible text names one domain and whose target
// is in another: "https://bank.example" that leads to evil.example.
type Mismatch struct {
	Text       string // the visible text (cut to 200 bytes)
	TextDomain string // the registrable domain the text shows
	Href       string // the real target
	HrefDomain string // its registrable domain
}

// MismatchClass is the class SanitizeHTML gives a link whose text and
// target disagree, and the warning after it; the frame's style sheet may
// style it. The real target is in the link's title and in
// data-caucus-href.
const MismatchClass = "caucus-link-mismatch"

// errOutputFull stops the sanitizer when the output bound is reached.
var errOutputFull = errors.New("msgview: output limit reached")

// SanitizeHTML reads HTML from r (UTF-8) and writes to w a fragment that
// is inert in a sandboxed frame: allowed elements and attributes only
// (see allowedElements and allowedAttrs), links that open in a new tab
// without opener or referrer, images only from cid: parts, data: URLs or
// the remote image proxy, CSS without fetches. It reads at most
// MaxInput bytes and writes at most about MaxOutput, never holding more
// than one token and one link's text in memory: an HTML bomb gives a
// truncated result, not a hang. The error is a read or write error;
// limits are reported in Result.Truncated.
func SanitizeHTML(w io.Writer, r io.Reader, opt SanitizeOptions) (Result, error) {
	s := newSanitizer(w, opt)
	lr := &limitedReader{r: r, n: s.maxInput}
	z := html.NewTokenizer(lr)
	z.SetMaxBuf(maxToken)
	err := s.run(z)
	if lr.hit {
		s.res.Truncated = true
	}
	s.closeAll()
	if err == nil {
		err = s.out.err
	}
	if errors.Is(err, errOutputFull) {
		s.res.Truncated, err = true, nil
	}
	return s.res, err
}

// limitedReader is io.LimitReader that remembers whether the limit cut
// anything.
type limitedReader struct {
	r   io.Reader
	n   int64
	hit bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.hit = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// sanitizer is the state of one SanitizeHTML call.
type sanitizer struct {
	opt      SanitizeOptions
	maxInput int64
	maxDepth int
	out      *boundedWriter
	res      Result
	// stack holds the kept elements that are open.
	stack []atom.Atom
	// skip is the element whose content is being dropped (script,
	// svg...), 0 when none; skipDepth counts nested tags of that name.
	skip      string
	skipDepth int
	// link is the open <a>, whose content is buffered until it ends.
	link *pendingLink
	// attrBuf holds the attributes of the start tag being handled.
	attrBuf []html.Attribute
}

func newSanitizer(w io.Writer, opt SanitizeOptions) *sanitizer {
	s := &sanitizer{opt: opt, maxInput: opt.MaxInput, maxDepth: opt.MaxDepth}
	if s.maxInput <= 0 {
		s.maxInput = DefaultMaxHTMLInput
	}
	if s.maxDepth <= 0 {
		s.maxDepth = DefaultMaxDepth
	}
	max := opt.MaxOutput
	if max <= 0 {
		max = DefaultMaxHTMLOutput
	}
	s.out = &boundedWriter{w: w, left: max}
	return s
}

// boundedWriter writes to w until left bytes are written, then fails
// with errOutputFull; it keeps the first error.
type boundedWriter struct {
	w    io.Writer
	left int64
	err  error
}

func (b *boundedWriter) WriteString(s string) {
	if b.take(len(s)) {
		b.note(io.WriteString(b.w, s))
	}
}

// take reserves n bytes of the bound: false when an earlier write failed,
// or, failing with errOutputFull, when they do not fit.
func (b *boundedWriter) take(n int) bool {
	if b.err != nil {
		return false
	}
	if int64(n) > b.left {
		b.err = errOutputFull
		return false
	}
	b.left -= int64(n)
	return true
}

// note keeps a write's error.
func (b *boundedWriter) note(_ int, err error) {
	if err != nil {
		b.err = fmt.Errorf("msgview: writing: %w", err)
	}
}

// writeBytes is WriteString on bytes, without copying them to a string.
func (b *boundedWriter) writeBytes(p []byte) {
	if b.take(len(p)) {
		b.note(b.w.Write(p))
	}
}

// write sends s to the open link's buffer, if any, else to the output.
func (s *sanitizer) write(str string) {
	if s.buffering() {
		s.link.content.WriteString(str)
		s.linkGrew()
		return
	}
	s.out.WriteString(str)
}

// writeBytes is write on bytes, without copying them to a string.
func (s *sanitizer) writeBytes(p []byte) {
	if s.buffering() {
		s.link.content.Write(p)
		s.linkGrew()
		return
	}
	s.out.writeBytes(p)
}

// buffering reports whether output goes to the open link's buffer.
func (s *sanitizer) buffering() bool { return s.link != nil && !s.link.flushed }

// linkGrew streams the open link once its buffer is too long to hold.
func (s *sanitizer) linkGrew() {
	if s.link.content.Len() > maxToken {
		s.flushLink()
	}
}

// run reads tokens until the end of the input or a limit.
func (s *sanitizer) run(z *html.Tokenizer) error {
	for s.out.err == nil {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			err := z.Err()
			switch {
			case err == io.EOF:
				return nil
			case errors.Is(err, html.ErrBufferExceeded):
				s.res.Truncated = true
				return nil
			}
			return fmt.Errorf("msgview: reading html: %w", err)
		case html.TextToken:
			s.text(z)
		case html.StartTagToken, html.SelfClosingTagToken:
			if s.skip != "" {
				// Only the name counts in dropped content.
				s.startTag(nameToken(z, tt), tt == html.SelfClosingTagToken)
				break
			}
			s.startTag(s.tagToken(z, tt), tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			s.endTag(nameToken(z, tt))
		}
		// Comments and doctypes are dropped: conditional comments
		// hold markup for old Outlook, which nobody else sees.
	}
	return nil
}

// text handles a text token: dropped inside a skipped element, style
// sheets sanitized inside <style>, else escaped.
func (s *sanitizer) text(z *html.Tokenizer) {
	if s.skip != "" {
		return
	}
	raw := z.Text()
	if len(s.stack) > 0 && s.stack[len(s.stack)-1] == atom.Style {
		css, blocked := sanitizeStylesheet(string(raw))
		s.res.RemoteBlocked += blocked
		s.write(css)
		return
	}
	if bytes.IndexByte(raw, 0xe2) >= 0 && bytes.ContainsAny(raw, "\u202d\u202e") {
		raw = []byte(stripOverrides(string(raw)))
	}
	if s.link != nil && s.link.text.Len() < maxLinkText {
		s.link.text.Write(raw)
	}
	s.writeEscaped(raw)
}

// writeEscaped writes text with the five characters html.EscapeString
// escapes escaped, without copying the text first.
func (s *sanitizer) writeEscaped(b []byte) {
	last := 0
	for i, c := range b {
		var esc string
		switch c {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		s.writeBytes(b[last:i])
		s.write(esc)
		last = i + 1
	}
	s.writeBytes(b[last:])
}

// tagToken is Tokenizer.Token for a start tag, with fewer copies: the
// name read by nameToken, the attributes in a slice the sanitizer reuses
// from tag to tag (no Token outlives the startTag call it is made for).
func (s *sanitizer) tagToken(z *html.Tokenizer, tt html.TokenType) html.Token {
	t := nameToken(z, tt)
	attrs := s.attrBuf[:0]
	for {
		// Keys are never empty: the tokenizer keeps no attribute
		// without a name.
		k, v, more := z.TagAttr()
		if k == nil {
			break
		}
		attrs = append(attrs, html.Attribute{Key: atom.String(k), Val: string(v)})
		if !more {
			break
		}
	}
	s.attrBuf = attrs
	t.Attr = attrs
	return t
}

// nameToken returns a tag's name as a Token, without the attribute work of
// Tokenizer.Token.
func nameToken(z *html.Tokenizer, tt html.TokenType) html.Token {
	var buf [maxFastName]byte
	name, ok := rawTagName(z.Raw(), buf[:])
	if !ok {
		name, _ = z.TagName()
	}
	if a := atom.Lookup(name); a != 0 {
		return html.Token{Type: tt, DataAtom: a, Data: a.String()}
	}
	return html.Token{Type: tt, Data: string(name)}
}

// maxFastName bounds the tag names rawTagName reads.
const maxFastName = 32

// rawTagName reads a tag's name from its raw text ("<name ...>" or
// "</name ...>") into buf, lower-cased, as the tokenizer's TagName gives
// it (HTML Living Standard 13.2.5.8, tag name state: the name ends at
// white space, "/" or ">"), without TagName's copy of the name. ok is
// false, for TagName to answer instead, when the name holds a NUL (which
// the tokenizer replaces), a byte that is not ASCII, or is longer than
// buf.
func rawTagName(raw, buf []byte) (name []byte, ok bool) {
	i := 1
	if len(raw) > 1 && raw[1] == '/' {
		i = 2
	}
	n := 0
	for ; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '/' || c == '>':
			return buf[:n], n > 0
		case c == 0 || c >= 0x80 || n == len(buf):
			return nil, false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return buf[:n], n > 0
}

// startTag handles a start tag.
func (s *sanitizer) startTag(t html.Token, selfClosing bool) {
	if s.skip != "" {
		if t.Data == s.skip && !selfClosing {
			s.skipDepth++
		}
		return
	}
	a := t.DataAtom
	switch {
	case dropWithContent[t.Data]:
		s.res.Removed++
		s.res.RemoteBlocked += remoteAttrsOf(t)
		if !selfClosing && !voidElements[a] {
			s.skip, s.skipDepth = t.Data, 1
		}
		return
	case a == atom.Style:
		// Only where the style sheet can be read as text: not inside a
		// link, whose text is compared.
		if s.link != nil || len(s.stack) >= s.maxDepth {
			s.skip, s.skipDepth = t.Data, 1
			return
		}
		s.write("<style>")
		s.stack = append(s.stack, a)
		return
	case a == atom.A:
		s.startLink(t)
		return
	}
	if !allowedElements[a] || a == 0 {
		s.res.RemoteBlocked += remoteAttrsOf(t)
		if !ignoredElements[a] {
			s.res.Removed++
		}
		return
	}
	if a == atom.Img {
		s.image(t)
		return
	}
	void := voidElements[a]
	if !void && len(s.stack) >= s.maxDepth {
		return // too deep: the text stays, the tag goes
	}
	s.write("<")
	s.write(a.String())
	s.write(s.attrs(t))
	s.write(">")
	if !void {
		s.stack = append(s.stack, a)
	}
}

// endTag closes the innermost open element of the tag's name and those
// inside it; an end tag without a matching open element is dropped.
func (s *sanitizer) endTag(t html.Token) {
	if s.skip != "" {
		if t.Data == s.skip {
			s.skipDepth--
			if s.skipDepth == 0 {
				s.skip = ""
			}
		}
		return
	}
	if t.DataAtom == atom.A {
		if s.link != nil {
			s.endLink()
		}
		return
	}
	for i := len(s.stack) - 1; i >= 0; i-- {
		if s.stack[i] == t.DataAtom && t.DataAtom != 0 {
			if s.link != nil && i < s.link.stackLen {
				s.endLink() // the element holds the open link: it ends too
			}
			for len(s.stack) > i {
				s.pop()
			}
			return
		}
	}
}

// pop closes the innermost open element.
func (s *sanitizer) pop() {
	a := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	s.write("</")
	s.write(a.String())
	s.write(">")
}

// closeAll ends an open link and every open element, so the output is
// well formed however the input ended.
func (s *sanitizer) closeAll() {
	if s.link != nil {
		s.endLink()
	}
	for len(s.stack) > 0 {
		s.pop()
	}
}

// attrs returns the kept attributes of an allowed element, formatted
// with a leading space each.
func (s *sanitizer) attrs(t html.Token, except ...string) string {
	var b strings.Builder
	for _, at := range t.Attr {
		if slices.Contains(except, strings.ToLower(at.Key)) {
			continue
		}
		if at.Namespace != "" {
			s.res.Removed++
			continue
		}
		key := strings.ToLower(at.Key)
		switch {
		case key == "style":
			css, blocked := sanitizeDeclarations(at.Val)
			s.res.RemoteBlocked += blocked
			if css != "" {
				writeAttr(&b, "style", css)
			}
		case isRemoteAttr(key):
			if strings.TrimSpace(at.Val) != "" {
				s.res.RemoteBlocked++
			}
		case key == "class":
			if c := senderClasses(at.Val); c != "" {
				writeAttr(&b, key, c)
			}
		case allowedAttrs[key]:
			writeAttr(&b, key, stripOverrides(at.Val))
		default:
			s.res.Removed++
		}
	}
	return b.String()
}

// writeAttr writes ` key="escaped value"`.
func writeAttr(b *strings.Builder, key, val string) {
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteString(`="`)
	b.WriteString(html.EscapeString(val))
	b.WriteByte('"')
}

// isRemoteAttr reports whether an attribute holds a URL that the browser
// would fetch without a click.
func isRemoteAttr(key string) bool {
	switch key {
	case "src", "srcset", "background", "poster", "lowsrc", "dynsrc", "longdesc", "data", "imagesrcset":
		return true
	}
	return false
}

// remoteAttrsOf counts the fetched URLs of a removed element (an <img> in
// an unknown element is still a tracking pixel the member did not see).
func remoteAttrsOf(t html.Token) int {
	n := 0
	for _, at := range t.Attr {
		if isRemoteAttr(strings.ToLower(at.Key)) && isRemoteURL(at.Val) {
			n++
		}
	}
	if t.DataAtom == atom.Link {
		for _, at := range t.Attr {
			if strings.EqualFold(at.Key, "href") && isRemoteURL(at.Val) {
				n++
			}
		}
	}
	return n
}

// image writes an <img> whose source is a cid: part, a data: image or a
// proxied remote image; an img without one goes, its alt text stays.
func (s *sanitizer) image(t html.Token) {
	var src, alt string
	for _, at := range t.Attr {
		switch strings.ToLower(at.Key) {
		case "src":
			src = at.Val
		case "alt":
			alt = at.Val
		}
	}
	url, ok := s.imageURL(src)
	if !ok {
		for _, at := range t.Attr {
			if k := strings.ToLower(at.Key); k != "src" && isRemoteAttr(k) && strings.TrimSpace(at.Val) != "" {
				s.res.RemoteBlocked++
			}
		}
		if alt != "" {
			s.write(html.EscapeString(alt))
		}
		return
	}
	attrs := s.attrs(t, "src")
	s.write(`<img src="` + html.EscapeString(url) + `"` + attrs + ">")
}

// imageURL maps an img src to the URL to write, ok false to drop it.
func (s *sanitizer) imageURL(src string) (string, bool) {
	u := cleanURL(src)
	scheme := schemeOf(u)
	switch {
	case scheme == "cid":
		if s.opt.CID == nil {
			return "", false
		}
		id := strings.Trim(unescapeURL(u[len("cid:"):]), "<>")
		return s.opt.CID(id)
	case scheme == "data":
		if isDataImage(u) && len(u) <= maxDataImage {
			return u, true
		}
		s.res.Removed++
		return "", false
	case scheme == "http" || scheme == "https" || strings.HasPrefix(u, "//"):
		if s.opt.RemoteImage != nil {
			if strings.HasPrefix(u, "//") {
				u = "https:" + u
			}
			s.res.RemoteImages++
			return s.opt.RemoteImage(u), true
		}
		s.res.RemoteBlocked++
		return "", false
	case u == "":
		return "", false
	}
	s.res.Removed++
	return "", false
}

// isDataImage reports whether a data: URL (RFC 2397) holds a raster image
// type browsers cannot run script in (not image/svg+xml).
func isDataImage(u string) bool {
	meta, _, ok := strings.Cut(u[len("data:"):], ",")
	if !ok {
		return false
	}
	typ, _, _ := strings.Cut(strings.ToLower(meta), ";")
	switch strings.TrimSpace(typ) {
	case "image/png", "image/gif", "image/jpeg", "image/jpg", "image/webp", "image/bmp":
		return true
	}
	return false
}

// trimHTMLSpace trims what browsers trim from a URL attribute.
func trimHTMLSpace(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// cleanURL returns a URL attribute value as a browser reads it: C0
// controls and spaces around it trimmed, tabs and newlines inside it
// removed (WHATWG URL standard, basic URL parser), so "java\tscript:" is
// seen as the javascript: URL it is.
func cleanURL(s string) string {
	s = trimHTMLSpace(s)
	if strings.ContainsAny(s, "\t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// schemeOf returns the lower-cased scheme of a cleaned URL, "" if it has
// none (a relative URL).
func schemeOf(u string) string {
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			return strings.ToLower(u[:i])
		default:
			return ""
		}
	}
	return ""
}

// isRemoteURL reports whether a URL would be fetched from the network.
func isRemoteURL(u string) bool {
	u = cleanURL(u)
	sc := schemeOf(u)
	return sc == "http" || sc == "https" || sc == "ftp" || strings.HasPrefix(u, "//")
}

// unescapeURL undoes %XX escapes, leaving bad ones as they are.
func unescapeURL(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// stripOverrides removes the bidirectional override characters (U+202D
// LEFT-TO-RIGHT OVERRIDE, U+202E RIGHT-TO-LEFT OVERRIDE), which show the
// characters after them in reverse: "\u202Emoc.knab.www" reads as
// "www.bank.com". Embeddings and isolates, which do not reverse Latin
// text, stay for right-to-left languages.
func stripOverrides(s string) string {
	if !strings.ContainsAny(s, "\u202d\u202e") {
		return s
	}
	return strings.NewReplacer("\u202d", "", "\u202e", "").Replace(s)
}

// senderClasses returns a class attribute without the classes that
// start with "caucus", which are the sanitizer's marks.
func senderClasses(v string) string {
	var keep []string
	for _, c := range strings.Fields(v) {
		if !strings.HasPrefix(strings.ToLower(c), "caucus") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, " ")
}
