package msgview

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Limits of HTMLToText.
const (
	// MaxTextInput bounds the HTML HTMLToText reads.
	MaxTextInput = 16 << 20
	// MaxTextOutput bounds the text it writes.
	MaxTextOutput = 4 << 20
)

// HTMLToText writes the text of an HTML body (UTF-8) for previews,
// search snippets and the quoted part of a reply: block elements on
// their own lines, list items after "- ", a link's target after its text
// when they differ ("text <https://...>"), images as their alt text,
// white space collapsed but in <pre>; scripts, styles, the head and
// foreign content left out. It reads at most MaxTextInput bytes and
// writes at most MaxTextOutput; a truncated text ends where the limit
// fell. The error is a read or write error.
func HTMLToText(w io.Writer, r io.Reader) error {
	t := &texter{out: &boundedWriter{w: w, left: MaxTextOutput}, lineStart: true}
	z := html.NewTokenizer(&limitedReader{r: r, n: MaxTextInput})
	z.SetMaxBuf(maxToken)
	for t.out.err == nil {
		tt := z.Next()
		if tt == html.ErrorToken {
			err := z.Err()
			if err == io.EOF || errors.Is(err, html.ErrBufferExceeded) {
				break
			}
			return fmt.Errorf("msgview: reading html: %w", err)
		}
		t.token(z, tt)
	}
	t.newline()
	if errors.Is(t.out.err, errOutputFull) {
		return nil
	}
	return t.out.err
}

// texter is the state of one HTMLToText call.
type texter struct {
	out *boundedWriter
	// skip is the element whose content is left out, skipDepth its
	// nesting.
	skip      string
	skipDepth int
	pre       int  // depth of <pre>
	space     bool // white space is pending
	lineStart bool // nothing written on this line yet
	wantBlank bool // an empty line goes before the next text
	written   bool
	href      string // the open link's target
	linkText  strings.Builder
	inLink    bool
}

// textSkip are the elements whose content is not text for a reader.
var textSkip = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "svg": true,
	"math": true, "template": true, "noscript": true, "iframe": true,
	"object": true, "select": true, "textarea": true, "noframes": true,
	"noembed": true, "xmp": true,
}

