package msgview

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"strings"
	"unicode/utf8"

	htmlcharset "golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// pickBody chooses the part to show (RFC 2046 section 5.1.4: in a
// multipart/alternative the last form the reader can show is the best)
// and lists the other parts as attachments.
func (v *View) pickBody() {
	if len(v.Parts) == 0 {
		v.notice(NoticeNoBody)
		return
	}
	root := v.root
	v.Body = pick(root, v.opt.PreferText)
	if v.Body == nil {
		v.notice(NoticeNoBody)
	}
	skip := map[*Part]bool{}
	if v.Body != nil {
		skip = alternativesOf(root, v.Body)
	}
	for _, p := range v.Parts {
		if p.IsMultipart() && p.opened || skip[p] {
			continue
		}
		v.Attachments = append(v.Attachments, p)
	}
	markRelated(root)
}

// pick returns the body of a part: itself if it is a text part that is
// not an attachment; for a multipart/alternative the last child that has
// one (text/html before text/plain unless preferText); for a
// multipart/related its root, the first part (RFC 2387 section 3.2); for
// other multiparts the first child that has one.
func pick(p *Part, preferText bool) *Part {
	switch {
	case p.IsText():
		if p.Disposition == "attachment" {
			return nil
		}
		return p
	case !p.IsMultipart() || !p.opened:
		return nil
	case p.Type == "multipart/alternative":
		var best *Part
		for i := len(p.Children) - 1; i >= 0; i-- {
			b := pick(p.Children[i], preferText)
			if b == nil {
				continue
			}
			if (b.Type == "text/plain") == preferText {
				return b
			}
			if best == nil {
				best = b
			}
		}
		return best
	case p.Type == "multipart/related":
		if len(p.Children) > 0 {
			return pick(p.Children[0], preferText)
		}
		return nil
	}
	for _, c := range p.Children {
		if b := pick(c, preferText); b != nil {
			return b
		}
	}
	return nil
}

// alternativesOf returns the body and the other text forms of it: the
// text parts of the multipart/alternative it belongs to.
func alternativesOf(root, body *Part) map[*Part]bool {
	out := map[*Part]bool{body: true}
	var visit func(p *Part, alt *Part)
	visit = func(p *Part, alt *Part) {
		if p.Type == "multipart/alternative" {
			alt = p
		}
		for _, c := range p.Children {
			visit(c, alt)
		}
		if p == body && alt != nil {
			for _, c := range alt.Children {
				if c.IsText() && c.Disposition != "attachment" {
					out[c] = true
				}
			}
		}
	}
	visit(root, nil)
	return out
}

// markRelated marks the parts of a multipart/related that carry a
// Content-ID as inline: images the HTML body shows by cid: URL.
func markRelated(p *Part) {
	for _, c := range p.Children {
		if p.Type == "multipart/related" && c.ContentID != "" {
			c.Inline = true
		}
		markRelated(c)
	}
}

// charsetDecoder returns the decoder for a text part's charset: any name
// the WHATWG encoding index knows (golang.org/x/text), UTF-8 with invalid
// bytes replaced when there is none, and ok false for an unknown one.
func charsetDecoder(charset string) (enc encoding.Encoding, ok bool) {
	switch charset {
	case "", "us-ascii", "utf-8", "utf8":
		return unicode.UTF8, true
	}
	e, err := htmlindex.Get(charset)
	if err != nil {
		return nil, false
	}
	return e, true
}

// WriteText writes the decoded text of a text part, converted to UTF-8,
// to w. An unknown charset is read as UTF-8 when the first 4 kB are UTF-8,
// else as Windows-1252, and reported by unknownCharset.
func (v *View) WriteText(w io.Writer, id string) (unknownCharset bool, err error) {
	p := v.PartByID(id)
	if p == nil {
		return false, fmt.Errorf("%w: %q", ErrNoPart, id)
	}
	if !p.IsText() {
		return false, fmt.Errorf("%w: %s", ErrNotText, p.Type)
	}
	err = v.findPart(id, func(p *Part, body io.Reader) error {
		var r io.Reader
		r, unknownCharset = textReader(body, p)
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("msgview: part %s: %w", id, err)
		}
		return nil
	})
	return unknownCharset, err
}

