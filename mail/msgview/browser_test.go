package msgview

// A hostile message in a real browser: headless Chromium, driven by
// chromedp, loads the frame as webmail shows it (sanitized, in an iframe
// with FrameSandbox, served with FrameCSPWithImages) and every request it
// makes goes through a recording proxy, so that nothing can leave
// unseen: a script that runs, a handler that fires, a remote image, style
// sheet or font, a refresh.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// hostileFrame is HTML whose every trick, if it worked, would make the
// browser request a URL under /pwned/ or on evil.example.
const hostileFrame = `<p>Dear member,</p>
<script>fetch('/pwned/script')</script>
<img src="x" onerror="fetch('/pwned/onerror')">
<svg onload="fetch('/pwned/svg')"><script>fetch('/pwned/svgscript')</script></svg>
<body onload="fetch('/pwned/bodyonload')">
<meta http-equiv="refresh" content="0;url=/pwned/refresh">
<form action="/pwned/form"><input name="p" autofocus onfocus="fetch('/pwned/onfocus')"><button>Go</button></form>
<iframe src="/pwned/iframe"></iframe><object data="/pwned/object"></object><embed src="/pwned/embed">
<video poster="/pwned/poster" src="/pwned/video"></video><audio src="/pwned/audio" autoplay></audio>
<img src="http://tracker.evil.example/pixel.gif"><img srcset="/pwned/srcset 2x">
<table background="/pwned/background"><tr><td>table</td></tr></table>
<link rel="stylesheet" href="http://evil.example/style.css"><link rel="prefetch" href="/pwned/prefetch">
<style>@import url(http://evil.example/import.css); @font-face { font-family: x; src: url(/pwned/font) } p { font-family: x; background: u\72l(/pwned/cssescape) }
input[value^="a"] { background: url(/pwned/exfil) }</style>
<div style="background-image: url('http://evil.example/div.png'); width: 10px; height: 10px">x</div>
<a href="javascript:fetch('/pwned/js')" id="l">link</a>
<math><mtext><table><mglyph><style><img src=x onerror="fetch('/pwned/mxss')"></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=fetch('/pwned/noscript')>"></p></noscript>
<img src="cid:logo@x" alt="logo">`

// recorder is an HTTP proxy and origin server in one: it serves the
// test's pages and records every request that reaches it.
type recorder struct {
	mu    sync.Mutex
	seen  []string // "host path"
	pages map[string]func(w http.ResponseWriter)
	self  string // host:port
	// extra serves "host path" for other hosts.
	extra map[string]func(w http.ResponseWriter)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if r.Method == http.MethodConnect {
		host = r.RequestURI
	}
	rec.mu.Lock()
	rec.seen = append(rec.seen, host+" "+r.URL.Path)
	rec.mu.Unlock()
	if page := rec.pages[r.URL.Path]; host == rec.self && page != nil {
		page(w)
		return
	}
	if page := rec.extra[host+" "+r.URL.Path]; page != nil {
		page(w)
		return
	}
	http.Error(w, "no", http.StatusForbidden)
}

