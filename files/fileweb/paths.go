package fileweb

import (
	"net/url"
	"strings"
)

// A view path is what the signed-in person sees, as the store names it:
// "Home/Plans/budget.ods", "Groups/press/…", "Shared/…". The pages carry
// it in the URL after a route's prefix, each segment percent-escaped; the
// store alone decides whether it names anything the person may reach.

// cleanViewPath trims the slashes around p and reports whether it is
// acceptable as a view path at all: valid, within maxFieldBytes, and
// without empty, "." or ".." segments. The store applies the real name
// rules; this only keeps nonsense out of links and logs.
func cleanViewPath(p string) (string, bool) {
	p = strings.Trim(p, "/")
	if p == "" || len(p) > maxFieldBytes {
		return "", false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			return "", false
		}
	}
	return p, true
}

// escapePath percent-escapes each segment of a view path for use in a URL
// path, keeping the slashes between them.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// crumb is one step of the breadcrumbs above a folder.
type crumb struct {
	Name string
	Href string // "" for the current one
}

// crumbs returns the breadcrumbs of view path p: one per segment, each a
// link to its folder but the last.
func crumbs(p string) []crumb {
	segs := strings.Split(p, "/")
	out := make([]crumb, len(segs))
	for i, s := range segs {
		out[i] = crumb{Name: s}
		if i < len(segs)-1 {
			out[i].Href = "/files/p/" + escapePath(strings.Join(segs[:i+1], "/"))
		}
	}
	return out
}

// parentPath returns the folder containing view path p ("" for a top-level
// one).
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// baseName returns the last segment of view path p.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
