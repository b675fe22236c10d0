package webmail

import (
	"strings"
	"unicode"
)

// maxShown bounds a subject or name as a page shows it, in runes.
const maxShown = 300

// cleanText makes a header value from outside fit to show in a page:
// valid UTF-8, no control characters, no invisible characters that
// reorder or hide text (bidirectional overrides and isolates, zero-width
// characters; Unicode TR 9 and TR 36 section 2), white space runs made
// one space, and at most maxShown runes. html/template escapes the rest.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n, space := 0, false
	for _, r := range s {
		switch {
		case invisible(r):
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if n++; n > maxShown {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// invisible reports whether r is a format character that changes how the
// text around it is shown without being seen: bidirectional controls
// (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), zero-width
// characters (U+200B–U+200D, U+2060, U+FEFF), and other Cf characters.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r)
}
