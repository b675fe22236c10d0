package msgview

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// pendingLink is an <a> whose content is held until its end tag, so that
// its text can be compared with its target before the tag is written.
type pendingLink struct {
	href     string // the target kept, "" when removed
	attrs    string // the other attributes kept, formatted
	stackLen int    // len(stack) when the link started
	text     strings.Builder
	content  strings.Builder
	flushed  bool // content too long: tag written, content streamed
}

// startLink begins an <a>. Its href is kept if it is http, https, mailto
// or a fragment; any other (javascript:, data:, vbscript:, relative URLs,
// which would lead into caucus) is removed and the link made inert.
func (s *sanitizer) startLink(t html.Token) {
	if s.link != nil {
		s.endLink() // an <a> in an <a> ends the first (HTML parsing rules)
	}
	l := &pendingLink{stackLen: len(s.stack)}
	for _, at := range t.Attr {
		if strings.EqualFold(at.Key, "href") && at.Namespace == "" {
			if u, ok := linkTarget(at.Val); ok {
				l.href = u
			} else {
				s.res.Removed++
			}
		}
	}
	l.attrs = s.attrs(t, "href", "title", "target", "rel")
	s.link = l
}

// linkTarget returns the URL a link may keep, ok false if it must go.
func linkTarget(raw string) (string, bool) {
	u := cleanURL(raw)
	switch schemeOf(u) {
	case "http", "https", "mailto":
		return u, true
	case "":
		if strings.HasPrefix(u, "#") {
			return u, true
		}
	}
	return "", false
}

// flushLink writes a link whose content is too long to hold: it is not
// compared, and its content streams from now on.
func (s *sanitizer) flushLink() {
	l := s.link
	if l.flushed {
		return
	}
	l.flushed = true
	s.link = nil
	s.out.WriteString(l.openTag(""))
	s.out.WriteString(l.content.String())
	l.content.Reset()
	s.link = l
}

// endLink closes the elements opened in the link, compares its text with
// its target, and writes it.
func (s *sanitizer) endLink() {
	for len(s.stack) > s.link.stackLen {
		s.pop()
	}
	l := s.link
	s.link = nil
	if l.flushed {
		s.out.WriteString("</a>")
		return
	}
	class := ""
	m, mismatch := compareLink(l.text.String(), l.href)
	if mismatch {
		class = MismatchClass
		if len(s.res.Mismatches) < maxMismatches {
			s.res.Mismatches = append(s.res.Mismatches, m)
		}
	}
	if l.href != "" {
		s.res.Links++
	}
	s.out.WriteString(l.openTag(class))
	s.out.WriteString(l.content.String())
	s.out.WriteString("</a>")
	if mismatch {
		s.out.WriteString(` <span class="` + MismatchClass + `">` + "\u26a0 " + html.EscapeString(m.HrefDomain) + "</span>")
	}
}

// openTag formats the link's start tag. A kept target opens in a new tab
// without window.opener and without a Referer, and shows in the title
// (host in A-labels, so a homograph shows as what it is) and in
// data-caucus-href for the page.
func (l *pendingLink) openTag(class string) string {
	var b strings.Builder
	b.Grow(3*len(l.href) + len(l.attrs) + len(class) + 96)
	b.WriteString("<a")
	if l.href != "" {
		shown := displayURL(l.href)
		writeAttr(&b, "href", l.href)
		if !strings.HasPrefix(l.href, "#") {
			writeAttr(&b, "target", "_blank")
			writeAttr(&b, "rel", "noopener noreferrer")
		}
		writeAttr(&b, "title", shown)
		writeAttr(&b, "data-caucus-href", shown)
	}
	if class != "" {
		writeAttr(&b, "class", class)
	}
	b.WriteString(stripClass(l.attrs, class != ""))
	b.WriteString(">")
	return b.String()
}

// stripClass removes the class attribute of formatted attributes when
// the link gets the mismatch class instead (one class attribute only:
// browsers take the first, and a sender's could hide the mark).
func stripClass(attrs string, strip bool) string {
	if !strip {
		return attrs
	}
	i := strings.Index(attrs, ` class="`)
	if i < 0 {
		return attrs
	}
	j := strings.IndexByte(attrs[i+len(` class="`):], '"')
	return attrs[:i] + attrs[i+len(` class="`)+j+1:]
}

// displayURL returns a URL with its host in A-label (punycode) form.
func displayURL(raw string) string {
	if isASCII(raw) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	host := u.Hostname()
	if isASCII(host) {
		return raw
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil || ascii == host {
		return raw
	}
	u.Host = strings.Replace(u.Host, host, ascii, 1)
	return u.String()
}

// compareLink reports whether a link's visible text shows a domain whose
// registrable part (eTLD+1, the public suffix list) differs from its
// target's.
func compareLink(text, href string) (Mismatch, bool) {
	if schemeOf(href) != "http" && schemeOf(href) != "https" {
		return Mismatch{}, false
	}
	textDomain := domainInText(text)
	if textDomain == "" {
		return Mismatch{}, false
	}
	u, err := url.Parse(href)
	if err != nil {
		return Mismatch{}, false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	hrefDomain := registrable(host)
	if hrefDomain == "" {
		// An address, or a name without a public suffix: shown whole.
		hrefDomain = host
		if a, err := idna.Lookup.ToASCII(host); err == nil {
			hrefDomain = a
		}
	}
	if hrefDomain == "" || textDomain == hrefDomain {
		return Mismatch{}, false
	}
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 200 {
		text = truncateUTF8(text, 200)
	}
	return Mismatch{Text: text, TextDomain: textDomain, Href: href, HrefDomain: hrefDomain}, true
}

// domainInText returns the registrable domain of the first word of text
// that looks like a domain name, URL or address ("www.bank.example",
// "https://bank.example/login", "help@bank.example"), "" if none does.
func domainInText(text string) string {
	if !strings.Contains(text, ".") {
		return "" // no word below can hold one ("Read more")
	}
	text = strings.Map(dropControl, text)
	words := strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`<>()[]{}"'«»“”‘’,;|`, r)
	})
	for _, w := range words {
		if i := strings.Index(w, "://"); i >= 0 {
			w = w[i+3:]
		}
		if i := strings.IndexAny(w, "/?#"); i >= 0 {
			w = w[:i]
		}
		if i := strings.LastIndexByte(w, '@'); i >= 0 {
			w = w[i+1:]
		}
		w = strings.TrimRight(w, ".:!")
		if !strings.Contains(w, ".") {
			continue
		}
		if d := registrable(w); d != "" {
			return d
		}
	}
	return ""
}

// registrable returns the eTLD+1 of a host in lower-case A-labels, "" if
// the host has no ICANN public suffix (not a domain: "file.txt").
func registrable(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil || ascii == "" {
		return ""
	}
	if _, icann := publicsuffix.PublicSuffix(ascii); !icann {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(ascii)
	if err != nil {
		return ""
	}
	return d
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
