package webmail

import "github.com/caucus-org/caucus/mail/msgview"

// maxShown bounds a subject or name as a page shows it, in runes.
const maxShown = 300

// cleanText makes a header value from outside fit to show in a page: as
// [msgview.CleanText] cleans untrusted text (no control characters, no
// invisible characters that reorder or hide text, Unicode TR 9 and TR 36
// section 2, but the joiners and variation selectors emoji and scripts
// are written with; white space runs made one space), and at most
// maxShown runes. html/template escapes the rest.
func cleanText(s string) string {
	s = msgview.CleanText(s)
	n := 0
	for i := range s {
		if n++; n > maxShown {
			return s[:i] + "…"
		}
	}
	return s
}
