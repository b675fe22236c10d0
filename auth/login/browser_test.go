package login

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/internal/ui"
)

// codeTextRe is a recovery code in a page's text.
var codeTextRe = regexp.MustCompile(`[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}`)

// chromium opens headless Chromium with the browser's language set to
// lang (as a person's system would: --lang and the Accept-Language it
// sends), trusting the test server's certificate. It returns the tab.
func (e *env) chromium(t *testing.T, lang string) context.Context {
	t.Helper()
	return browsertest.Start(t, t.Context(), browsertest.Options{
		URL: e.origin, SPKI: browsertest.SPKIHash(e.ts.Certificate()), Lang: lang,
	}).Ctx
}

// pageLangAndText opens path and returns <html lang>, <html dir> and the
// page's visible text.
func (e *env) pageLangAndText(t *testing.T, tab context.Context, path string) (lang, dir, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.origin+path), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var err error
	if lang, err = chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang")); err != nil {
		t.Fatal(err)
	}
	if dir, err = chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.dir")); err != nil {
		t.Fatal(err)
	}
	if text, err = chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText")); err != nil {
		t.Fatal(err)
	}
	return lang, dir, text
}

// TestBrowserItalian: a browser set to Italian gets the sign-in page in
// Italian, marked lang="it".
func TestBrowserItalian(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tab := e.chromium(t, "it-IT")
	lang, dir, text := e.pageLangAndText(t, tab, "/login")
	if lang != "it" || dir != "ltr" {
		t.Errorf(`<html lang=%q dir=%q>, want lang="it" dir="ltr"`, lang, dir)
	}
	for _, want := range []string{"Accedi", "Con una passkey", "Con la password", "Continua"} {
		if !strings.Contains(text, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Sign in with a passkey") {
		t.Errorf("sign-in page has English text:\n%s", text)
	}
}

// TestBrowserMemberLanguage: a member who chose German sees their pages in
// German though the browser asks for Italian; choosing "automatic" again
// gives the browser's language back.
func TestBrowserMemberLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, _ := e.enrol(t, "anna@example.org")
	csrf := b.get("/account").want(200).csrf()
	b.post("/account/language", url.Values{"csrf": {csrf}, "language": {"de"}}).redirect("/account?done=language")

	tab := e.chromium(t, "it-IT")
	u, _ := url.Parse(e.origin)
	var session string
	for _, c := range b.jar.Cookies(u) {
		if c.Name == SessionCookie {
			session = c.Value
		}
	}
	secure, httpOnly := true, true
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{
		Name: SessionCookie, Value: session, URL: e.origin + "/", Path: "/", Secure: &secure, HTTPOnly: &httpOnly,
	}); err != nil {
		t.Fatalf("Network.setCookie: %v", err)
	}
	lang, _, text := e.pageLangAndText(t, tab, "/account")
	if lang != "de" || !strings.Contains(text, "Dein Konto") || !strings.Contains(text, "Anmeldemethoden") {
		t.Errorf("account page of a member who chose German, browser in Italian: lang %q, text:\n%s", lang, text)
	}

	// Back to automatic: the browser's Italian.
	b.post("/account/language", url.Values{"csrf": {csrf}, "language": {""}}).redirect("/account?done=language")
	lang, _, text = e.pageLangAndText(t, tab, "/account")
	if lang != "it" || !strings.Contains(text, "Il tuo account") {
		t.Errorf("account page with no choice, browser in Italian: lang %q, text:\n%s", lang, text)
	}

}

