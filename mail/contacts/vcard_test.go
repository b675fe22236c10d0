package contacts_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/contacts"
)

func TestParseLimits(t *testing.T) {
	t.Parallel()
	big := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:x\r\nPHOTO;ENCODING=b;TYPE=JPEG:" + strings.Repeat("A", contacts.MaxCardBytes) + "\r\nEND:VCARD\r\n"
	many := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\n" + strings.Repeat("NOTE:n\r\n", contacts.MaxProperties+1) + "END:VCARD\r\n"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"photo over the cap", big, contacts.ErrTooLarge},
		{"too many properties", many, contacts.ErrTooLarge},
		{"latin-1", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Jos\xe9\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"no uid", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"two uids", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nUID:b\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"no version", "BEGIN:VCARD\r\nUID:a\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"version 2.1", "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:a\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"no end", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\n", contacts.ErrInvalid},
		{"two cards", string(vcf("a", "A")) + string(vcf("b", "B")), contacts.ErrInvalid},
		{"nul in a value", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nNOTE:a\x00b\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"escape in a value", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nNOTE:a\x1bb\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"bad property name", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nNO TE:x\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"quote in a parameter", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nEMAIL;TYPE=\"a\\\"b\":x@y\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"not a vcard", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", contacts.ErrInvalid},
		{"empty", "", contacts.ErrInvalid},
		{"a line that is no property", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nthis line has no colon\r\nEND:VCARD\r\n", contacts.ErrInvalid},
		{"ok", string(vcf("a", "Ada")), nil},
		{"ok folded, LF only, blank line", "BEGIN:VCARD\nVERSION:4.0\nUID:a\nNOTE:long\n  line\n\nEND:VCARD\n", nil},
	}
	for _, tc := range tests {
		_, err := contacts.Parse([]byte(tc.in))
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestUnknownPropertiesKept: properties caucus does not know (X-, an
// iana property of a later RFC, a group) come back as they went in.
func TestUnknownPropertiesKept(t *testing.T) {
	t.Parallel()
	in := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nFN:Ada\r\nX-PARTY-ROLE;X-SINCE=2019:treasurer\r\nitem1.X-ABLABEL:Canvass\r\nSOCIALPROFILE;TYPE=mastodon:https://example.social/@ada\r\nEND:VCARD\r\n"
	c, err := contacts.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out := contacts.Encode(c)
	for _, line := range []string{"X-PARTY-ROLE;X-SINCE=2019:treasurer\r\n", "item1.X-ABLABEL:Canvass\r\n", "SOCIALPROFILE;TYPE=mastodon:https://example.social/@ada\r\n"} {
		if !bytes.Contains(out, []byte(line)) {
			t.Errorf("lost %q in\n%s", line, out)
		}
	}
	// Encoding is stable: the same card gives the same bytes and ETag.
	c2, err := contacts.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contacts.Encode(c2), out) {
		t.Errorf("encoding not stable:\n%s\n%s", out, contacts.Encode(c2))
	}
}

func TestParseAll(t *testing.T) {
	t.Parallel()
	file := append(vcf("a", "A"), vcf("b", "B")...)
	cs, err := contacts.ParseAll(file, 10)
	if err != nil || len(cs) != 2 {
		t.Fatalf("%d cards, %v", len(cs), err)
	}
	if _, err := contacts.ParseAll(file, 1); !errors.Is(err, contacts.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := contacts.ParseAll(append(file, "BEGIN:VCARD\r\nVERSION:2.1\r\nEND:VCARD\r\n"...), 10); !errors.Is(err, contacts.ErrInvalid) {
		t.Errorf("a bad third card: %v", err)
	}
	// A line go-vcard skips, in the second of three cards: the refusal
	// says which card, so that a member can find it in a large export.
	bad := bytes.Replace(vcf("c", "Cleo"), []byte("END:VCARD"), []byte("NOTE;X=\"a:b\r\nEND:VCARD"), 1)
	_, err = contacts.ParseAll(slices.Concat(vcf("a", "A"), bad, vcf("b", "B")), 10)
	if !errors.Is(err, contacts.ErrInvalid) || !strings.Contains(err.Error(), `vCard 2 ("Cleo")`) {
		t.Errorf("a line skipped in the second card: %v, want ErrInvalid naming vCard 2 (\"Cleo\")", err)
	}
}

// TestParseAllRefusals: ParseAll's refusal says which card (its number
// in the file, its name) and what kind of fault, so that a page can say
// it in the member's words; its text stays the English reason.
func TestParseAllRefusals(t *testing.T) {
	t.Parallel()
	cleo := bytes.Replace(vcf("c", "Cleo"), []byte("END:VCARD"), []byte("NOTE;X=\"a:b\r\nEND:VCARD"), 1)
	for _, c := range []struct {
		name string
		data []byte
		max  int
		kind contacts.ImportKind
		card int
		fn   string
	}{
		{"not UTF-8", []byte("BEGIN:VCARD\r\nFN:Jos\xe9\r\nEND:VCARD\r\n"), 10, contacts.NotVCard, 0, ""},
		{"no card at all", []byte("hello\r\n"), 10, contacts.NotVCard, 0, ""},
		{"a line no property", slices.Concat(vcf("a", "A"), cleo), 10, contacts.NotProperties, 2, "Cleo"},
		{"a line after the cards", slices.Concat(vcf("a", "A"), []byte("garbage\r\n")), 10, contacts.NotProperties, 0, ""},
		{"a blank UID", slices.Concat(vcf("a", "A"), vcf(" ", "Bea")), 10, contacts.BadUID, 2, "Bea"},
		{"version 2.1", slices.Concat(vcf("a", "A"), []byte("BEGIN:VCARD\r\nVERSION:2.1\r\nUID:b\r\nFN:Old\r\nEND:VCARD\r\n")), 10, contacts.BadCard, 2, "Old"},
		{"too many", slices.Concat(vcf("a", "A"), vcf("b", "B")), 1, contacts.TooMany, 0, ""},
		{"cut off", slices.Concat(vcf("a", "A"), []byte("BEGIN:VCARD\r\nVERSION:3.0\r\n")), 10, contacts.Unreadable, 2, ""},
	} {
		_, err := contacts.ParseAll(c.data, c.max)
		ie, ok := errors.AsType[*contacts.ImportError](err)
		if !ok || ie.Kind != c.kind || ie.Card != c.card || ie.Name != c.fn || !errors.Is(err, contacts.ErrInvalid) && !errors.Is(err, contacts.ErrTooLarge) {
			t.Errorf("%s: %v (%+v), want kind %d, card %d %q", c.name, err, ie, c.kind, c.card, c.fn)
		}
	}
}
