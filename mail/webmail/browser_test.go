package webmail

// Webmail in a real browser: headless Chromium, driven through the
// DevTools protocol by chromedp, against the webmail pages over a real
// auth service and store served on 127.0.0.1 with the test server's
// certificate. People sign in as a browser does (password, then the TOTP
// code), read, write and act; every request the page makes is recorded,
// so a test can say that nothing left for another host.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

const (
	browserTimeout = 90 * time.Second // whole test, browser start included
	stepTimeout    = 20 * time.Second // one page or one step
)

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	*browsertest.Browser
}

// newBrowser starts Chromium with a fresh profile that trusts exactly the
// test server's certificate (by its public key), with a viewport of
// width×height, recording every request.
func newBrowser(t *testing.T, ctx context.Context, e *env, width, height int) *browser {
	t.Helper()
	return newBrowserFlags(t, ctx, e, width, height, nil)
}

// newBrowserFlags is newBrowser with extra command-line flags.
func newBrowserFlags(t *testing.T, ctx context.Context, e *env, width, height int, flags map[string]any) *browser {
	t.Helper()
	// The test server answers as 127.0.0.1; the browser calls it
	// localhost, a secure context with a host name (as production has).
	u, _ := url.Parse(e.ts.URL)
	b := &browser{browsertest.Start(t, ctx, browsertest.Options{
		URL: "https://localhost:" + u.Port(), SPKI: browsertest.SPKIHash(e.ts.Certificate()),
		Width: width, Height: height, Record: true, StepTimeout: stepTimeout, Flags: flags,
	})}
	if width < 600 {
		b.Do("phone screen", chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateMobile))
	}
	return b
}

// where is the tab's path and title.
func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + " " + document.title`))
	if err != nil {
		return "unknown: " + err.Error()
	}
	return s
}

// signIn signs m in as a person does: address and password, then the
// code of the authenticator app; it ends on the INBOX.
func (b *browser) signIn(m *member) {
	b.T.Helper()
	b.Navigate("/mail/")
	b.WaitPrefix("/login", "#login")
	b.Do("password",
		chromedp.SendKeys(chromedp.CSS("#login"), m.u.Account.Login),
		chromedp.SendKeys(chromedp.CSS("#password"), m.u.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
	b.WaitPrefix("/login/second", "#code")
	b.Do("code",
		chromedp.SendKeys(chromedp.CSS("#code"), m.e.a.Code(b.T, m.u)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp"] button[type="submit"]`)),
	)
	b.WaitPrefix("/mail/box/", "#boxes") // sign-in goes on to the page first asked for
}

// TestBrowserSendAndLive: Anna signs in, writes to Ben, who has his INBOX
// open in another browser: the message appears in his list without a
// reload (live updates), and nothing is requested from another host.
func TestBrowserSendAndLive(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	ben.put(t, "INBOX", mail("x@outside.example", "ben@"+domain, "Welcome", "hello"))

	bb := newBrowser(t, ctx, e, 1280, 900)
	bb.signIn(ben)
	if !strings.Contains(bb.Text("#rows"), "Welcome") {
		t.Fatal("Ben's INBOX does not list his message")
	}

	ab := newBrowser(t, ctx, e, 1280, 900)
	ab.signIn(anna)
	ab.Do("write", chromedp.Click(chromedp.CSS("#composebtn")))
	ab.WaitPrefix("/mail/compose", "#to")
	att := filepath.Join(t.TempDir(), "route map.pdf")
	if err := os.WriteFile(att, bytes.Repeat([]byte("%PDF-1.4 map\n"), 20000), 0o600); err != nil {
		t.Fatal(err)
	}
	ab.Do("fill in",
		chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{att}),
		chromedp.SendKeys(chromedp.CSS("#to"), "ben@"+domain),
		chromedp.SendKeys(chromedp.CSS("#subject"), "Leaflets for Saturday"),
		chromedp.SendKeys(chromedp.CSS("#body"), "Can you bring them?"),
		chromedp.Click(chromedp.CSS("#sendbtn")),
	)
	ab.WaitPrefix("/mail/box/", "#boxes")
	if n := ab.Text(".notice"); !strings.Contains(n, "sent") {
		t.Errorf("after sending the page says %q", n)
	}

	got := ben.messages(t, "INBOX")
	if len(got) != 2 || !hasAttachment(got[1].BodyStructure) || !strings.Contains(ben.raw(t, got[1]), `filename="route map.pdf"`) {
		t.Fatalf("Ben got %d messages; the last without its attachment", len(got))
	}
	// Ben's open INBOX shows it, with no reload.
	if _, err := chromedp.Run(bb.Ctx, chromedp.Poll[bool](`document.querySelector("#rows") !== null && document.querySelector("#rows").textContent.includes("Leaflets for Saturday")`, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("Ben's open INBOX did not show the new message: %v", err)
	}
	for _, b := range []*browser{ab, bb} {
		if off := b.Offsite(); len(off) > 0 {
			t.Errorf("requests to other hosts: %q", off)
		}
	}
}