// TestBrowserDarkMode: with the system set to dark, the pages are dark
// (the stylesheet's prefers-color-scheme), and the party's accent colour
// from /static/party.css colours the header in both schemes.
func TestBrowserDarkMode(t *testing.T) {
	t.Parallel()
	party := ui.Party{Name: "Partido Ejemplo", Accent: "#ffd500"}
	e := newEnv(t, func(o *envOptions) { o.login = []Option{WithParty(party)} })
	tab := e.chromium(t, "es")
	colours := func() (page, header, headerText string) {
		t.Helper()
		e.pageLangAndText(t, tab, "/login")
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[getComputedStyle(document.documentElement).backgroundColor,
			getComputedStyle(document.querySelector("header")).backgroundColor,
			getComputedStyle(document.querySelector("header .brand")).color].join("|")`))
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(s, "|")
		return parts[0], parts[1], parts[2]
	}
	lightPage, lightHeader, lightText := colours()
	if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	darkPage, darkHeader, _ := colours()
	if lightPage != "rgb(244, 245, 247)" || darkPage != "rgb(21, 24, 29)" {
		t.Errorf("page background light %s, dark %s", lightPage, darkPage)
	}
	// #ffd500 is light: the header's text is black on it.
	if lightHeader != "rgb(255, 213, 0)" || darkHeader != lightHeader || lightText != "rgb(0, 0, 0)" {
		t.Errorf("header %s (dark %s), text %s; want the accent rgb(255, 213, 0) with black text", lightHeader, darkHeader, lightText)
	}
}

// TestBrowserErrorPages: an address with no page (404), a method a route
// does not take (405) and a refused cross-origin form (403) get pages in
// the layout, in the browser's language, not bare text.
func TestBrowserErrorPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tab := e.chromium(t, "it-IT")
	for _, c := range []struct{ path, h1 string }{
		{"/no/such/page", "Pagina non trovata"},
		{"/logout", "Qui non si può fare"}, // POST only
	} {
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.Navigate(e.origin+c.path)); err != nil {
			t.Fatalf("open %s: %v", c.path, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[document.documentElement.lang,
			(document.querySelector("main h1") || {}).textContent || "",
			!!document.querySelector("header .brand"),
			(document.querySelector("main a.button") || {}).textContent || ""].join("|")`))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if want := "it|" + c.h1 + "|true|Vai alla pagina iniziale"; got != want {
			t.Errorf("%s: lang|h1|layout|link = %q, want %q", c.path, got, want)
		}
	}
	b := e.browser(t)
	resp := b.post("/login", url.Values{"login": {"a"}}, "Sec-Fetch-Site", "cross-site", "Accept-Language", "de")
	if resp.code != http.StatusForbidden || !strings.Contains(resp.body, "<h1>Nicht erlaubt</h1>") || !strings.Contains(resp.body, `<html lang="de"`) {
		t.Errorf("cross-site POST: %d\n%s", resp.code, resp.body)
	}
}

// TestBrowserFavicon: every page links an icon, which the browser loads as
// an image from the static files, cached like them.
func TestBrowserFavicon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tab := e.chromium(t, "en")
	e.pageLangAndText(t, tab, "/login")
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise(done => {
		const link = document.querySelector('link[rel="icon"]');
		if (!link) { done("no icon link"); return; }
		const img = new Image();
		img.onload = () => done(new URL(link.href).pathname + " " + img.naturalWidth + "x" + img.naturalHeight);
		img.onerror = () => done("icon did not load: " + link.href);
		img.src = link.href;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "/static/favicon.svg 64x64" {
		t.Errorf("icon: %s", got)
	}
	r := e.browser(t).get("/static/favicon.svg").want(200)
	if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "image/svg+xml" || cc != "public, max-age=3600" {
		t.Errorf("favicon served as %q, Cache-Control %q", ct, cc)
	}
}

// TestBrowserRecoveryPrint: right after enrolment the recovery codes are
// on the page at once; Print opens the browser's printing (from the
// script, no inline code), and the printed page is the codes without the
// site's header and buttons.
func TestBrowserRecoveryPrint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.post("/enrol/"+e.invite(t, "anna@example.org", auth.RoleMember), url.Values{"password": {testPassword}, "password2": {testPassword}}).redirect("/enrol")
	csrf := b.get("/enrol").want(200).csrf()
	b.post("/enrol/totp/start", url.Values{"csrf": {csrf}}).redirect("/enrol/totp")
	m := &member{secret: b.get("/enrol/totp").want(200).totpSecret()}
	b.post("/enrol/totp", url.Values{"csrf": {csrf}, "code": {e.code(t, m)}}).redirect("/enrol/recovery")

	tab := e.chromium(t, "fr-FR")
	secure, httpOnly := true, true
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{
		Name: SessionCookie, Value: b.token(), URL: e.origin + "/", Path: "/", Secure: &secure, HTTPOnly: &httpOnly,
	}); err != nil {
		t.Fatalf("Network.setCookie: %v", err)
	}
	_, _, text := e.pageLangAndText(t, tab, "/enrol/recovery")
	if n := len(codeTextRe.FindAllString(text, -1)); n != auth.RecoveryCodeCount || !strings.Contains(text, "Imprimer") || !strings.Contains(text, "Télécharger") {
		t.Fatalf("%d codes on the page at once, want %d:\n%s", n, auth.RecoveryCodeCount, text)
	}
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	printed, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.print = () => { window.printed = true; };
		document.querySelector("[data-print]").click(); window.printed === true`))
	if err != nil || !printed {
		t.Errorf("Print did not print (%v)", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`["header", "#codes", "[data-print]", "#download", "#done"].map(s =>
		getComputedStyle(document.querySelector(s)).display !== "none").join(" ")`))
	if err != nil || shown != "false true false false false" {
		t.Errorf("printed: header, codes, print, download, done shown = %q (%v); want the codes only", shown, err)
	}
}
