package login

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
)

// getIn is a GET with the browser's Accept-Language set to lang.
func (b *browser) getIn(path, lang string) *resp {
	b.tb.Helper()
	req, err := http.NewRequest("GET", b.e.origin+path, nil)
	if err != nil {
		b.tb.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	return b.do(req)
}

var htmlLangRE = regexp.MustCompile(`<html lang="([a-z]+)" dir="(ltr|rtl)">`)

// pageLang is the lang of the page's <html>, checking that it has dir too
// and that Content-Language says the same.
func (r *resp) pageLang() string {
	r.tb.Helper()
	m := htmlLangRE.FindStringSubmatch(r.body)
	if m == nil {
		r.tb.Fatalf("%s: no <html lang dir>:\n%.300s", r, r.body)
	}
	if cl := r.header.Get("Content-Language"); cl != m[1] {
		r.tb.Errorf("%s: Content-Language %q, <html lang=%q>", r, cl, m[1])
	}
	return m[1]
}

// csrf2 reads the CSRF token of the page at path, after r redirected there.
func (r *resp) csrf2(b *browser, path string) string {
	r.tb.Helper()
	return b.getIn(path, "de").want(200).contains("Segundo paso").csrf()
}

// TestPagesInEveryLanguage: each sign-in page a member meets is in the
// language the browser asks for, with lang and dir, and none shows a
// message key or an English text the language has its own words for.
func TestPagesInEveryLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, _ := e.enrol(t, "anna@example.org")
	anon := e.browser(t)
	en := i18n.Builtin().Catalogue("en")
	for _, lang := range i18n.Builtin().Languages() {
		cat := i18n.Builtin().Catalogue(lang)
		for _, page := range []struct {
			b    *browser
			path string
		}{{anon, "/login"}, {b, "/account"}, {b, "/enrol"}, {b, "/enrol/recovery"}, {b, "/reauth"}} {
			r := page.b.getIn(page.path, lang+";q=0.9,en;q=0.1").want(200)
			if got := r.pageLang(); got != lang {
				t.Errorf("%s in %s: lang %q", page.path, lang, got)
			}
			if m := regexp.MustCompile(`\b(ui|login|second|account|enrol|recovery|error|files)\.[a-z_]+\.?[a-z_]*\b`).FindString(r.body); m != "" && cat.Messages[m].Text != "" {
				t.Errorf("%s in %s shows the key %s", page.path, lang, m)
			}
			if lang == "en" {
				continue
			}
			for key, msg := range en.Messages {
				if msg.Plural == nil && len(msg.Text) > 15 && !strings.Contains(msg.Text, "{") && msg.Text != cat.Messages[key].Text && strings.Contains(r.body, msg.Text) {
					t.Errorf("%s in %s shows English %q (%s)", page.path, lang, msg.Text, key)
				}
			}
		}
	}
}

