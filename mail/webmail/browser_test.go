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
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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

	"github.com/caucus-org/caucus/internal/testtool"
)

const (
	browserTimeout = 90 * time.Second // whole test, browser start included
	stepTimeout    = 20 * time.Second // one page or one step
)

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string

	mu   sync.Mutex
	reqs []string // every URL the tab requested
}

// newBrowser starts Chromium with a fresh profile that trusts exactly the
// test server's certificate (by its public key), with a viewport of
// width×height, recording every request.
func newBrowser(t *testing.T, ctx context.Context, e *env, width, height int) *browser {
	t.Helper()
	path := testtool.Need(t, "chromium")
	cert := e.ts.Certificate()
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:])),
	)
	// The test server answers as 127.0.0.1; the browser calls it
	// localhost, a secure context with a host name (as production has).
	u, _ := url.Parse(e.ts.URL)
	b := &browser{t: t, url: "https://localhost:" + u.Port()}
	record := func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.reqs = append(b.reqs, r.Request.URL)
			b.mu.Unlock()
		}
	}
	logf := browserLogf(t)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf), chromedp.WithListener(record))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b.ctx = bctx
	if err := chromedp.Do(bctx); err != nil { // start the browser and open the tab
		t.Fatalf("start %s: %v", path, err)
	}
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	if width < 600 {
		b.do("phone screen", chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateMobile))
	}
	return b
}

// browserLogf logs to t until the test's cleanup starts.
func browserLogf(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf("chromedp: "+format, args...)
		}
	}
}

// requests returns the URLs requested so far.
func (b *browser) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...)
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (on %s)", what, err, b.where())
	}
}

func (b *browser) navigate(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.url+path))
}

func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + " " + document.title`))
	if err != nil {
		return "unknown: " + err.Error()
	}
	return s
}

// wait waits until the tab shows a path starting with prefix and an
// element matching sel.
func (b *browser) wait(prefix, sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	q := fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState !== "loading" && document.querySelector(%q) !== null`, prefix, sel)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](q))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("waiting for %s with %s: last on %s", prefix, sel, b.where())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v (on %s)", sel, err, b.where())
	}
	return s
}