// requests returns what was seen so far.
func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// waitFor waits until a request for path was seen or ctx ends.
func (rec *recorder) waitFor(ctx context.Context, path string) bool {
	for {
		for _, s := range rec.requests() {
			if strings.HasSuffix(s, " "+path) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// browserService reports whether a host is one Chromium itself talks to
// (sign-in, autofill, updates), whatever the page: such requests (CONNECT
// only, refused by the recorder) are not the frame's.
func browserService(host string) bool {
	h, _, _ := strings.Cut(host, ":")
	for _, d := range []string{"google.com", "googleapis.com", "gstatic.com", "gvt1.com"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// TestBrowserHostileFrame: the sanitized hostile message, shown as the
// package doc says, runs nothing and fetches nothing but its own cid:
// image. The same HTML unsanitized in a plain frame (the control) does
// fetch, which shows that the test would see a leak.
func TestBrowserHostileFrame(t *testing.T) {
	testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{self: ln.Addr().String()}
	origin := "http://" + rec.self
	var sanitized strings.Builder
	res, err := SanitizeHTML(&sanitized, strings.NewReader(hostileFrame), SanitizeOptions{
		CID: func(id string) (string, bool) { return origin + "/part/2", id == "logo@x" },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sanitized: %+v", res)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	html := func(body string, header map[string]string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			for k, v := range header {
				w.Header().Set(k, v)
			}
			fmt.Fprint(w, body)
		}
	}
	rec.pages = map[string]func(w http.ResponseWriter){
		"/control": html(`<!DOCTYPE html><iframe src="/control-frame"></iframe>`, nil),
		// The control's requests are told apart by their names: they
		// may come late, while the frame under test loads.
		"/control-frame": html(strings.NewReplacer("cid:logo@x", "/part/control", "/pwned/", "/ctl/", "evil.example", "ctl.evil.example").Replace(hostileFrame), nil),
		"/page": html(`<!DOCTYPE html><title>caucus</title><iframe sandbox="`+FrameSandbox+`" src="/frame"></iframe>`,
			map[string]string{"Content-Security-Policy": "default-src 'none'; frame-src 'self'"}),
		"/frame": html(docStart+sanitized.String()+docEnd, map[string]string{"Content-Security-Policy": FrameCSPWithImages(origin)}),
		"/part/2": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Write(png)
		},
		"/part/control": func(w http.ResponseWriter) { w.Header().Set("Content-Type", "image/png"); w.Write(png) },
		// Defence in depth: the same HTML not sanitized at all, in the
		// frame and under the policy alone; its one allowed image
		// comes from images.test.
		"/raw-page": html(`<!DOCTYPE html><title>caucus</title><iframe sandbox="`+FrameSandbox+`" src="/raw-frame"></iframe>`, nil),
		"/raw-frame": html(strings.ReplaceAll(hostileFrame, "cid:logo@x", "http://images.test/sentinel"),
			map[string]string{"Content-Security-Policy": FrameCSPWithImages("http://images.test")}),
	}
	rec.extra = map[string]func(w http.ResponseWriter){
		"images.test /sentinel": func(w http.ResponseWriter) { w.Header().Set("Content-Type", "image/png"); w.Write(png) },
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rec}}
	srv.Start()
	t.Cleanup(srv.Close) // after the browser's cleanup, which Start registers later

	bctx := browsertest.Start(t, ctx, browsertest.Options{Flags: map[string]any{
		// Every request, loopback included, goes through the recorder;
		// no name is resolved, so nothing reaches the network.
		"proxy-server":        origin,
		"proxy-bypass-list":   "<-loopback>",
		"host-resolver-rules": "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}}).Ctx

	// The control: unsanitized, the tricks fetch.
	if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/control")); err != nil {
		t.Fatalf("control: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	ok := rec.waitFor(wctx, "/ctl/onerror")
	wcancel()
	if !ok {
		t.Fatalf("control frame fetched nothing: the test cannot see a leak; requests: %q", rec.requests())
	}

	// The frame as webmail shows it.
	before := len(rec.requests())
	if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/page")); err != nil {
		t.Fatalf("page: %v", err)
	}
	wctx, wcancel = context.WithTimeout(ctx, 20*time.Second)
	ok = rec.waitFor(wctx, "/part/2")
	wcancel()
	if !ok {
		t.Fatalf("the frame did not load its cid: image; requests: %q", rec.requests()[before:])
	}
	checkQuiet(t, bctx, rec, before, rec.self+" /page", rec.self+" /frame", rec.self+" /part/2")

	before = len(rec.requests())
	if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/raw-page")); err != nil {
		t.Fatalf("raw page: %v", err)
	}
	wctx, wcancel = context.WithTimeout(ctx, 20*time.Second)
	ok = rec.waitFor(wctx, "/sentinel")
	wcancel()
	if !ok {
		t.Fatalf("the raw frame did not load its image; requests: %q", rec.requests()[before:])
	}
	checkQuiet(t, bctx, rec, before, rec.self+" /raw-page", rec.self+" /raw-frame", "images.test /sentinel")
}

// checkQuiet waits for late tricks (refresh, autofocus, timers), then
// fails on any request since before that is not allowed, and on a page
// title the frame changed.
func checkQuiet(t *testing.T, bctx context.Context, rec *recorder, before int, allowed ...string) {
	t.Helper()
	if err := chromedp.Do(bctx, chromedp.Sleep(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.requests()[before:] {
		host, path, _ := strings.Cut(r, " ")
		switch {
		case strings.HasPrefix(path, "/ctl/") || strings.HasPrefix(host, "ctl.evil.example"):
			// the control's, late
		case browserService(host), path == "/favicon.ico", slices.Contains(allowed, r):
		default:
			t.Errorf("request left the frame: %s", r)
		}
	}
	if title != "caucus" {
		t.Errorf("page title %q: the frame reached its parent", title)
	}
}
