// Package headertext writes text a person typed (a subject, a display
// name) into a message header (RFC 5322) so that a reader's client shows
// exactly what was typed.
//
// Text that is printable ASCII goes as it is, folded at spaces. Anything
// else is written as RFC 2047 encoded-words in UTF-8, and so is ASCII text
// that holds "=?": left as it is, a client would read it as an
// encoded-word and show something other than what was typed (RFC 2047
// section 5 (1): a decoder decodes any encoded-word it finds in an
// unstructured field). mime.WordEncoder leaves such text as it is, and
// writes encoded-words on one line however long the text.
//
// Lines are kept within the RFC 5322 section 2.1.1 limit of 78 characters
// and, where they hold an encoded-word, the RFC 2047 section 2 limit of
// 76; encoded-words are at most 75 characters and folded apart with CRLF
// SPACE. The exceptions are a field name too long to leave room for one
// short encoded-word after it (Unstructured) and an address of more than
// 75 characters, which is never split (NameAddr). Folding is only ever at
// a single space between two words, or before an address's "<", which
// unfolds to the same text whether a reader removes the CRLF (RFC 5322
// section 2.2.3) or, as net/textproto does, joins the lines with one
// space.
package headertext

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

const (
	maxLine        = 78 // RFC 5322 section 2.1.1
	maxEncodedLine = 76 // RFC 2047 section 2, a line holding an encoded-word
	maxWord        = 75 // RFC 2047 section 2, one encoded-word
	wordOverhead   = len("=?utf-8?q?") + len("?=")
	// minWord is the encoded text the first encoded-word holds at least
	// after a long field name: room for one rune of four bytes in Q.
	minWord = 12

	// phraseStart is where Phrase assumes it starts on its line: after
	// the longest field name of an address that caucus writes,
	// "Resent-From: ", or after the space that folds a list.
	phraseStart = len("Resent-From: ")
)

// Unstructured returns s as the value of the unstructured header field
// named field (RFC 5322 section 3.2.5 "unstructured"; a Subject, for
// one), to be written after "field: ". Only the length of field is used:
// the first line holds it.
//
// Invalid UTF-8 in s becomes U+FFFD. Control characters are encoded, so
// the value never starts a new field; the caller may still turn line
// breaks into spaces first, which is what a person typing one line meant.
// Readers drop leading and trailing white space of a field's value.
func Unstructured(field, s string) string {
	if s == "" {
		return ""
	}
	s = validUTF8(s)
	used := len(field) + len(": ")
	if plain(s) {
		if v, ok := fold(used, s); ok {
			return v
		}
	}
	return encode(used, s, useQ(s))
}

// Phrase returns s as the display name of an address (RFC 5322 section
// 3.4, "display-name" = phrase), to be written before " <addr>": atoms
// as they are, folded at single spaces; other printable ASCII as a quoted
// string if that takes at most 65 characters (what a line holds after
// "Resent-From: "); and anything else (a longer quoted string, or ASCII
// holding "=?", which some clients decode even in a quoted string) as "B"
// encoded-words, since the "Q" encoding leaves characters a phrase may
// not hold, such as '"', ',' and '<' (RFC 2047 section 5 (3)). Invalid
// UTF-8 in s becomes U+FFFD.
//
// The lines are within the limits when the phrase starts a line after a
// field name of up to 11 characters ("Resent-From") or a folding space;
// the " <addr>" after it is the caller's to fold, as [NameAddr] does.
func Phrase(s string) string {
	if s == "" {
		return ""
	}
	s = validUTF8(s)
	if plain(s) {
		if isAtoms(s) {
			if v, ok := fold(phraseStart, s); ok {
				return v
			}
		} else if q := quote(s); phraseStart+len(q) <= maxLine {
			return q
		}
	}
	return encode(phraseStart, s, false)
}

// Mailbox returns a mailbox for an address field (RFC 5322 section 3.4):
// addr alone when name is empty, else [NameAddr]. addr is written as it
// is: it must be an addr-spec.
func Mailbox(name, addr string) string {
	if name == "" {
		return addr
	}
	return NameAddr(name, addr)
}

