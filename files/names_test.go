package files

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzSplitPath checks that every path either is refused or splits into
// names that are valid, NFC, and never ".", ".." or anything with a slash.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/", "/Home/a/b", "cOn", "lpT1", "ſı", "/Home/../etc", "//Home//x/", "/Home/./x", "/Home/CON", "/Home/a\x00b", "/Home/e\u0301", "/Home/" + strings.Repeat("x", 300), "\\..\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if isASCII(p) && !norm.NFC.IsNormalString(p) { // what validName's ASCII path relies on
			t.Fatalf("ASCII %q is not in NFC", p)
		}
		if reserved(p) != reservedNames[strings.ToUpper(p)] {
			t.Fatalf("reserved(%q) = %v, strings.ToUpper says otherwise", p, reserved(p))
		}
		names, err := splitPath(p)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") || len(n) > MaxNameBytes || !utf8.ValidString(n) || !norm.NFC.IsNormalString(n) {
				t.Fatalf("splitPath(%q) gave name %q", p, n)
			}
			if again, err := validName(n); err != nil || again != n {
				t.Fatalf("name %q from %q does not validate again: %q %v", n, p, again, err)
			}
		}
	})
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "Budget 2026.ods", "Ünïcödé", "con.txt.bak.", "👩‍👩‍👧", ".hidden", "CONSOLE", strings.Repeat("x", MaxNameBytes)} {
		_, err := validName(ok)
		if (err == nil) != !strings.HasSuffix(ok, ".") {
			t.Errorf("validName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, "a:b", "a*", "a?", `a"`, "a<", "a>", "a|", "x\x01", "CON", "con", "cOm7", "Aux.txt", "LPT9.log", "nul ", "prn . x", "x.", "x ", "a\u202eb", strings.Repeat("x", MaxNameBytes+1), "\xff"} {
		if _, err := validName(bad); err == nil {
			t.Errorf("validName(%q) accepted", bad)
		}
	}
}
