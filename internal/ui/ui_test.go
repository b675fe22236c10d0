package ui

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/i18n"
)

func testPages(t *testing.T) *Pages {
	t.Helper()
	p, err := Parse(fstest.MapFS{
		"t/hello.html": {Data: []byte(`{{define "content"}}<h1>{{T "login.title"}}</h1><p>{{date .When}}</p>{{end}}`)},
	}, "t/*.html")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type helloPage struct {
	Base
	When time.Time
}

// TestRenderLanguage: a page is written in its data's language, else the
// party's; lang, dir and Content-Language follow.
func TestRenderLanguage(t *testing.T) {
	t.Parallel()
	p := testPages(t)
	p.SetParty(Party{Name: "Partei", Language: "de"})
	for _, tc := range []struct {
		l                 *i18n.Localizer
		lang, title, head string
	}{
		{nil, "de", "Anmelden", "<title> · Partei</title>"},
		{i18n.Builtin().Localizer("fr", nil), "fr", "Connexion", "<title> · Partei</title>"},
	} {
		w := httptest.NewRecorder()
		if err := p.Render(w, 200, "hello", helloPage{Base: Base{L: tc.l}}); err != nil {
			t.Fatal(err)
		}
		body := w.Body.String()
		if !strings.Contains(body, `<html lang="`+tc.lang+`" dir="ltr">`) || !strings.Contains(body, "<h1>"+tc.title+"</h1>") || !strings.Contains(body, tc.head) {
			t.Errorf("page in %s:\n%s", tc.lang, body)
		}
		if got := w.Header().Get("Content-Language"); got != tc.lang {
			t.Errorf("Content-Language %q, want %q", got, tc.lang)
		}
		if got := w.Header().Get("Vary"); got != "Accept-Language" {
			t.Errorf("Vary %q, want Accept-Language", got)
		}
	}
	// Page data without a localizer (a package not converted yet) is in
	// the party's language.
	w := httptest.NewRecorder()
	if err := p.Render(w, 200, "hello", struct {
		Base
		When time.Time
	}{}); err != nil || !strings.Contains(w.Body.String(), `lang="de"`) {
		t.Errorf("plain data: %v\n%s", err, w.Body.String())
	}
}

func TestAccent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"#000": "#fff", "#ffffff": "#000", "#a4161a": "#fff", "#ffd500": "#000", "#20304a": "#fff", "red": "#fff"} {
		if got := onAccent(in); got != want {
			t.Errorf("onAccent(%s) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "red", "#12", "#12345", "#1234567", "#ggg", "#fff;x:y", "#fff}"} {
		if ValidAccent(bad) {
			t.Errorf("ValidAccent(%q)", bad)
		}
	}
}

// TestReadLogo: only small raster images are a logo; an SVG (which may
// carry script) or an oversized file is refused.
func TestReadLogo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	var p Party
	if err := p.ReadLogo(write("ok.png", png)); err != nil || p.LogoType != "image/png" {
		t.Errorf("PNG: %v, %q", err, p.LogoType)
	}
	for name, data := range map[string][]byte{
		"logo.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`),
		"big.png":  append(png, make([]byte, MaxLogo)...),
		"empty":    nil,
		"page.png": []byte("<html><body>hi</body></html>"),
	} {
		var q Party
		if err := q.ReadLogo(write(name, data)); !errors.Is(err, ErrBadLogo) || q.Logo != nil {
			t.Errorf("%s: %v, want ErrBadLogo", name, err)
		}
	}
	var q Party
	if err := q.ReadLogo(filepath.Join(dir, "missing.png")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestPartyOf(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.MailDomains = []string{"example-party.org"}
	c.Party.Language, c.Party.Accent = "it", "#a4161a"
	p, err := PartyOf(c)
	if err != nil || p.Name != "example-party.org" || p.Language != "it" || p.Accent != "#a4161a" || p.TimeZone == nil || p.Logo != nil {
		t.Errorf("PartyOf = %+v, %v", p, err)
	}
	c.Party.LogoFile = filepath.Join(t.TempDir(), "logo.svg")
	os.WriteFile(c.Party.LogoFile, []byte("<svg/>"), 0o644)
	if _, err := PartyOf(c); !errors.Is(err, ErrBadLogo) || !strings.Contains(err.Error(), "party.logo_file") {
		t.Errorf("SVG logo: %v", err)
	}
}
