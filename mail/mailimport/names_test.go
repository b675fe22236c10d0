package mailimport

import (
	"strings"
	"testing"
)

// TestCleanName: a folder's name from an import is what the store takes,
// cleaned as msgview.CleanText cleans untrusted text for a page: a tab a
// space, not nothing; bytes that are not UTF-8 read as Windows-1252, not
// dropped; a bidi override or zero-width space removed, not kept; a
// joiner or variation selector kept where it joins or selects.
func TestCleanName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Archive/2024", "Archive/2024"},
		{"Old\tMail", "Old Mail"},
		{"Caf\xe9", "Café"},
		{"Invoices\u202Efdp.exe", "Invoicesfdp.exe"},
		{"Par\u200Bty  news", "Party news"},
		{" a / * / .. //b% ", "a/_/_/b_"},
		{"e\u0301t\u00e9", "\u00e9t\u00e9"},
		// Joiners and selectors that emoji and scripts are written
		// with are kept (a Gmail label, Persian "messages").
		{"👩\u200D💻 Work", "👩\u200D💻 Work"},
		{"❤\uFE0F Family", "❤\uFE0F Family"},
		{"پیام\u200Cها", "پیام\u200Cها"},
		{"Ar\u200Dchive", "Archive"},
		{"\u212A\u200D\u00e9", "K\u00e9"},
		{strings.Repeat("a", 197) + "é\u200Dé", strings.Repeat("a", 197) + "é"},
	} {
		if got := cleanName(c.in); got != c.want {
			t.Errorf("cleanName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzCleanName: whatever a source names a folder, its destination is
// empty or a name the store takes, and cleaning it again changes nothing.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"Archive/2024", "Caf\xe9", "Invoices\u202Efdp.exe", " a / * / .. //b% ", "e\u0301t\u00e9", "👩\u200D💻/\u200D❤\uFE0F", "\u212A\u200D\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanName(s)
		if c == "" {
			return
		}
		if _, err := storeCanonical(c); err != nil {
			t.Fatalf("cleanName(%q) = %q: %v", s, c, err)
		}
		if again := cleanName(c); again != c {
			t.Fatalf("cleanName(%q) = %q, then %q", s, c, again)
		}
	})
}
