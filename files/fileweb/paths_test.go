package fileweb

import (
	"net/url"
	"strings"
	"testing"
)

func TestCleanViewPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Home", "Home", true},
		{"/Home/Plans/", "Home/Plans", true},
		{"Home/a b/ü#?.txt", "Home/a b/ü#?.txt", true},
		{"", "", false},
		{"/", "", false},
		{"Home//x", "", false},
		{"Home/../Groups", "", false},
		{"Home/./x", "", false},
		{"Home/\x00", "", false},
		{strings.Repeat("a", maxFieldBytes+1), "", false},
	} {
		got, ok := cleanViewPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanViewPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCrumbs(t *testing.T) {
	t.Parallel()
	c := crumbs("Home/a b/c#d")
	if len(c) != 3 || c[0].Href != "/files/p/Home" || c[1].Href != "/files/p/Home/a%20b" || c[2].Href != "" || c[2].Name != "c#d" {
		t.Errorf("crumbs = %+v", c)
	}
}

// FuzzViewPath: a path the pages accept escapes into a URL path that
// ServeMux's {path...} wildcard gives back unchanged, and its breadcrumbs
// name its segments in order.
func FuzzViewPath(f *testing.F) {
	for _, s := range []string{"Home", "Home/x.txt", "Groups/press/a b#?%2F", "Shared/anna@x/ü", "/Home//..", "Home/%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, ok := cleanViewPath(in)
		if !ok {
			return
		}
		esc := escapePath(p)
		u, err := url.Parse("https://x/files/p/" + esc)
		if err != nil {
			t.Fatalf("escapePath(%q) = %q: not a URL: %v", p, esc, err)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("escapePath(%q) = %q leaks into query or fragment", p, esc)
		}
		back, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/files/p/"))
		if err != nil || back != p {
			t.Fatalf("escapePath(%q) = %q unescapes to %q, %v", p, esc, back, err)
		}
		var names []string
		for _, c := range crumbs(p) {
			names = append(names, c.Name)
		}
		if strings.Join(names, "/") != p {
			t.Fatalf("crumbs(%q) = %q", p, names)
		}
		if parentPath(p) != "" && parentPath(p)+"/"+baseName(p) != p {
			t.Fatalf("parentPath/baseName(%q) = %q, %q", p, parentPath(p), baseName(p))
		}
	})
}