// TestBrowserPhone: on a 360 px wide screen the folder list folds away,
// nothing is wider than the screen, and actions work.
func TestBrowserPhone(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	for i := range 30 {
		anna.put(t, "INBOX", mail("A sender with a rather long name <someone.with.a.long.address@outside.example>", "anna@"+domain,
			fmt.Sprintf("A subject that is much too long to fit on a phone's screen in one line, number %d", i), "x"))
	}
	b := newBrowser(t, ctx, e, 360, 740)
	b.signIn(anna)
	wide, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide > 360 {
		t.Errorf("the INBOX page is %d px wide on a 360 px screen", wide)
	}
	b.Do("select and archive",
		chromedp.Click(chromedp.CSS(`#rows input[name="sel"]`)),
		chromedp.Click(chromedp.CSS(`button[value="archive"]`)),
	)
	b.WaitPrefix("/mail/box/", ".notice")
	if got := len(anna.messages(t, "Archive")); got != 1 {
		t.Errorf("archived %d messages, want 1", got)
	}
	in := anna.box(t, "INBOX")
	for _, page := range []struct{ path, sel string }{
		{"/mail/compose", "#to"},
		{msgHref(in.ID, 1), "#msgbody"},
		{"/mail/search?q=subject", "#rows"},
	} {
		b.Navigate(page.path)
		b.WaitPrefix(strings.Split(page.path, "?")[0], page.sel)
		if wide, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
			t.Errorf("%s is %d px wide on a 360 px screen", page.path, wide)
		}
	}
	// The folders are folded away, and open on a tap.
	if open, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector("#boxes").offsetParent !== null`)); open {
		t.Error("the folder list takes the phone's screen")
	}
}

// TestBrowserReadReply: Anna opens Ben's message from her INBOX, replies
// from the message page, and the reply arrives in Ben's INBOX threaded
// under his message; her reply shows in the conversation.
func TestBrowserReadReply(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	anna.put(t, "INBOX", "From: Ben <ben@example.org>\r\nTo: anna@example.org\r\nSubject: Leaflets\r\n"+
		"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMessage-ID: <leaf@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"+
		"<p>How many <b>leaflets</b> do we need?</p>\r\n")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.Do("open the message", chromedp.Click(chromedp.CSS(`#rows a`)))
	b.WaitPrefix("/mail/msg/", "#msgbody")
	if s := b.Text("#subject"); s != "Leaflets" {
		t.Errorf("subject %q", s)
	}
	b.Do("reply", chromedp.Click(chromedp.CSS("#replybtn")))
	b.WaitPrefix("/mail/compose", "#body")
	quoted, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#body").value`))
	if err != nil || !strings.Contains(quoted, "> How many leaflets do we need?") {
		t.Errorf("the reply does not quote the message: %q %v", quoted, err)
	}
	b.Do("write and send",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#body").value = "Two hundred.\n" + document.querySelector("#body").value`),
		chromedp.Click(chromedp.CSS("#sendbtn")),
	)
	b.WaitPrefix("/mail/box/", ".notice")
	got := ben.messages(t, "INBOX")
	if len(got) != 1 || got[0].Envelope.Subject != "Re: Leaflets" || !strings.Contains(ben.raw(t, got[0]), "In-Reply-To: <leaf@example.org>") {
		t.Fatalf("Ben's INBOX: %d messages", len(got))
	}
	b.Navigate(msgHref(anna.box(t, "INBOX").ID, 1))
	b.WaitPrefix("/mail/msg/", "#thread")
	if th := b.Text("#thread"); !strings.Contains(th, "Re: Leaflets") {
		t.Errorf("the conversation does not show the reply: %q", th)
	}
}

