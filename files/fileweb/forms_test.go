package fileweb

import (
	"strings"
	"testing"
	"time"
)

func TestParseLinkForm(t *testing.T) {
	t.Parallel()
	f, err := parseLinkForm(" 7 ", "pw", "3", "drop", " 20 ", 90, 1000, true)
	if err != nil || f.Lifetime != 7*24*time.Hour || f.Password != "pw" || f.MaxDownloads != 3 || !f.Drop || f.DropBytes != 20e6 {
		t.Errorf("parseLinkForm = %+v, %v", f, err)
	}
	for _, tc := range []struct {
		days, pw, limit, kind, dropMB string
		dir                           bool
	}{
		{"", "", "", "", "", false},                        // expiry required
		{"0", "", "", "", "", false},                       // at least a day
		{"91", "", "", "", "", false},                      // at most the admin's maximum
		{"1e3", "", "", "", "", false},                     // whole days only
		{"1", strings.Repeat("p", 257), "", "", "", false}, // password bound
		{"1", "", "-1", "", "", false},                     // limit bound
		{"1", "", "1000001", "", "", false},                // limit bound
		{"1", "", "", "drop", "", false},                   // only folders receive
		{"1", "", "", "upload", "", false},                 // unknown kind
		{"1", "", "", "drop", "0", true},                   // a drop takes at least 1 MB
		{"1", "", "", "drop", "1001", true},                // at most the store's drop limit
		{"1", "", "", "drop", "1.5", true},                 // whole MB
	} {
		if _, err := parseLinkForm(tc.days, tc.pw, tc.limit, tc.kind, tc.dropMB, 90, 1000, tc.dir); err == nil {
			t.Errorf("parseLinkForm(%+v) accepted", tc)
		}
	}
}

func TestParseShareTarget(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]shareTarget{
		" anna@example.org ": {Login: "anna@example.org"},
		"group: press":       {Group: "press"},
	} {
		if got, err := parseShareTarget(in); err != nil || got != want {
			t.Errorf("parseShareTarget(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "group:", "anna", "a@b\nc", strings.Repeat("a", 321) + "@x"} {
		if _, err := parseShareTarget(in); err == nil {
			t.Errorf("parseShareTarget(%q) accepted", in)
		}
	}
}

// FuzzForms: whatever the fields, the parsers either refuse with a
// sentence for the person or return values within their bounds.
func FuzzForms(f *testing.F) {
	f.Add("7", "pw", "3", "drop", "5", "anna@example.org")
	f.Add("-1", "", "x", "", "", "group:")
	f.Add("99999999999999999999", "\x00", "+5", "download", "99999999999999999999", "group:\x7f")
	f.Fuzz(func(t *testing.T, days, pw, limit, kind, dropMB, with string) {
		lf, err := parseLinkForm(days, pw, limit, kind, dropMB, 90, 1000, len(with)%2 == 0)
		if err != nil {
			if _, ok := err.(errForm); !ok || err.Error() == "" {
				t.Fatalf("parseLinkForm error %v is not a sentence for the person", err)
			}
		} else if lf.Lifetime < 24*time.Hour || lf.Lifetime > 90*24*time.Hour || lf.MaxDownloads < 0 || lf.MaxDownloads > maxDownloads || len(lf.Password) > maxLinkPassword ||
			lf.DropBytes < 0 || lf.DropBytes > 1000*1000*1000 || (lf.DropBytes != 0 && !lf.Drop) {
			t.Fatalf("parseLinkForm(%q, %q, %q, %q) = %+v: out of bounds", days, pw, limit, kind, lf)
		}
		st, err := parseShareTarget(with)
		if err == nil && (st.Login == "") == (st.Group == "") {
			t.Fatalf("parseShareTarget(%q) = %+v: not exactly one of login and group", with, st)
		}
		if err == nil && strings.ContainsFunc(st.Login+st.Group, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("parseShareTarget(%q) = %+v: control characters", with, st)
		}
	})
}