// NameAddr returns name as [Phrase] writes it and then addr in angle
// brackets, or "<addr>" alone when name is empty: a name-addr (RFC 5322
// section 3.4) or the value of a List-Id field (RFC 2919 section 3). addr
// is written as it is. When " <addr>" would take the phrase's last line
// past its limit (78 characters, 76 if the line holds an encoded-word),
// the line is folded before the angle bracket, so that "<addr>" starts a
// line of its own; only an addr of more than 75 characters then makes a
// line too long.
func NameAddr(name, addr string) string {
	if name == "" {
		return "<" + addr + ">"
	}
	p := Phrase(name)
	last, line := p, phraseStart+len(p)
	if i := strings.LastIndex(p, "\r\n"); i >= 0 {
		last = p[i+len("\r\n"):]
		line = len(last)
	}
	limit := maxLine
	if strings.Contains(last, "=?") {
		limit = maxEncodedLine
	}
	if line+len(" <")+len(addr)+len(">") > limit {
		return p + "\r\n <" + addr + ">"
	}
	return p + " <" + addr + ">"
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// plain reports whether s may be written as it is: printable ASCII and
// space, and nothing a reader would take for an encoded-word.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return !strings.Contains(s, "=?")
}

// isAtoms reports whether s is atoms separated by single spaces (RFC
// 5322 section 3.2.3), a phrase that needs no quotes.
func isAtoms(s string) bool {
	for w := range strings.SplitSeq(s, " ") {
		if w == "" {
			return false
		}
		for i := 0; i < len(w); i++ {
			c := w[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// quote returns s as a quoted string (RFC 5322 section 3.2.4).
func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// fold folds plain text s, whose first line already holds used
// characters, into lines of at most maxLine. It folds only before a
// space that has a word on each side; ok is false when some word is too
// long to fit.
func fold(used int, s string) (v string, ok bool) {
	if used+len(s) <= maxLine {
		return s, true
	}
	var b strings.Builder
	line := used // the length of the line being written
	for s != "" {
		// The longest run that fits, ending before a foldable space.
		cut := -1
		for i := 1; i < len(s)-1 && line+i <= maxLine; i++ {
			if s[i] == ' ' && s[i-1] != ' ' && s[i+1] != ' ' {
				cut = i
			}
		}
		if line+len(s) <= maxLine {
			cut = len(s)
		}
		if cut <= 0 {
			return "", false
		}
		b.WriteString(s[:cut])
		s = s[cut:]
		if s != "" {
			b.WriteString("\r\n")
			line = 0
		}
	}
	return b.String(), true
}

// useQ reports whether the "Q" encoding of s is no longer than the "B":
// Q keeps mostly-ASCII text readable, B is shorter for other scripts.
func useQ(s string) bool {
	q := 0
	for i := 0; i < len(s); i++ {
		q += qLen(s[i])
	}
	return q <= (len(s)+2)/3*4
}

// qLen is the length of byte c in the "Q" encoding of an unstructured
// field (RFC 2047 section 4.2): printable ASCII but "=", "?" and "_" as
// it is, a space as "_", anything else as "=XX".
func qLen(c byte) int {
	if c == ' ' || c > ' ' && c <= '~' && c != '=' && c != '?' && c != '_' {
		return 1
	}
	return 3
}

// encode writes s as UTF-8 encoded-words (RFC 2047), in Q if q, else B,
// each holding whole runes, the first one on a line that already holds
// used characters, the others each on a line of its own after a space.
func encode(used int, s string, q bool) string {
	var b strings.Builder
	b.Grow(len(s)*3 + (len(s)/maxWord+1)*(wordOverhead+len("\r\n ")))
	var raw [maxWord]byte // one word's encoded text
	room := min(maxWord, maxEncodedLine-used) - wordOverhead
	for s != "" {
		room = max(room, minWord)
		n := chunk(s, room, q)
		if b.Len() > 0 {
			b.WriteString("\r\n ")
		}
		if q {
			b.WriteString("=?utf-8?q?")
			writeQ(&b, s[:n])
		} else {
			b.WriteString("=?utf-8?b?")
			b.Write(base64.StdEncoding.AppendEncode(raw[:0], []byte(s[:n])))
		}
		b.WriteString("?=")
		s = s[n:]
		room = min(maxWord, maxEncodedLine-len(" ")) - wordOverhead
	}
	return b.String()
}

// chunk returns how many bytes of s, in whole runes, encode in at most
// room characters; at least one rune.
func chunk(s string, room int, q bool) int {
	n, size := 0, 0
	for n < len(s) {
		_, w := utf8.DecodeRuneInString(s[n:])
		next := 0
		if q {
			for i := n; i < n+w; i++ {
				next += qLen(s[i])
			}
			next += size
		} else {
			next = (n + w + 2) / 3 * 4
		}
		if next > room && n > 0 {
			break
		}
		n, size = n+w, next
	}
	return n
}

func writeQ(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b.WriteByte('_')
		case qLen(c) == 1:
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		}
	}
}
