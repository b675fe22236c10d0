package msgview

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"

	"github.com/caucus-org/caucus/mail/message"
)

// maxHeaderText bounds a decoded header text shown (a subject, a name).
const maxHeaderText = 2000

// CleanText makes untrusted text (a display name, a subject, a file name)
// safe to show in a line of a page: bytes that are not UTF-8 are read as
// Windows-1252 (what 8-bit headers most often are); bidirectional
// controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C), zero-width and
// other format characters (Unicode category Cf, soft hyphen included)
// and invisible fillers are removed, so "Invoice\u202Efdp.exe" shows in
// its real order and "Par\u200Bty Leader" as "Party Leader"; control
// characters and runs of white space become one space; the text is
// trimmed and cut to 2000 bytes.
//
// Three kinds of invisible character are kept where they are part of
// how the text is written: the zero width joiner and non-joiner (U+200D,
// U+200C) between two characters beyond ASCII (emoji sequences such as
// "👩\u200D💻", Persian "پیام\u200Cها", Indic conjuncts), and
// variation selectors (U+FE00-U+FE0F, U+E0100-U+E01EF) after a
// character that is not an ASCII letter ("❤\uFE0F", keycaps "1\uFE0F\u20E3",
// ideographic variants). Between ASCII letters none of them changes how
// the text looks, so there they are removed, as before: "Lea\u200Dder"
// stays one spelling of "Leader" (Unicode TR 36 section 2.3; the
// CONTEXTJ rules of RFC 5892 appendix A.1 and A.2 keep the joiners for
// scripts in the same spirit).
func CleanText(s string) string {
	if !utf8.ValidString(s) {
		s = fromLatin(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	var last, joiner rune // the last rune written; a joiner waiting for the next
	for _, r := range s {
		switch {
		case r == utf8.RuneError || invisible(r):
			continue
		case r == zwj || r == zwnj:
			if !space && last >= utf8.RuneSelf {
				joiner = r
			}
			continue
		case isSelector(r):
			if !space && last != 0 && !isASCIILetter(last) {
				if b.Len()+utf8.RuneLen(r) > maxHeaderText {
					return b.String()
				}
				b.WriteRune(r)
				last = r
			}
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			joiner = 0
			continue
		}
		if joiner != 0 && r < utf8.RuneSelf {
			joiner = 0
		}
		// The cut: whole runes, never a space or a joiner last.
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if joiner != 0 {
			n += utf8.RuneLen(joiner)
		}
		if b.Len()+n > maxHeaderText {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if joiner != 0 {
			b.WriteRune(joiner)
			joiner = 0
		}
		b.WriteRune(r)
		last = r
	}
	return b.String()
}

const (
	zwnj = '\u200C' // ZERO WIDTH NON-JOINER
	zwj  = '\u200D' // ZERO WIDTH JOINER
)

// isSelector reports whether r is a variation selector (Unicode section
// 23.4): it picks a glyph for the character before it, such as the emoji
// form of "❤" (U+FE0F).
func isSelector(r rune) bool {
	return r >= 0xFE00 && r <= 0xFE0F || r >= 0xE0100 && r <= 0xE01EF
}

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// invisible reports whether r shows nothing or reorders what follows,
// and is never part of how text is written: format characters (Cf: bidi
// controls, zero-width space, word joiner, BOM, soft hyphen, tag
// characters) but the joiners, the combining grapheme joiner and the
// Hangul and Braille fillers that render as blanks. The joiners and the
// variation selectors are neither: [CleanText] keeps them where they
// join or select.
func invisible(r rune) bool {
	switch {
	case r == zwj || r == zwnj:
		return false
	case unicode.Is(unicode.Cf, r):
		return true
	case r == 0x034F, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, r == 0x2800:
		return true
	}
	return false
}

// fromLatin decodes 8-bit text that is not UTF-8 as Windows-1252.
func fromLatin(s string) string {
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// decodeHeaderText decodes an unstructured field value for display: RFC
// 2047 encoded-words (any charset golang.org/x/text knows), 8-bit bytes
// as UTF-8 or Windows-1252, then CleanText.
func decodeHeaderText(v string) string {
	if !utf8.ValidString(v) {
		v = fromLatin(v)
	}
	d := message.DecodeText(v)
	if d == v && strings.Contains(v, "=?") {
		// An encoded-word in a charset nobody knows: its bytes are
		// shown as UTF-8 if they are, else as Windows-1252, rather
		// than the raw encoded-word.
		if l, err := lenientWords().DecodeHeader(v); err == nil {
			d = l
		}
	}
	return CleanText(d)
}

// nameText is what a page shows of display name name, which
// message.ParseAddressList has decoded from field value raw: decoded
// again only where an encoded-word in a charset nobody knows was left as
// it is (it stands in raw as it is), as decodeHeaderText does. A name
// whose decoded text looks like an encoded-word ("=?utf-8?q?Boss?=",
// sent B-encoded as headertext.Phrase writes it) is shown as it is.
func nameText(raw, name string) string {
	if !utf8.ValidString(name) {
		name = fromLatin(name)
	}
	if strings.Contains(name, "=?") && strings.Contains(raw, name) {
		if l, err := lenientWords().DecodeHeader(name); err == nil {
			name = l
		}
	}
	return CleanText(name)
}

// lenientWords returns a decoder of RFC 2047 encoded-words in any charset
// the WHATWG index knows, and the others as UTF-8 or Windows-1252.
func lenientWords() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: lenientCharset}
}

// lenientCharset is lenientWords' CharsetReader.
func lenientCharset(charset string, input io.Reader) (io.Reader, error) {
	if enc, err := htmlindex.Get(charset); err == nil {
		return enc.NewDecoder().Reader(input), nil
	}
	b, err := io.ReadAll(io.LimitReader(input, maxHeaderText*4))
	if err != nil {
		return nil, err
	}
	if utf8.Valid(b) {
		return bytes.NewReader(b), nil
	}
	return strings.NewReader(fromLatin(string(b))), nil
}

// SanitizeFilename makes an attachment's name safe to offer for saving
// and to show: CleanText, no path (the last element of / or \), no
// characters that file systems or Content-Disposition refuse, no leading
// dots, at most 200 bytes with the extension kept. An empty result is
// "".
func SanitizeFilename(name string) string {
	name = CleanText(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"|?*`, r) {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ". ")
	name = strings.TrimRight(name, ". ")
	if len(name) > 200 {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		name = truncateUTF8(name, 200-len(ext)) + ext
	}
	return name
}

// Preview returns the start of a body's text for a message list or a
// search result: quoted lines ("> ...") left out, white space collapsed,
// invisible characters removed, cut to at most n runes at a word
// boundary when there is one, with "…" when cut.
func Preview(text string, n int) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), ">") {
			continue
		}
		b.WriteString(line)
		b.WriteByte(' ')
		if b.Len() > n*utf8.UTFMax+64 {
			break
		}
	}
	s := CleanText(b.String())
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if cut >= n {
			s = s[:i]
			break
		}
		cut++
	}
	if sp := strings.LastIndexByte(s, ' '); sp > len(s)/2 {
		s = s[:sp]
	}
	return s + "…"
}
