package headertext

import (
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUnstructured(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Budget 2027", "Budget 2027"},
		{"a  b", "a  b"},
		// Typed text that looks like an encoded-word is encoded.
		{"Re: =?utf-8?q?Hi?=", "=?utf-8?b?UmU6ID0/dXRmLTg/cT9IaT89?="},
		{"see the =? mark", "=?utf-8?q?see_the_=3D=3F_mark?="},
		{"Agenda för torsdag", "=?utf-8?q?Agenda_f=C3=B6r_torsdag?="},
		{"Повестка дня", "=?utf-8?b?0J/QvtCy0LXRgdGC0LrQsCDQtNC90Y8=?="},
		{"tab\there", "=?utf-8?q?tab=09here?="},
		{"bad \xff byte", "=?utf-8?b?YmFkIO+/vSBieXRl?="},
		// Long plain text is folded at single spaces.
		{strings.Repeat("word ", 20) + "end", strings.Repeat("word ", 13) + "word\r\n" + strings.Repeat(" word", 6) + " end"},
		// A word too long for a line is encoded, and so folded.
		{strings.Repeat("x", 80), "=?utf-8?q?" + strings.Repeat("x", 55) + "?=\r\n =?utf-8?q?" + strings.Repeat("x", 25) + "?="},
	} {
		if got := Unstructured("Subject", c.in); got != c.want {
			t.Errorf("Unstructured(%q) = %q, want %q", c.in, got, c.want)
		}
		checkUnstructured(t, "Subject", c.in)
	}
}

func TestPhrase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Anna Svensson", "Anna Svensson"},
		{"Svensson, Anna", `"Svensson, Anna"`},
		{`Anna "A" \ B`, `"Anna \"A\" \\ B"`},
		{"=?utf-8?q?Boss?=", "=?utf-8?b?PT91dGYtOD9xP0Jvc3M/PQ==?="},
		{`Zoë "Z" <z@x>, Ann`, "=?utf-8?b?Wm/DqyAiWiIgPHpAeD4sIEFubg==?="},
	} {
		if got := Phrase(c.in); got != c.want {
			t.Errorf("Phrase(%q) = %q, want %q", c.in, got, c.want)
		}
		checkPhrase(t, c.in)
	}
}

func TestMailbox(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, addr, want string }{
		{"", "anna@example.org", "anna@example.org"},
		{"Anna", "anna@example.org", "Anna <anna@example.org>"},
		{"Svensson, Anna", "anna@example.org", `"Svensson, Anna" <anna@example.org>`},
		{"=?utf-8?q?Boss?=", "anna@example.org", "=?utf-8?b?PT91dGYtOD9xP0Jvc3M/PQ==?= <anna@example.org>"},
		// " <addr>" would take the line past 76 (an encoded-word) or
		// 78: folded before the angle bracket.
		{"Zoë Øvergaard-Lindqvist", "zoe.overgaard-lindqvist@example-party.org", "=?utf-8?b?Wm/DqyDDmHZlcmdhYXJkLUxpbmRxdmlzdA==?=\r\n <zoe.overgaard-lindqvist@example-party.org>"},
		{"Anna Svensson", "the.membership.secretary.of.the.party@branch.example-party.org", "Anna Svensson\r\n <the.membership.secretary.of.the.party@branch.example-party.org>"},
		{"Anna Svensson", "secretary.of.the.party@branch.example-party.org", "Anna Svensson <secretary.of.the.party@branch.example-party.org>"},
	} {
		if got := Mailbox(c.name, c.addr); got != c.want {
			t.Errorf("Mailbox(%q, %q) = %q, want %q", c.name, c.addr, got, c.want)
		}
		checkMailbox(t, c.name, c.addr)
	}
}

// FuzzUnstructured: any text comes back as typed through
// mime.WordDecoder, in lines within the limits.
func FuzzUnstructured(f *testing.F) {
	for _, s := range []string{"", "Re: =?utf-8?q?Hi?=", "Agenda för torsdag", "Повестка дня", strings.Repeat("word ", 30), strings.Repeat("é", 100), "a\r\nBcc: x", " lead and trail "} {
		f.Add("Subject", s)
	}
	f.Add("X-A-Very-Long-Field-Name-Of-Some-Extension-Header", strings.Repeat("日本", 20))
	f.Fuzz(func(t *testing.T, field, s string) {
		if len(field) > 60 || !plainName(field) {
			return
		}
		checkUnstructured(t, field, s)
	})
}