// TestLanguageSetting: the account page offers the languages by their own
// names; a member's choice wins over the browser's; a language caucus does
// not have is refused.
func TestLanguageSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, m := e.enrol(t, "anna@example.org")
	r := b.getIn("/account", "fr").want(200).contains("Langue", `<option value="it" lang="it">Italiano</option>`, `<option value="de" lang="de">Deutsch</option>`)
	if r.pageLang() != "fr" {
		t.Errorf("account page with browser in French: %s", r.pageLang())
	}
	csrf := r.csrf()
	b.post("/account/language", url.Values{"csrf": {csrf}, "language": {"pt"}}).want(400)
	b.post("/account/language", url.Values{"csrf": {csrf}, "language": {"it\r\nX: y"}}).want(400)
	b.post("/account/language", url.Values{"csrf": {"wrong"}, "language": {"it"}}).want(403)
	if a := e.account(t, m.login); a.Language != "" {
		t.Fatalf("refused choices stored %q", a.Language)
	}
	b.post("/account/language", url.Values{"csrf": {csrf}, "language": {"es"}}).redirect("/account?done=language")
	r = b.getIn("/account?done=language", "fr").want(200).contains("Idioma guardado.", `<option value="es" lang="es" selected>Español</option>`)
	if r.pageLang() != "es" {
		t.Errorf("member chose Spanish, browser French: page in %s", r.pageLang())
	}
	// The choice is the member's, not the browser's: another browser of
	// theirs, in German, gets Spanish after signing in, and German before.
	other := e.browser(t)
	if l := other.getIn("/login", "de").want(200).pageLang(); l != "de" {
		t.Errorf("sign-in page for a German browser: %s", l)
	}
	csrf = other.post("/login", url.Values{"login": {m.login}, "password": {m.password}}, "Accept-Language", "de").want(303).csrf2(other, "/login/second?next=%2Faccount")
	other.post("/login/totp", url.Values{"csrf": {csrf}, "code": {e.code(t, m)}, "next": {"/account"}}).redirect("/account")
	if l := other.getIn("/account", "de").want(200).pageLang(); l != "es" {
		t.Errorf("account page after sign-in: %s, want the member's es", l)
	}
}

// TestErrorsTranslated: refusals on the sign-in pages and from the
// WebAuthn endpoints are in the browser's language.
func TestErrorsTranslated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, m := e.enrol(t, "anna@example.org")
	b := e.browser(t)
	req := url.Values{"login": {m.login}, "password": {"wrong-password-here"}}
	r := b.post("/login", req, "Accept-Language", "it-IT").want(401).contains("Indirizzo o password errati.")
	if r.pageLang() != "it" {
		t.Errorf("refused sign-in page in %s", r.pageLang())
	}
	b.post("/webauthn/register/begin", url.Values{}, "Accept-Language", "de").want(401).contains("Deine Sitzung ist beendet.")
	b.post("/enrol/nosuchtoken", url.Values{"password": {"x"}, "password2": {"y"}}, "Accept-Language", "fr").contains("a déjà servi ou a expiré")
}

// TestPartyBranding: the party's name replaces "caucus" in the title and
// header of the sign-in page, its logo and accent colour are served as
// files (the CSP allows no inline style), and the default language is the
// party's for a browser that asks for none caucus has.
func TestPartyBranding(t *testing.T) {
	t.Parallel()
	var logo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{200, 0, 0, 255})
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(path, logo.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	party := ui.Party{Name: "Partito Esempio", Language: "it", Accent: "#a4161a", TimeZone: time.UTC}
	if err := party.ReadLogo(path); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *envOptions) { o.login = []Option{WithParty(party)} })
	b := e.browser(t)
	r := b.getIn("/login", "pt-BR,pt;q=0.9").want(200).contains(
		"<title>Accedi · Partito Esempio</title>",
		`<img class="logo" src="/static/party-logo" alt="">Partito Esempio</a>`,
		`<link rel="stylesheet" href="/static/party.css">`,
	).lacks("caucus</a>", "style=")
	if r.pageLang() != "it" {
		t.Errorf("Portuguese browser, Italian party: page in %s", r.pageLang())
	}
	css := b.get("/static/party.css").want(200).contains(":root{--accent:#a4161a;--on-accent:#fff}")
	if ct := css.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("party.css: Content-Type %q", ct)
	}
	lr := b.get("/static/party-logo").want(200)
	if lr.body != logo.String() || lr.header.Get("Content-Type") != "image/png" || !strings.Contains(lr.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("logo: %d bytes, Content-Type %q, CSP %q", len(lr.body), lr.header.Get("Content-Type"), lr.header.Get("Content-Security-Policy"))
	}

	// Without branding: "caucus", no logo or party.css.
	plain := newEnv(t).browser(t)
	plain.get("/login").want(200).contains("<title>Sign in · caucus</title>").lacks("party-logo", "party.css")
	plain.get("/static/party.css").want(404)
	plain.get("/static/party-logo").want(404)
}