// textReader converts a text body to UTF-8. A text/html part without a
// charset parameter is read in the charset its <meta> names, if any
// (golang.org/x/net/html/charset, the HTML standard's prescan), else as
// UTF-8. An unknown charset is read as UTF-8 when the first 4 kB are
// UTF-8, else as Windows-1252, and reported by unknown.
func textReader(body io.Reader, p *Part) (r io.Reader, unknown bool) {
	cs := p.Charset
	if cs == "" && p.Type == "text/html" {
		sniff := make([]byte, 1024)
		n, _ := io.ReadFull(body, sniff)
		body = io.MultiReader(bytes.NewReader(sniff[:n]), body)
		// The prescan's default is windows-1252: UTF-8 text (or
		// ASCII) stays UTF-8.
		if _, name, _ := htmlcharset.DetermineEncoding(sniff[:n], "text/html"); name != "windows-1252" || !validPrefix(sniff[:n]) {
			cs = name
		}
	}
	if p.flowed {
		defer func() { r = &flowedReader{r: bufio.NewReaderSize(r, 64<<10), delSp: p.delSp} }()
	}
	enc, ok := charsetDecoder(cs)
	if ok {
		return transform.NewReader(body, enc.NewDecoder()), false
	}
	sniff := make([]byte, 4096)
	n, _ := io.ReadFull(body, sniff)
	sniff = sniff[:n]
	whole := io.MultiReader(bytes.NewReader(sniff), body)
	if validPrefix(sniff) {
		return transform.NewReader(whole, unicode.UTF8.NewDecoder()), true
	}
	return transform.NewReader(whole, charmap.Windows1252.NewDecoder()), true
}

// validPrefix reports whether b is UTF-8, but for a character cut at its
// end.
func validPrefix(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		b = b[n:]
	}
	return true
}

// SanitizeBody writes the body for the sandboxed frame: the sanitized
// HTML of a text/html body, or a text/plain body escaped in a <pre>
// (links left as text), each inside a complete UTF-8 document.
// opt.CID is filled, when nil, from cidURL, a pattern in which "{part}"
// is replaced by the id of the part with that Content-ID (e.g.
// "https://mail.example.org/webmail/m/42/part/{part}"); an empty
// pattern drops cid: images. With no body it writes an empty document.
func (v *View) SanitizeBody(w io.Writer, cidURL string, opt SanitizeOptions) (Result, error) {
	if opt.CID == nil && cidURL != "" {
		opt.CID = v.cidMapper(cidURL)
	}
	bw := &boundedWriter{w: w, left: 1 << 62}
	bw.WriteString(docStart)
	if bw.err != nil {
		return Result{}, bw.err
	}
	var res Result
	if v.Body != nil {
		var err error
		res, err = v.writeBody(w, opt)
		if err != nil {
			return res, err
		}
	}
	bw.WriteString(docEnd)
	return res, bw.err
}

// docStart and docEnd frame a body: UTF-8, no referrer for anything the
// frame opens, the mark of a mismatched link in red, and the font of the
// pages (a message that sets none would show in the browser's serif).
const (
	docStart = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">" +
		"<meta name=\"referrer\" content=\"no-referrer\">" +
		"<style>." + MismatchClass + "{color:#b00020;font-weight:bold}" +
		"body{margin:8px;overflow-wrap:anywhere;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif}pre.caucus-text{white-space:pre-wrap;font-family:inherit}</style>" +
		"</head><body>\n"
	docEnd = "\n</body></html>\n"
)

// writeBody writes the body's sanitized content.
func (v *View) writeBody(w io.Writer, opt SanitizeOptions) (Result, error) {
	var res Result
	err := v.findPart(v.Body.ID, func(p *Part, body io.Reader) error {
		r, _ := textReader(body, p)
		if p.Type == "text/html" {
			var err error
			res, err = SanitizeHTML(w, r, opt)
			return err
		}
		var err error
		res, err = writePlain(w, r, opt)
		return err
	})
	return res, err
}