// FuzzPhrase: any display name comes back as typed through net/mail's
// address parser, in lines within the limits.
func FuzzPhrase(f *testing.F) {
	for _, s := range []string{"", "Anna", "=?utf-8?q?Boss?=", `Zoë "Z" <z@x>, Ann`, strings.Repeat("Anna ", 20), strings.Repeat("ø", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkPhrase(t, s)
	})
}

// FuzzMailbox: any display name before an address of up to 75
// characters parses back through net/mail, in lines within the limits.
func FuzzMailbox(f *testing.F) {
	for _, c := range [][2]string{
		{"Zoë Øvergaard-Lindqvist", "zoe.overgaard-lindqvist@example-party.org"},
		{"Anna Svensson", "the.membership.secretary.of.the.party@branch.example-party.org"},
		{strings.Repeat("ø", 80), "a@example.org"},
		{strings.Repeat("Anna ", 20), "anna@example.org"},
		{"Svensson, Anna", strings.Repeat("a", 60) + "@example.org"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, name, local string) {
		// An addr-spec of atext and dots, at most 75 characters.
		if local == "" || len(local)+len("@example.org") > 75 || strings.Trim(local, ".") != local || strings.Contains(local, "..") {
			return
		}
		for i := 0; i < len(local); i++ {
			if c := local[i]; c != '.' && !isAtoms(string(c)) {
				return
			}
		}
		checkMailbox(t, name, local+"@example.org")
	})
}

func plainName(field string) bool {
	for i := 0; i < len(field); i++ {
		if field[i] <= ' ' || field[i] > '~' || field[i] == ':' {
			return false
		}
	}
	return field != ""
}

// checkUnstructured checks that field's value for s unfolds and decodes
// to s, with invalid UTF-8 as U+FFFD, and that its lines, the field's
// name on the first, are within RFC 5322's and RFC 2047's limits.
func checkUnstructured(t *testing.T, field, s string) {
	t.Helper()
	v := Unstructured(field, s)
	checkLines(t, field+": ", v)
	got, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(v, "\r\n", ""))
	if want := strings.ToValidUTF8(s, "\uFFFD"); err != nil || got != want {
		t.Errorf("Unstructured(%q, %q) = %q, decodes to %q (%v)", field, s, v, got, err)
	}
}

// checkPhrase checks that the display name for s parses back through
// net/mail to exactly s, with invalid UTF-8 as U+FFFD (white space at the
// ends or doubled inside is kept: such a name is a quoted string or
// encoded-words, never atoms), and that its lines are within the limits.
func checkPhrase(t *testing.T, s string) {
	t.Helper()
	v := Phrase(s)
	checkLines(t, "Resent-From: ", v)
	if v == "" {
		return
	}
	a, err := mail.ParseAddress(strings.ReplaceAll(v, "\r\n", "") + " <a@example.org>")
	if want := strings.ToValidUTF8(s, "\uFFFD"); err != nil || a.Name != want {
		t.Errorf("Phrase(%q) = %q, parses to %+v (%v)", s, v, a, err)
	}
}

// checkMailbox checks that the mailbox for name and addr parses back to
// them (name with invalid UTF-8 as U+FFFD), and that its lines are within
// the limits after the longest field name ("Resent-From: ").
func checkMailbox(t *testing.T, name, addr string) {
	t.Helper()
	v := Mailbox(name, addr)
	checkLines(t, "Resent-From: ", v)
	a, err := mail.ParseAddress(strings.ReplaceAll(v, "\r\n", ""))
	if want := strings.ToValidUTF8(name, "\uFFFD"); err != nil || a.Name != want || a.Address != addr {
		t.Errorf("Mailbox(%q, %q) = %q, parses to %+v (%v)", name, addr, v, a, err)
	}
}

// checkLines checks the lines of a header field, prefix and then v: at
// most 78 characters, or 76 with an encoded-word, but for a first line
// after a field name too long to leave room for one encoded-word; no bare
// CR or LF; no line of only white space.
func checkLines(t *testing.T, prefix, v string) {
	t.Helper()
	if !utf8.ValidString(v) {
		t.Errorf("not UTF-8: %q", v)
	}
	for i, l := range strings.Split(prefix+v, "\r\n") {
		limit := maxLine
		if strings.Contains(l, "=?") {
			limit = maxEncodedLine
		}
		if i == 0 && len(prefix) > maxEncodedLine-wordOverhead-minWord {
			limit = len(prefix) + wordOverhead + minWord
		}
		if len(l) > limit {
			t.Errorf("line %d of %d characters (limit %d): %q", i, len(l), limit, v)
		}
		if strings.ContainsAny(l, "\r\n") || i > 0 && (l == "" || l[0] != ' ' || strings.TrimSpace(l) == "") {
			t.Errorf("line %d badly folded: %q", i, v)
		}
	}
}
