// Package ui holds what every web page of caucus shares: the page layout,
// the stylesheet, and the one small script (WebAuthn ceremonies and
// confirmations). Each domain package brings its own page templates, which
// define "content" and are rendered inside the layout.
package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed layout.html
var layoutFS embed.FS

//go:embed static
var staticFS embed.FS

// Base is what the layout reads. Page data embeds it or has the same
// fields.
type Base struct {
	Title    string
	Error    string // shown in a red box
	Notice   string // shown in a blue box
	CSRF     string // the session's token, for the script and forms
	UserName string // signed-in person's display name; empty when signed out
	IsAdmin  bool
}

// Pages are parsed page templates, by name (file name without ".html").
type Pages struct {
	m map[string]*template.Template
}

// Parse parses every file matching glob in fsys as a page in the layout.
// A file whose name starts with "_" is no page but a partial: the
// templates it defines are available to every page.
func Parse(fsys fs.FS, glob string) (*Pages, error) {
	base, err := template.ParseFS(layoutFS, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: layout: %w", err)
	}
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	pages := names[:0:0]
	for _, n := range names {
		if !strings.HasPrefix(path.Base(n), "_") {
			pages = append(pages, n)
		} else if base, err = base.ParseFS(fsys, n); err != nil {
			return nil, fmt.Errorf("ui: partial %s: %w", n, err)
		}
	}
	p := &Pages{m: map[string]*template.Template{}}
	for _, n := range pages {
		t, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		p.m[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// Render writes the named page with status code. The page is rendered into
// a buffer first, so a template error never sends half a page.
func (p *Pages) Render(w http.ResponseWriter, code int, name string, data any) error {
	t, ok := p.m[name]
	if !ok {
		return fmt.Errorf("ui: no page %q", name)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, err := w.Write(b.Bytes())
	return err
}

// Static serves the shared stylesheet and script; mount it at /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