// writePlain writes plain text escaped in a <pre>, within the output
// bound of opt, its http and https URLs made links as SanitizeHTML makes
// them (new tab, no opener or referrer, target in the title). A line
// longer than the reader's buffer is written without links.
func writePlain(w io.Writer, r io.Reader, opt SanitizeOptions) (Result, error) {
	max := opt.MaxOutput
	if max <= 0 {
		max = DefaultMaxHTMLOutput
	}
	bw := &boundedWriter{w: w, left: max}
	bw.WriteString(`<pre class="caucus-text">`)
	br := bufio.NewReaderSize(r, 64<<10)
	var res Result
	for bw.err == nil {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Escaping touches ASCII bytes only, so a piece may end
			// inside a character.
			bw.WriteString(html.EscapeString(string(line)))
			continue
		}
		res.Links += linkify(bw, string(line))
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("msgview: reading text: %w", err)
		}
	}
	if bw.err == errOutputFull {
		res.Truncated, bw.err = true, nil
		bw.left = 1 << 10
	}
	bw.WriteString("</pre>")
	return res, bw.err
}

// linkify writes a line of text escaped, with its URLs as links, and
// returns how many it made.
func linkify(bw *boundedWriter, line string) int {
	n := 0
	for {
		i := indexURL(line)
		if i < 0 {
			bw.WriteString(html.EscapeString(line))
			return n
		}
		end := i
		for end < len(line) && line[end] > ' ' && !strings.ContainsRune("<>\"'`", rune(line[end])) {
			end++
		}
		u := strings.TrimRight(line[i:end], ".,;:!?)]}")
		end = i + len(u)
		bw.WriteString(html.EscapeString(line[:i]))
		if href, ok := linkTarget(u); ok && len(u) > len("https://") {
			l := &pendingLink{href: href}
			bw.WriteString(l.openTag("") + html.EscapeString(u) + "</a>")
			n++
		} else {
			bw.WriteString(html.EscapeString(u))
		}
		line = line[end:]
	}
}

// indexURL returns the index of the first "http://" or "https://" in s
// (any case), -1 if none.
func indexURL(s string) int {
	low := strings.ToLower(s)
	i := strings.Index(low, "http://")
	if j := strings.Index(low, "https://"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	return i
}

// InlineImages maps the Content-IDs (RFC 2392, without angle brackets)
// of the message's parts that a cid: URL may show to those parts: PNG,
// JPEG, GIF and WebP images (IsInlineImage), the first part of each
// Content-ID. Those, and only those, are what a page should serve for
// the body's cid: images.
func (v *View) InlineImages() map[string]*Part {
	ids := map[string]*Part{}
	for _, p := range v.Parts {
		if p.ContentID != "" && p.IsInlineImage() {
			if _, dup := ids[p.ContentID]; !dup {
				ids[p.ContentID] = p
			}
		}
	}
	return ids
}

// cidMapper maps the Content-IDs of the message's inline images
// (InlineImages) to URLs made from pattern.
func (v *View) cidMapper(pattern string) func(string) (string, bool) {
	ids := v.InlineImages()
	return func(cid string) (string, bool) {
		p, ok := ids[cid]
		if !ok {
			return "", false
		}
		return strings.ReplaceAll(pattern, "{part}", p.ID), true
	}
}

// BodyText writes the body as plain UTF-8 text: a text/plain body as it
// is, a text/html body through HTMLToText. It is what a reply quotes, a
// preview shows and search snippets are cut from. With no body it
// writes nothing.
func (v *View) BodyText(w io.Writer) error {
	if v.Body == nil {
		return nil
	}
	return v.findPart(v.Body.ID, func(p *Part, body io.Reader) error {
		r, _ := textReader(body, p)
		if p.Type == "text/html" {
			return HTMLToText(w, r)
		}
		bw := &boundedWriter{w: w, left: MaxTextOutput}
		buf := make([]byte, 32<<10)
		for bw.err == nil {
			n, err := r.Read(buf)
			bw.WriteString(strings.Map(dropControlKeepNewline, string(buf[:n])))
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("msgview: reading text: %w", err)
			}
		}
		if bw.err == errOutputFull {
			return nil
		}
		return bw.err
	})
}

// dropControlKeepNewline is dropControl that keeps line ends.
func dropControlKeepNewline(r rune) rune {
	if r == '\n' {
		return r
	}
	return dropControl(r)
}
