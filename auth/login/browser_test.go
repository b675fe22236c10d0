package login

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/internal/testtool"
)

// chromium opens headless Chromium with the browser's language set to
// lang (as a person's system would: --lang and the Accept-Language it
// sends), trusting the test server's certificate. It returns the tab.
func (e *env) chromium(t *testing.T, lang string) context.Context {
	t.Helper()
	path := testtool.Need(t, "chromium")
	cert := e.ts.Certificate()
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
	)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return bctx
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
