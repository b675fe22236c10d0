package server

// The file pages in a real browser: the first admin enrols a passkey, opens
// Files, uploads two files through the page's script, makes a public link
// with a download limit of one, and a signed-out visitor (a fresh browser
// context: no cookies) opens the link, downloads the file byte for byte,
// is refused a second time, and sends a file in through a file-drop link.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// fetchResult is what the page's fetch of a download gives back.
type fetchResult struct {
	Status      int    `json:"status"`
	Disposition string `json:"disposition"`
	CSP         string `json:"csp"`
	Body        string `json:"body"` // base64
}

const fetchScript = `(async (url) => {
	const r = await fetch(url, {credentials: "same-origin"});
	const buf = new Uint8Array(await r.arrayBuffer());
	let bin = "";
	for (let i = 0; i < buf.length; i += 0x8000) bin += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
	return {status: r.status, disposition: r.headers.get("Content-Disposition") || "", csp: r.headers.get("Content-Security-Policy") || "", body: btoa(bin)};
})`

func TestBrowserFiles(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	b := newBrowser(t, ctx, srv)
	b.AddAuthenticator(browsertest.PlatformPasskey())
	b.acceptInvite(enrolURL, "amber-falcon-meadow-3318")
	b.register("#addpasskey", "Files test passkey")
	b.recoveryCodes()
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later") // after enrolment: set up your phone
	b.Click("#later")
	b.WaitPage("/account", "#factors")

	// Two files, one of them with a name that needs escaping.
	dir := t.TempDir()
	report := make([]byte, 700<<10)
	rand.Read(report)
	paths := []string{filepath.Join(dir, "report 2026.bin"), filepath.Join(dir, "Plan ü#1.txt")}
	if err := os.WriteFile(paths[0], report, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths[1], []byte("campaign plan\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	b.Navigate("/files/")
	b.WaitPage("/files/p/Home", "#upload")
	b.Do("choose files", chromedp.SetUploadFiles(chromedp.CSS("#file"), paths))
	b.Click("#uploadbtn")
	// The script sends the form, shows progress, and reloads the folder.
	b.WaitPage("/files/p/Home", `#entries a[href="/files/item/Home/report%202026.bin"]`)
	b.WaitPage("/files/p/Home", `#entries a[href="/files/item/Home/Plan%20%C3%BC%231.txt"]`)

	b.Click(`#entries a[href="/files/item/Home/report%202026.bin"]`)
	b.WaitPage("/files/item/Home/report%202026.bin", "#makelink")
	b.Do("fill in the link form",
		chromedp.SetValue(chromedp.CSS("#limit"), "1"),
		chromedp.Click(chromedp.CSS("#makelink")),
	)
	b.WaitPage("/files/link/Home/report%202026.bin", "#link")
	link := strings.TrimSpace(b.Text("#link"))
	if !strings.HasPrefix(link, srv.url+"/s/") {
		t.Fatalf("link %q is not under %s/s/", link, srv.url)
	}

	// A visitor with no cookies at all.
	vctx, vcancel := chromedp.NewContext(b.Ctx, chromedp.WithNewBrowserContext())
	defer vcancel()
	if err := chromedp.Do(vctx); err != nil { // open its tab now, not under a step's timeout
		t.Fatal(err)
	}
	v := &browser{b.On(vctx)}
	v.Navigate("/files/p/Home")
	v.WaitPage("/login", "#passkey") // signed out: no folder
	v.Do("open the link", chromedp.Navigate(link))
	v.WaitPage(strings.TrimPrefix(link, srv.url), "#download")
	get := func() fetchResult {
		t.Helper()
		res, err := chromedp.Run(vctx, chromedp.Evaluate[fetchResult](fetchScript+`(document.querySelector("#download").href)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	got := get()
	body, err := base64.StdEncoding.DecodeString(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != 200 || !bytes.Equal(body, report) {
		t.Fatalf("download: HTTP %d, %d bytes (equal: %v); want 200 and the %d bytes uploaded", got.Status, len(body), bytes.Equal(body, report), len(report))
	}
	if !strings.HasPrefix(got.Disposition, "attachment;") || !strings.Contains(got.Disposition, "report 2026.bin") || !strings.HasPrefix(got.CSP, "sandbox") {
		t.Errorf("download headers: Content-Disposition %q, CSP %q", got.Disposition, got.CSP)
	}
	if again := get(); again.Status != 410 {
		t.Errorf("second download of a one-download link: HTTP %d, want 410", again.Status)
	}

	// The visitor sends a file in through a file-drop link; the page's
	// script sends it and reports progress without leaving the page.
	acct, err := srv.auth.AccountByLogin(ctx, "admin@localhost")
	if err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: acct.Login}
	home, err := srv.files.Stat(ctx, owner, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := srv.files.Mkdir(ctx, owner, home.ID, "Inbox")
	if err != nil {
		t.Fatal(err)
	}
	drop, _, err := srv.files.CreateLink(ctx, owner, inbox.ID, files.LinkOptions{Kind: files.LinkDrop})
	if err != nil {
		t.Fatal(err)
	}
	v.Navigate("/s/" + drop)
	v.WaitPage("/s/"+drop, "#upload")
	v.Do("choose a file", chromedp.SetUploadFiles(chromedp.CSS("#file"), paths[:1]))
	v.Click("#uploadbtn")
	v.WaitPage("/s/"+drop, `#upload[data-done="1"]`)
	if st := v.Text("#uploadstatus"); !strings.Contains(st, "1 file received.") {
		t.Errorf("drop page says %q", st)
	}
	done, err := chromedp.Run(vctx, chromedp.Evaluate[bool](`(() => { const p = document.querySelector("#upload progress"); return !p.hidden && p.value === p.max; })()`))
	if err != nil || !done {
		t.Errorf("progress bar not full after the upload (%v)", err)
	}
	rc, n, err := srv.files.Open(ctx, owner, mustStat(t, srv, owner, "/Home/Inbox/report 2026.bin").ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, report) {
		t.Errorf("dropped file %s: %d bytes, not the %d sent", n.Path, len(got), len(report))
	}
}

func mustStat(t *testing.T, srv *Server, a files.Actor, path string) files.Node {
	t.Helper()
	n, err := srv.files.Stat(t.Context(), a, path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return n
}
