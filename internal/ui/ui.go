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
	"sync"

	"github.com/caucus-org/caucus/internal/i18n"
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
	// L writes the page in the reader's language; nil: the party's
	// default language.
	L *i18n.Localizer
}

// Localizer returns b.L; [Pages.Render] reads the language of any page
// data that has this method.
func (b Base) Localizer() *i18n.Localizer { return b.L }

// localized is page data that names its language.
type localized interface{ Localizer() *i18n.Localizer }

// Pages are parsed page templates, by name (file name without ".html").
// Each page is parsed once; a copy bound to each language's template
// functions (T, date, …, see [i18n.Localizer.Funcs]) is made on first use.
type Pages struct {
	m     map[string]*template.Template
	party Party

	mu     sync.Mutex
	byLang map[langPage]*template.Template
}

// langPage names a page bound to a language and time zone.
type langPage struct {
	page, lang, zone string
}

// Parse parses every file matching glob in fsys as a page in the layout.
// A file whose name starts with "_" is no page but a partial: the
// templates it defines are available to every page.
func Parse(fsys fs.FS, glob string) (*Pages, error) {
	base, err := template.New("layout.html").Funcs(i18n.PlaceholderFuncs()).Funcs(partyFuncs(Party{})).Funcs(deviceFuncs(nil)).ParseFS(layoutFS, "layout.html")
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
	p := &Pages{m: map[string]*template.Template{}, byLang: map[langPage]*template.Template{}, party: Party{}.withDefaults()}
	for _, n := range pages {
		t, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		p.m[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// SetParty sets the party's name, look and default language for every
// page. Call it before the first Render.
func (p *Pages) SetParty(party Party) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.party = party.withDefaults()
	clear(p.byLang)
}

// Party returns what SetParty set.
func (p *Pages) Party() Party {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.party
}

// Render writes the named page with status code, in the language of
// data's localizer (see [Base.Localizer]), else the party's default. The
// page is rendered into a buffer first, so a template error never sends
// half a page.
func (p *Pages) Render(w http.ResponseWriter, code int, name string, data any) error {
	var l *i18n.Localizer
	if d, ok := data.(localized); ok {
		l = d.Localizer()
	}
	t, l, err := p.page(name, l)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", l.Lang())
	// The language may come from Accept-Language (RFC 9110 section 12.5.5).
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(code)
	_, err = w.Write(b.Bytes())
	return err
}

// page returns the named page bound to l (the party's default language
// when nil), cloning and binding it on first use.
func (p *Pages) page(name string, l *i18n.Localizer) (*template.Template, *i18n.Localizer, error) {
	t, ok := p.m[name]
	if !ok {
		return nil, nil, fmt.Errorf("ui: no page %q", name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l == nil {
		l = p.party.Localizer()
	}
	k := langPage{name, l.Lang(), l.Location().String()}
	if bound := p.byLang[k]; bound != nil {
		return bound, l, nil
	}
	bound, err := t.Clone()
	if err != nil {
		return nil, nil, fmt.Errorf("ui: page %s: %w", name, err)
	}
	bound.Funcs(l.Funcs()).Funcs(partyFuncs(p.party)).Funcs(deviceFuncs(l))
	p.byLang[k] = bound
	return bound, l, nil
}

// Localizer returns the localizer for a request: the member's language
// setting (member, "" if none or signed out), else the browser's
// Accept-Language, else the party's default; in the party's time zone.
func (p *Pages) Localizer(r *http.Request, member string) *i18n.Localizer {
	party := p.Party()
	b := i18n.Builtin()
	return b.Localizer(b.Pick(member, r.Header.Get("Accept-Language"), party.Language), party.TimeZone)
}

// Static serves the shared stylesheet, script and icon (favicon.svg,
// linked from the layout); mount it at /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
