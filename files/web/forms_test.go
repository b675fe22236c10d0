package web

import (
	"strings"
	"testing"
	"time"
)

func TestParseLinkForm(t *testing.T) {
	t.Parallel()
	f, err := parseLinkForm(" 7 ", "pw", "3", "drop", 90, true)
	if err != nil || f.Lifetime != 7*24*time.Hour || f.Password != "pw" || f.MaxDownloads != 3 || !f.Drop {
		t.Errorf("parseLinkForm = %+v, %v", f, err)
	}
	for _, tc := range []struct{ days, pw, limit, kind string }{
		{"", "", "", ""},                        // expiry required
		{"0", "", "", ""},                       // at least a day
		{"91", "", "", ""},                      // at most the admin's maximum
		{"1e3", "", "", ""},                     // whole days only
		{"1", strings.Repeat("p", 257), "", ""}, // password bound
		{"1", "", "-1", ""},                     // limit bound
		{"1", "", "1000001", ""},                // limit bound
		{"1", "", "", "drop"},                   // only folders receive (isDir false below)
		{"1", "", "", "upload"},                 // unknown kind
	} {
		if _, err := parseLinkForm(tc.days, tc.pw, tc.limit, tc.kind, 90, false); err == nil {
			t.Errorf("parseLinkForm(%q, %d-byte password, %q, %q) accepted", tc.days, len(tc.pw), tc.limit, tc.kind)
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
	f.Add("7", "pw", "3", "drop", "anna@example.org")
	f.Add("-1", "", "x", "", "group:")
	f.Add("99999999999999999999", "\x00", "+5", "download", "group:\x7f")
	f.Fuzz(func(t *testing.T, days, pw, limit, kind, with string) {
		lf, err := parseLinkForm(days, pw, limit, kind, 90, len(with)%2 == 0)
		if err != nil {
			if _, ok := err.(errForm); !ok || err.Error() == "" {
				t.Fatalf("parseLinkForm error %v is not a sentence for the person", err)
			}
		} else if lf.Lifetime < 24*time.Hour || lf.Lifetime > 90*24*time.Hour || lf.MaxDownloads < 0 || lf.MaxDownloads > maxDownloads || len(lf.Password) > maxLinkPassword {
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