// TestBrowserHostile: a hostile HTML message (script, event handlers, a
// form, remote and local images, CSS that fetches, meta refresh, a
// javascript: link, frames) is shown with nothing executed and nothing
// fetched: every way it tries to run or load something points at a
// canary path of the server or at another host, and the browser requests
// neither.
func TestBrowserHostile(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	canary := "From: Party Leader <leader@outside.example>\r\nTo: anna@example.org\r\nSubject: Canary\r\n" +
		"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<html><head><meta http-equiv="refresh" content="0;url=/mail/canary-refresh"><link rel="stylesheet" href="/mail/canary-link">` +
		`<style>body{background:url(/mail/canary-css)} p{background-image:url("https://evil.example/css2")}</style>` +
		`<script>fetch("/mail/canary-script"); top.location = "/mail/canary-top";</script><base href="https://evil.example/"></head>` +
		`<body onload="fetch('/mail/canary-onload')"><p id="hello">Hello Anna</p>` +
		`<img src="/mail/canary-img" onerror="fetch('/mail/canary-onerror')"><img src="https://evil.example/pixel.gif">` +
		`<svg><image href="/mail/canary-svg"/><script>fetch("/mail/canary-svgscript")</script></svg>` +
		`<form action="/mail/canary-form" method="post"><input name="q" autofocus onfocus="fetch('/mail/canary-focus')"></form>` +
		`<a id="js" href="javascript:fetch('/mail/canary-js')">click</a>` +
		`<iframe src="/mail/canary-frame"></iframe><object data="/mail/canary-object"></object><video poster="/mail/canary-poster"></video>` +
		"</body></html>\r\n"
	uid := anna.put(t, "INBOX", canary)
	in := anna.box(t, "INBOX")
	u, _ := url.Parse(e.ts.URL)
	proxy := newTunnel(t, "localhost:"+u.Port(), u.Host)
	b := newBrowserFlags(t, ctx, e, 1280, 900, map[string]any{"proxy-server": "http://" + proxy.addr, "proxy-bypass-list": "<-loopback>"})
	b.signIn(anna)
	b.Navigate(msgHref(in.ID, uid))
	b.WaitPrefix("/mail/msg/", "#msgbody")
	// The frame loads, and gets time to misbehave.
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](fmt.Sprintf(`performance.getEntriesByName(location.origin + %q).length > 0`, msgHref(in.ID, uid)+"/frame"),
		chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("the message frame did not load: %v", err)
	}
	time.Sleep(time.Second)
	if loc := b.where(); !strings.HasPrefix(loc, msgHref(in.ID, uid)) {
		t.Errorf("the page was navigated away to %s", loc)
	}
	// The sandboxed frame is a target of its own, whose requests the
	// tab's recorder does not see: its own record of what it fetched
	// is read there, and the proxy sees every host asked for.
	fetched, err := chromedp.Run(b.frameTarget(msgHref(in.ID, uid)+"/frame"), chromedp.Evaluate[[]string](`performance.getEntries().map(e => e.name)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(b.Requests(), fetched...) {
		if strings.Contains(r, "canary") || strings.Contains(r, "evil.example") {
			t.Errorf("the hostile message made the browser request %s", r)
		}
	}
	if off := b.Offsite(); len(off) > 0 {
		t.Errorf("requests to other hosts: %q", off)
	}
	if off := proxy.offsite(); len(off) > 0 {
		t.Errorf("requests that left loopback: %q", off)
	}
	if !slices.ContainsFunc(b.Requests(), func(r string) bool { return strings.HasSuffix(r, "/frame") }) {
		t.Error("the recorder did not see the frame's request")
	}
}

// TestBrowserPreview: an image attachment opened with Preview shows as an
// image, under the download sandbox.
func TestBrowserPreview(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	uid := anna.put(t, "INBOX", pngMessage(t))
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.Navigate(msgHref(anna.box(t, "INBOX").ID, uid) + "/preview/2")
	if w := b.pollInt(`(() => { const i = document.querySelector("img"); return i && i.complete ? i.naturalWidth : 0; })()`); w != 20 {
		t.Errorf("the preview shows an image %d px wide, want 20", w)
	}
}

// TestBrowserDragMove: dropping a dragged message on a folder moves it
// (the drag is made of the DOM events the browser would fire).
func TestBrowserDragMove(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "keep", "x"))
	anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "file me", "x"))
	archive := anna.box(t, "Archive")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.Do("drag the newest message onto Archive", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const dt = new DataTransfer();
		const row = document.querySelector("#rows li.row");
		row.dispatchEvent(new DragEvent("dragstart", {bubbles: true, dataTransfer: dt}));
		const target = document.querySelector('#boxes a[data-box="%d"]');
		target.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		target.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
	})()`, archive.ID)))
	b.WaitPrefix("/mail/box/", ".notice")
	got := anna.messages(t, "Archive")
	if len(got) != 1 || got[0].Envelope.Subject != "file me" || len(anna.messages(t, "INBOX")) != 1 {
		t.Errorf("Archive holds %d messages after the drop", len(got))
	}
}

