package mailimport

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/caucus-org/caucus/mail/msgview"
	"github.com/caucus-org/caucus/mail/store"
)

// slashInName replaces a "/" inside one level of a source folder name:
// "/" is caucus's hierarchy delimiter, and a folder "a/b" of a server
// whose delimiter is "." must not become the folder b inside a.
const slashInName = "\u2215" // DIVISION SLASH, which looks the same

// sourcePath converts a source folder name whose hierarchy delimiter is
// delim ("" or "NIL": none) to caucus's form: levels joined by "/",
// a "/" inside a level replaced by [slashInName].
func sourcePath(name, delim string) string {
	if delim == "" || strings.EqualFold(delim, "NIL") || delim == "/" {
		if delim == "/" {
			return name
		}
		return strings.ReplaceAll(name, "/", slashInName)
	}
	levels := strings.Split(name, delim)
	for i, l := range levels {
		levels[i] = strings.ReplaceAll(l, "/", slashInName)
	}
	return strings.Join(levels, "/")
}

// decodeMUTF7 decodes a mailbox name in modified UTF-7 (RFC 3501 section
// 5.1.3): "&" starts base64 (with "," for "/") of UTF-16, "-" ends it,
// "&-" is "&".
func decodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: not modified UTF-7", errBadName)
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", fmt.Errorf("%w: unterminated modified UTF-7", errBadName)
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(enc, ",", "/"))
		if err != nil || len(raw)%2 != 0 {
			return "", fmt.Errorf("%w: bad modified UTF-7", errBadName)
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || r < 0x80 {
				return "", fmt.Errorf("%w: bad modified UTF-7", errBadName)
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// sanitizeText makes a server's text safe for a log or a report: no
// control characters, valid UTF-8, at most 200 bytes.
func sanitizeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}

// cleanName makes a destination folder name valid for the store: the
// name cleaned as [msgview.CleanText] cleans untrusted text for a page
// (bytes that are not UTF-8 read as Windows-1252, control characters
// spaces, format characters removed but for the joiners and variation
// selectors that emoji and several scripts are written with, white space
// one space), in NFC (names differing only in Unicode normalisation are
// one name), each level stripped of what [store.CanonicalName] refuses
// ("*", "%", empty levels, "." and ".."), at most 200 bytes.
func cleanName(name string) string {
	// NFC before the cleaning too: it maps a few characters to ASCII
	// (U+212A KELVIN SIGN to "K"), beside which CleanText would not
	// have kept a joiner or a variation selector.
	name = norm.NFC.String(msgview.CleanText(norm.NFC.String(name)))
	// Cut first: what follows only shortens the name, and a cut after
	// it could leave a level ending in a space. A joiner left last
	// joins nothing.
	if len(name) > 200 {
		name = name[:200]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
		name = strings.TrimRight(name, "\u200C\u200D")
	}
	levels := strings.Split(name, "/")
	out := levels[:0]
	for _, l := range levels {
		l = strings.TrimSpace(strings.Map(func(r rune) rune {
			if r == '*' || r == '%' {
				return '_'
			}
			return r
		}, l))
		switch l {
		case "":
			continue
		case ".", "..":
			l = "_"
		}
		out = append(out, l)
	}
	name = strings.Join(out, "/")
	if name == "" {
		return "Imported"
	}
	if cn, err := store.CanonicalName(name); err == nil {
		return cn
	}
	return "Imported"
}

// namer maps source folder names (and labels) to destination mailbox
// names, the same way for the whole job and across restarts: its
// mappings are stored with the job. Two source names that map to the
// same name but for case ("Work" and "work") get distinct
// destinations, the later one with a suffix. Source names that clean
// ([cleanName]) to the same name are the same folder: names differing
// only in Unicode normalisation, in white space ("Old  Mail", "Old\tMail"
// and "Old Mail ") or in characters the cleaning removes ("Invoices" and
// "Invoices\u200B"; "*" and "%", which become "_").
type namer struct {
	dest   map[string]string // source key → destination
	folded map[string]string // case-folded destination → the destination
}

func newNamer() *namer { return &namer{dest: map[string]string{}, folded: map[string]string{}} }

// add records an existing mapping (from the database).
func (n *namer) add(key, dest string) {
	n.dest[key] = dest
	n.folded[strings.ToLower(dest)] = dest
}

// name returns the destination of source key, whose wanted destination
// is want; created is true the first time (the caller stores it) and
// renamed says whether the destination differs from want.
func (n *namer) name(key, want string) (dest string, created, renamed bool) {
	if d, ok := n.dest[key]; ok {
		return d, false, false
	}
	clean := cleanName(want)
	dest = clean
	for i := 2; ; i++ {
		prev, taken := n.folded[strings.ToLower(dest)]
		if !taken || prev == dest {
			break
		}
		dest = fmt.Sprintf("%s (%d)", clean, i)
	}
	n.add(key, dest)
	return dest, true, dest != want
}
