package dav_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/internal/web"
)

// TestUploadedHTMLRunsNoScript: an HTML page a member stored, opened in
// a browser from /dav/ by someone signed in, runs no script in caucus's
// origin, not even one it loads from beside it in the same folder (which
// the pages' script-src 'self' would allow): the page is a download
// (attachment, octet-stream, nosniff) and sandboxed were it rendered.
// The script would leave a mark in the origin's storage and post to the
// site; neither happens. Headless Chromium, over HTTP/2 as a browser
// speaks, with the headers of web.Secure as the real server sends them.
func TestUploadedHTMLRunsNoScript(t *testing.T) {
	e := filestest.New(t, files.Options{})
	u, a := e.Person(t, "alice@example.org")
	secret := e.AppPassword(t, u, "browser", auth.ScopeFiles)
	var posts atomic.Int64
	mux := http.NewServeMux()
	dav.New(e.Store, e.Auth, nil, nil).Register(mux)
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html><title>caucus</title><p>a page of the site</p>")
	})
	mux.HandleFunc("POST /ran", func(w http.ResponseWriter, r *http.Request) { posts.Add(1) })
	srv := httptest.NewUnstartedServer(web.Secure(mux, 1<<20))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ctx := t.Context()
	home, err := e.Store.Stat(ctx, a, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	const script = `localStorage.setItem("pwned", "yes"); fetch("/ran", {method: "POST"});`
	for name, content := range map[string]string{
		"evil.js":   script,
		"evil.html": `<!doctype html><title>evil</title><script src="evil.js"></script><script>` + script + `</script>`,
	} {
		if _, err := e.Store.Put(ctx, a, home.ID, name, strings.NewReader(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}

	su, _ := url.Parse(srv.URL)
	b := browsertest.Start(t, ctx, browsertest.Options{URL: "https://localhost:" + su.Port(),
		SPKI: browsertest.SPKIHash(srv.Certificate()), Record: true})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Account.Login+":"+secret))
	if _, err := chromedp.Call(b.Ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basic}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.Ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorDeny}); err != nil {
		t.Fatal(err)
	}
	// A download ends the navigation (net::ERR_ABORTED): not a failure.
	nctx, cancel := context.WithTimeout(b.Ctx, 20e9)
	err = chromedp.Do(nctx, chromedp.Navigate(b.URL+"/dav/Home/evil.html"))
	cancel()
	t.Logf("opening the uploaded page: %v", err)
	b.Navigate("/page")
	ectx, cancel := context.WithTimeout(b.Ctx, 20e9)
	mark, err := chromedp.Run(ectx, chromedp.Evaluate[string](`String(localStorage.getItem("pwned"))`))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if mark != "null" || posts.Load() != 0 {
		t.Errorf("the uploaded page ran script in the origin: storage %q, %d posts to the site", mark, posts.Load())
	}
	if !strings.Contains(strings.Join(b.Requests(), " "), "/dav/Home/evil.html") {
		t.Errorf("the browser never asked for the page: %q", b.Requests())
	}
}