// TestBrowserAutosave: while a message is being written, the page saves
// it as an IMAP draft (\Draft in Drafts, which phones show), one draft
// replaced as the text grows; sending it removes the draft.
func TestBrowserAutosave(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	e.h.autosave = 300 * time.Millisecond
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.Navigate("/mail/compose")
	b.WaitPrefix("/mail/compose", "#to")
	b.Do("write", chromedp.SendKeys(chromedp.CSS("#to"), "ben@"+domain), chromedp.SendKeys(chromedp.CSS("#subject"), "Draft on the go"))
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](`document.querySelector("#draftref").value !== ""`, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("no draft saved: %v", err)
	}
	b.Do("write more", chromedp.SendKeys(chromedp.CSS("#body"), "More words."))
	// The page saves again as the text grows: one draft, replaced, ends
	// up holding all of it.
	deadline := time.Now().Add(stepTimeout)
	for {
		d := anna.messages(t, "Drafts")
		if len(d) == 1 && slices.Contains(d[0].Flags, imap.FlagDraft) && d[0].Envelope.Subject == "Draft on the go" && strings.Contains(anna.raw(t, d[0]), "More words.") {
			break
		}
		if time.Now().After(deadline) { // a moment with two drafts (the new one in, the old not yet out) is no failure
			t.Fatalf("Drafts: %d messages", len(d))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Do("send", chromedp.Click(chromedp.CSS("#sendbtn")))
	b.WaitPrefix("/mail/box/", ".notice")
	if len(anna.messages(t, "Drafts")) != 0 || len(ben.messages(t, "INBOX")) != 1 {
		t.Error("the draft stayed after sending, or nothing arrived")
	}
}

// value reads a form field's value.
func (b *browser) value(sel string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, sel)))
	if err != nil {
		b.T.Fatal(err)
	}
	return v
}

