package fileweb

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"plan.pdf", `attachment; filename="plan.pdf"`},
		{"Kandidatenliste Köln.xlsx", `attachment; filename="Kandidatenliste K_ln.xlsx"; filename*=UTF-8''Kandidatenliste%20K%C3%B6ln.xlsx`},
		{`a"b.txt`, `attachment; filename="a_b.txt"; filename*=UTF-8''a%22b.txt`},
		{"50%.txt", `attachment; filename="50_.txt"; filename*=UTF-8''50%25.txt`},
		{"../../etc/passwd", `attachment; filename=".._.._etc_passwd"`},
		{"line\r\nX-Evil: 1", `attachment; filename="line__X-Evil: 1"`},
		{"", `attachment; filename="download"`},
		{"..", `attachment; filename="download"`},
	} {
		if got := ContentDisposition(tc.name); got != tc.want {
			t.Errorf("ContentDisposition(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// FuzzContentDisposition: whatever the name, the header value is one line
// of visible ASCII that a standard parser reads back as an attachment whose
// name has no path separator, and a clean UTF-8 name survives exactly.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.txt", "Köln ü.pdf", `q"uote\`, "%41", "日本語.doc", "x\x00y", "\xff\xfe", "", " . "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v := ContentDisposition(name)
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x7f {
				t.Fatalf("ContentDisposition(%q) = %q: byte %#x is not visible ASCII", name, v, v[i])
			}
		}
		typ, params, err := mime.ParseMediaType(v)
		if err != nil || typ != "attachment" {
			t.Fatalf("ContentDisposition(%q) = %q: parses as %q, %v", name, v, typ, err)
		}
		got := params["filename"] // mime prefers filename* when present
		if got == "" || strings.ContainsAny(got, "/\\") {
			t.Fatalf("ContentDisposition(%q) = %q: file name %q", name, v, got)
		}
		clean := utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' || r == '\\' })
		if clean && strings.Trim(name, ". ") != "" && got != name {
			t.Fatalf("ContentDisposition(%q) = %q: reads back as %q", name, v, got)
		}
	})
}