// signIn signs m in as a person does: address and password, then the
// code of the authenticator app; it ends on the INBOX.
func (b *browser) signIn(m *member) {
	b.t.Helper()
	b.navigate("/mail/")
	b.wait("/login", "#login")
	b.do("password",
		chromedp.SendKeys(chromedp.CSS("#login"), m.u.Account.Login),
		chromedp.SendKeys(chromedp.CSS("#password"), m.u.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
	b.wait("/login/second", "#code")
	b.do("code",
		chromedp.SendKeys(chromedp.CSS("#code"), m.e.a.Code(b.t, m.u)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp"] button[type="submit"]`)),
	)
	b.wait("/mail/box/", "#boxes") // sign-in goes on to the page first asked for
}

// offsite returns the requests to any host but the server.
func (b *browser) offsite() []string {
	var out []string
	for _, r := range b.requests() {
		if strings.HasPrefix(r, b.url+"/") || strings.HasPrefix(r, "data:") || r == "about:blank" {
			continue
		}
		out = append(out, r)
	}
	return out
}

// TestBrowserSendAndLive: Anna signs in, writes to Ben, who has his INBOX
// open in another browser: the message appears in his list without a
// reload (live updates), and nothing is requested from another host.
func TestBrowserSendAndLive(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	ben.put(t, "INBOX", mail("x@outside.example", "ben@"+domain, "Welcome", "hello"))

	bb := newBrowser(t, ctx, e, 1280, 900)
	bb.signIn(ben)
	if !strings.Contains(bb.text("#rows"), "Welcome") {
		t.Fatal("Ben's INBOX does not list his message")
	}

	ab := newBrowser(t, ctx, e, 1280, 900)
	ab.signIn(anna)
	ab.do("write", chromedp.Click(chromedp.CSS("#composebtn")))
	ab.wait("/mail/compose", "#to")
	att := filepath.Join(t.TempDir(), "route map.pdf")
	if err := os.WriteFile(att, bytes.Repeat([]byte("%PDF-1.4 map\n"), 20000), 0o600); err != nil {
		t.Fatal(err)
	}
	ab.do("fill in",
		chromedp.SetUploadFiles(chromedp.CSS("#attach"), []string{att}),
		chromedp.SendKeys(chromedp.CSS("#to"), "ben@"+domain),
		chromedp.SendKeys(chromedp.CSS("#subject"), "Leaflets for Saturday"),
		chromedp.SendKeys(chromedp.CSS("#body"), "Can you bring them?"),
		chromedp.Click(chromedp.CSS("#sendbtn")),
	)
	ab.wait("/mail/box/", "#boxes")
	if n := ab.text(".notice"); !strings.Contains(n, "sent") {
		t.Errorf("after sending the page says %q", n)
	}

	got := ben.messages(t, "INBOX")
	if len(got) != 2 || !hasAttachment(got[1].BodyStructure) || !strings.Contains(ben.raw(t, got[1]), `filename="route map.pdf"`) {
		t.Fatalf("Ben got %d messages; the last without its attachment", len(got))
	}
	// Ben's open INBOX shows it, with no reload.
	if _, err := chromedp.Run(bb.ctx, chromedp.Poll[bool](`document.querySelector("#rows") !== null && document.querySelector("#rows").textContent.includes("Leaflets for Saturday")`, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("Ben's open INBOX did not show the new message: %v", err)
	}
	for _, b := range []*browser{ab, bb} {
		if off := b.offsite(); len(off) > 0 {
			t.Errorf("requests to other hosts: %q", off)
		}
	}
}

// TestBrowserPhone: on a 360 px wide screen the folder list folds away,
// nothing is wider than the screen, and actions work.
func TestBrowserPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
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
	wide, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide > 360 {
		t.Errorf("the INBOX page is %d px wide on a 360 px screen", wide)
	}
	b.do("select and archive",
		chromedp.Click(chromedp.CSS(`#rows input[name="sel"]`)),
		chromedp.Click(chromedp.CSS(`button[value="archive"]`)),
	)
	b.wait("/mail/box/", ".notice")
	if got := len(anna.messages(t, "Archive")); got != 1 {
		t.Errorf("archived %d messages, want 1", got)
	}
	in := anna.box(t, "INBOX")
	for _, page := range []struct{ path, sel string }{
		{"/mail/compose", "#to"},
		{msgHref(in.ID, 1), "#msgbody"},
		{"/mail/search?q=subject", "#rows"},
	} {
		b.navigate(page.path)
		b.wait(strings.Split(page.path, "?")[0], page.sel)
		if wide, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); wide > 360 {
			t.Errorf("%s is %d px wide on a 360 px screen", page.path, wide)
		}
	}
	// The folders are folded away, and open on a tap.
	if open, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("#boxes").offsetParent !== null`)); open {
		t.Error("the folder list takes the phone's screen")
	}
}

// TestBrowserReadReply: Anna opens Ben's message from her INBOX, replies
// from the message page, and the reply arrives in Ben's INBOX threaded
// under his message; her reply shows in the conversation.
func TestBrowserReadReply(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
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
	b.do("open the message", chromedp.Click(chromedp.CSS(`#rows a`)))
	b.wait("/mail/msg/", "#msgbody")
	if s := b.text("#subject"); s != "Leaflets" {
		t.Errorf("subject %q", s)
	}
	b.do("reply", chromedp.Click(chromedp.CSS("#replybtn")))
	b.wait("/mail/compose", "#body")
	quoted, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#body").value`))
	if err != nil || !strings.Contains(quoted, "> How many leaflets do we need?") {
		t.Errorf("the reply does not quote the message: %q %v", quoted, err)
	}
	b.do("write and send",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#body").value = "Two hundred.\n" + document.querySelector("#body").value`),
		chromedp.Click(chromedp.CSS("#sendbtn")),
	)
	b.wait("/mail/box/", ".notice")
	got := ben.messages(t, "INBOX")
	if len(got) != 1 || got[0].Envelope.Subject != "Re: Leaflets" || !strings.Contains(ben.raw(t, got[0]), "In-Reply-To: <leaf@example.org>") {
		t.Fatalf("Ben's INBOX: %d messages", len(got))
	}
	b.navigate(msgHref(anna.box(t, "INBOX").ID, 1))
	b.wait("/mail/msg/", "#thread")
	if th := b.text("#thread"); !strings.Contains(th, "Re: Leaflets") {
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
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
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
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.navigate(msgHref(in.ID, uid))
	b.wait("/mail/msg/", "#msgbody")
	// The frame loads, and gets time to misbehave.
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](fmt.Sprintf(`performance.getEntriesByName(location.origin + %q).length > 0`, msgHref(in.ID, uid)+"/frame"),
		chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("the message frame did not load: %v", err)
	}
	time.Sleep(time.Second)
	if loc := b.where(); !strings.HasPrefix(loc, msgHref(in.ID, uid)) {
		t.Errorf("the page was navigated away to %s", loc)
	}
	for _, r := range b.requests() {
		if strings.Contains(r, "canary") || strings.Contains(r, "evil.example") {
			t.Errorf("the hostile message made the browser request %s", r)
		}
	}
	if off := b.offsite(); len(off) > 0 {
		t.Errorf("requests to other hosts: %q", off)
	}
	if !slices.ContainsFunc(b.requests(), func(r string) bool { return strings.HasSuffix(r, "/frame") }) {
		t.Error("the recorder did not see the frame's request")
	}
}

// TestBrowserPreview: an image attachment opened with Preview shows as an
// image, under the download sandbox.
func TestBrowserPreview(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	uid := anna.put(t, "INBOX", pngMessage(t))
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.navigate(msgHref(anna.box(t, "INBOX").ID, uid) + "/preview/2")
	if w := b.pollInt(`(() => { const i = document.querySelector("img"); return i && i.complete ? i.naturalWidth : 0; })()`); w != 20 {
		t.Errorf("the preview shows an image %d px wide, want 20", w)
	}
}

// TestBrowserDragMove: dropping a dragged message on a folder moves it
// (the drag is made of the DOM events the browser would fire).
func TestBrowserDragMove(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
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
	b.do("drag the newest message onto Archive", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const dt = new DataTransfer();
		const row = document.querySelector("#rows li.row");
		row.dispatchEvent(new DragEvent("dragstart", {bubbles: true, dataTransfer: dt}));
		const target = document.querySelector('#boxes a[data-box="%d"]');
		target.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		target.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
	})()`, archive.ID)))
	b.wait("/mail/box/", ".notice")
	got := anna.messages(t, "Archive")
	if len(got) != 1 || got[0].Envelope.Subject != "file me" || len(anna.messages(t, "INBOX")) != 1 {
		t.Errorf("Archive holds %d messages after the drop", len(got))
	}
}

// TestBrowserAutosave: while a message is being written, the page saves
// it as an IMAP draft (\Draft in Drafts, which phones show), one draft
// replaced as the text grows; sending it removes the draft.
func TestBrowserAutosave(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	e := newEnv(t)
	e.h.autosave = 300 * time.Millisecond
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	b := newBrowser(t, ctx, e, 1280, 900)
	b.signIn(anna)
	b.navigate("/mail/compose")
	b.wait("/mail/compose", "#to")
	b.do("write", chromedp.SendKeys(chromedp.CSS("#to"), "ben@"+domain), chromedp.SendKeys(chromedp.CSS("#subject"), "Draft on the go"))
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.querySelector("#draftref").value !== ""`, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("no draft saved: %v", err)
	}
	b.do("write more", chromedp.SendKeys(chromedp.CSS("#body"), "More words."))
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
	b.do("send", chromedp.Click(chromedp.CSS("#sendbtn")))
	b.wait("/mail/box/", ".notice")
	if len(anna.messages(t, "Drafts")) != 0 || len(ben.messages(t, "INBOX")) != 1 {
		t.Error("the draft stayed after sending, or nothing arrived")
	}
}

// value reads a form field's value.
func (b *browser) value(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// pollInt evaluates expr until it gives a number other than 0, through
// navigations (an evaluation that meets one is tried again), and returns
// it, or 0 after stepTimeout.
func (b *browser) pollInt(expr string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
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