// hidden reports whether an element is styled not to be seen
// (display:none, visibility:hidden, or the hidden attribute): the
// "preheader" text of newsletters, or text a sender hides from the
// reader but not from filters.
func hidden(tok html.Token) bool {
	for _, a := range tok.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "style":
			v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(v, "display:none") || strings.Contains(v, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// closedElements need their end tag, so that hidden content ends where
// a browser ends it (a hidden <p> or <li> could end implicitly, and the
// rest of the text with it).
var closedElements = map[atom.Atom]bool{
	atom.Div: true, atom.Span: true, atom.Table: true, atom.Font: true,
	atom.Center: true, atom.Section: true, atom.Article: true, atom.Aside: true,
	atom.Header: true, atom.Footer: true, atom.B: true, atom.I: true, atom.Strong: true,
}

// blockElements start and end a line.
var blockElements = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Table: true, atom.Tr: true,
	atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Blockquote: true,
	atom.Pre: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Hr: true,
	atom.Section: true, atom.Article: true, atom.Header: true,
	atom.Footer: true, atom.Address: true, atom.Dl: true, atom.Dt: true,
	atom.Dd: true, atom.Figure: true, atom.Center: true, atom.Form: true,
	atom.Main: true, atom.Nav: true, atom.Aside: true, atom.Details: true,
	atom.Summary: true, atom.Caption: true,
}

func (t *texter) token(z *html.Tokenizer, tt html.TokenType) {
	switch tt {
	case html.TextToken:
		if t.skip == "" {
			t.text(string(z.Text()))
		}
	case html.StartTagToken, html.SelfClosingTagToken:
		tok := z.Token()
		if t.skip != "" {
			if tok.Data == t.skip && tt == html.StartTagToken {
				t.skipDepth++
			}
			return
		}
		if tt == html.StartTagToken && (textSkip[tok.Data] || hidden(tok) && closedElements[tok.DataAtom]) {
			t.skip, t.skipDepth = tok.Data, 1
			return
		}
		t.start(tok)
	case html.EndTagToken:
		tok := z.Token()
		if t.skip != "" {
			if tok.Data == t.skip {
				if t.skipDepth--; t.skipDepth == 0 {
					t.skip = ""
				}
			}
			return
		}
		t.end(tok)
	}
}

// start handles a start tag.
func (t *texter) start(tok html.Token) {
	switch a := tok.DataAtom; {
	case a == atom.Br:
		t.newline()
	case a == atom.Li:
		t.newline()
		t.write("- ")
	case a == atom.Td || a == atom.Th:
		t.space = !t.lineStart
	case a == atom.Img:
		for _, at := range tok.Attr {
			if at.Key == "alt" && strings.TrimSpace(at.Val) != "" {
				t.text(at.Val)
			}
		}
	case a == atom.A:
		t.end(html.Token{DataAtom: atom.A})
		for _, at := range tok.Attr {
			if at.Key == "href" {
				if u, ok := linkTarget(at.Val); ok && !strings.HasPrefix(u, "#") {
					t.href = u
				}
			}
		}
		t.inLink = true
		t.linkText.Reset()
	case blockElements[a]:
		t.paragraph(a)
		if a == atom.Pre {
			t.pre++
		}
		if a == atom.Hr {
			t.write("----")
			t.newline()
		}
	}
}

// end handles an end tag.
func (t *texter) end(tok html.Token) {
	switch a := tok.DataAtom; {
	case a == atom.A:
		if t.inLink && t.href != "" {
			txt := strings.TrimSpace(t.linkText.String())
			if txt != t.href && txt != strings.TrimPrefix(t.href, "mailto:") {
				t.text(" <" + t.href + ">")
			}
		}
		t.inLink, t.href = false, ""
	case blockElements[a]:
		if a == atom.Pre && t.pre > 0 {
			t.pre--
		}
		t.paragraph(a)
	}
}

// paragraph ends the line, with an empty line after paragraphs and
// headings.
func (t *texter) paragraph(a atom.Atom) {
	t.newline()
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Pre, atom.Table:
		t.wantBlank = t.written

	}
}

// text writes text, white space collapsed outside <pre>.
func (t *texter) text(s string) {
	if t.inLink && t.linkText.Len() < maxLinkText {
		t.linkText.WriteString(s)
	}
	if t.pre > 0 {
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				t.newline()
			}
			t.write(strings.Map(dropControl, line))
		}
		return
	}
	for i, word := range strings.Fields(s) {
		if i > 0 || startsWithSpace(s) {
			t.space = true
		}
		t.write(strings.Map(dropControl, word))
	}
	if len(s) > 0 && endsWithSpace(s) {
		t.space = true
	}
}

func startsWithSpace(s string) bool { return strings.TrimLeft(s, " \t\r\n\f") != s }
func endsWithSpace(s string) bool   { return strings.TrimRight(s, " \t\r\n\f") != s }

// dropControl removes control characters and the characters [invisible]
// reports; the joiners and variation selectors stay, as part of how
// running text is written.
func dropControl(r rune) rune {
	if r < ' ' && r != '\t' || r == 0x7f || invisible(r) {
		return -1
	}
	return r
}

// write writes a word, with a pending space before it.
func (t *texter) write(s string) {
	if s == "" {
		return
	}
	if t.space && !t.lineStart {
		t.out.WriteString(" ")
	}
	t.space = false
	if t.wantBlank {
		t.out.WriteString("\n")
		t.wantBlank = false
	}
	t.out.WriteString(s)
	t.lineStart, t.written = false, true
}

// newline ends the current line, if anything is on it.
func (t *texter) newline() {
	t.space = false
	if !t.lineStart && t.written {
		t.out.WriteString("\n")
		t.lineStart = true
	}
}