// pollInt evaluates expr until it gives a number other than 0, through
// navigations (an evaluation that meets one is tried again), and returns
// it, or 0 after stepTimeout.
func (b *browser) pollInt(expr string) int {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, stepTimeout)
	defer cancel()
	for {
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr)); err == nil && n != 0 {
			return n
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBrowserInlineImage: an HTML message's cid: image shows in its
// sandboxed frame (decoded: naturalWidth is the PNG's 20 px), and no
// request leaves loopback. Chromium runs the sandboxed frame as a target
// of its own (site isolation), whose requests the tab's recorder does not
// see; so every request of the browser goes through a proxy that records
// its host and tunnels only to the test server, and the image is read in
// the frame's own target.
func TestBrowserInlineImage(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	uid := anna.put(t, "INBOX", inlineMessage(t, "News"))
	u, _ := url.Parse(e.ts.URL)
	proxy := newTunnel(t, "localhost:"+u.Port(), u.Host)
	b := newBrowserFlags(t, ctx, e, 1280, 900, map[string]any{"proxy-server": "http://" + proxy.addr, "proxy-bypass-list": "<-loopback>"})
	b.signIn(anna)
	href := msgHref(anna.box(t, "INBOX").ID, uid)
	b.Navigate(href)
	b.WaitPrefix("/mail/msg/", "#msgbody")

	fctx := b.frameTarget(href + "/frame")
	width, err := chromedp.Run(fctx, chromedp.Poll[int](`(() => { const i = document.querySelector("img"); return i && i.complete && i.naturalWidth > 0 ? i.naturalWidth : false; })()`,
		chromedp.WithPollingTimeout(stepTimeout)))
	if err != nil || width != 20 {
		t.Errorf("the inline image shows %d px wide, want 20 (%v)", width, err)
	}
	if off := proxy.offsite(); len(off) > 0 {
		t.Errorf("requests that left loopback: %q", off)
	}
	if len(proxy.tunnels()) == 0 {
		t.Error("the proxy saw no request: the test cannot see one leave")
	}
	if off := b.Offsite(); len(off) > 0 {
		t.Errorf("requests to other hosts: %q", off)
	}
}

// frameTarget returns a context on the iframe target whose URL ends with
// path (Chromium runs a sandboxed frame in a process of its own).
func (b *browser) frameTarget(path string) context.Context {
	b.T.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		infos, err := chromedp.Targets(b.Ctx)
		if err != nil {
			b.T.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasSuffix(info.URL, path) {
				fctx, cancel := chromedp.NewContext(b.Ctx, chromedp.WithTargetID(info.TargetID))
				b.T.Cleanup(cancel)
				// Attach on fctx itself: the target lives as long as
				// the context of the first call.
				if err := chromedp.Do(fctx); err != nil {
					b.T.Fatalf("attach to the frame: %v", err)
				}
				return fctx
			}
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("no frame target for %s", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tunnel is the browser's HTTP proxy: it records the host of every
// request and tunnels a CONNECT to the test server's name (allow) to its
// address (dst); anything else it refuses, so nothing reaches another
// host even if the browser asks.
type tunnel struct {
	addr, allow, dst string
	mu               sync.Mutex
	seen             []string
}

func newTunnel(t *testing.T, allow, dst string) *tunnel {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tunnel{addr: ln.Addr().String(), allow: allow, dst: dst}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *tunnel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if r.Method != http.MethodConnect {
		host = r.URL.Host
	}
	p.mu.Lock()
	p.seen = append(p.seen, host)
	p.mu.Unlock()
	if r.Method != http.MethodConnect || host != p.allow {
		http.Error(w, "refused by the test's proxy", http.StatusForbidden)
		return
	}
	up, err := net.DialTimeout("tcp", p.dst, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	deadline := time.Now().Add(browserTimeout)
	conn.SetDeadline(deadline)
	up.SetDeadline(deadline)
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(up, rw); up.Close() }()
	io.Copy(conn, up)
	conn.Close()
}

// tunnels returns the hosts the browser asked the proxy for.
func (p *tunnel) tunnels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// offsite returns the hosts asked for that are not the test server,
// but for Chromium's own services (refused by the proxy all the same).
func (p *tunnel) offsite() []string {
	var out []string
	for _, h := range p.tunnels() {
		name, _, _ := strings.Cut(h, ":")
		if h == p.allow || slices.ContainsFunc([]string{"google.com", "googleapis.com", "gstatic.com", "gvt1.com"}, func(d string) bool { return name == d || strings.HasSuffix(name, "."+d) }) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// TestBrowserAutosaveSlow: on a slow connection (each save takes 1.5 s),
// text typed while a save is on its way is saved after it, replacing
// the draft it made: one draft in the end, not one per overlapping save
// (a save sent while another was under way named the draft the first
// was replacing, and the first's draft stayed behind).
func TestBrowserAutosaveSlow(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	e.h.autosave = 200 * time.Millisecond
	anna := e.member(t, "anna")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.Navigate("/mail/compose")
	b.WaitPrefix("/mail/compose", "#to")
	if _, err := chromedp.Call(b.Ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{URLPattern: b.URL + "/mail/send", Latency: 1500, DownloadThroughput: -1, UploadThroughput: -1}},
	}); err != nil {
		t.Fatal(err)
	}
	b.Do("write", chromedp.SendKeys(chromedp.CSS("#subject"), "Slow line"))
	for _, word := range []string{" one", " two", " three"} {
		time.Sleep(600 * time.Millisecond) // a save is on its way
		b.Do("write more", chromedp.SendKeys(chromedp.CSS("#body"), word))
	}
	deadline := time.Now().Add(stepTimeout)
	for {
		d := anna.messages(t, "Drafts")
		if len(d) == 1 && strings.Contains(anna.raw(t, d[0]), "one two three") {
			// Settled: no save left on its way adds another.
			time.Sleep(3 * time.Second)
			if d = anna.messages(t, "Drafts"); len(d) != 1 {
				t.Errorf("Drafts: %d messages after the saves settled", len(d))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Drafts: %d messages", len(d))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserDragRoleNotTarget: a role mailbox in the side bar takes no
// drop (moving into it is refused), while the member's own folders do.
func TestBrowserDragRoleNotTarget(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "file me", "x"))
	ro, err := e.st.CreateRole(t.Context(), "press@"+domain, "Press")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetGrant(t.Context(), "admin", ro.ID, anna.u.Account.ID, true); err != nil {
		t.Fatal(err)
	}
	roleIn, err := e.st.Mailbox(t.Context(), ro.Owner(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	archive := anna.box(t, "Archive")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	for id, want := range map[int64]bool{archive.ID: true, roleIn.ID: false} {
		accepted, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
			const dt = new DataTransfer();
			document.querySelector("#rows li.row").dispatchEvent(new DragEvent("dragstart", {bubbles: true, dataTransfer: dt}));
			const target = document.querySelector('#boxes a[data-box="%d"]');
			return !target.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		})()`, id)))
		if err != nil {
			t.Fatalf("drag over mailbox %d: %v", id, err)
		}
		if accepted != want {
			t.Errorf("mailbox %d takes a drop: %v, want %v", id, accepted, want)
		}
	}
}
