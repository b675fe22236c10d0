package server

// The file pages' everyday conveniences in a real browser: files dropped
// onto a folder's list are uploaded with the page's progress bar.

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// filesBrowser starts a server, enrols its first admin in Chromium and
// returns the browser on the admin's Home folder.
func filesBrowser(t *testing.T, ctx context.Context) (*browser, *Server) {
	t.Helper()
	testtool.Need(t, "chromium")
	srv, enrolURL := startTestServer(t, ctx)
	b := newBrowser(t, ctx, srv)
	b.AddAuthenticator(browsertest.PlatformPasskey())
	b.acceptInvite(enrolURL, "amber-falcon-meadow-3318")
	b.register("#addpasskey", "Files test passkey")
	b.recoveryCodes()
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later")
	b.Click("#later")
	b.WaitPage("/account", "#factors")
	b.Navigate("/files/")
	b.WaitPage("/files/p/Home", "#upload")
	return b, srv
}

// dropScript drops a file named name holding text onto the element
// matching sel, as a person dragging it from their desktop would; it
// returns whether the page took the drop (called preventDefault).
const dropScript = `((sel, name, text) => {
	const el = document.querySelector(sel);
	if (!el) return false;
	const dt = new DataTransfer();
	dt.items.add(new File([text], name, {type: "text/plain"}));
	el.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
	el.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
	return !el.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
})`

func TestBrowserFilesDropUpload(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	b, srv := filesBrowser(t, ctx)

	// Dropped onto the folder's list (the section under its title).
	took, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](dropScript+`("h1", "dropped notes.txt", "dropped onto the list\n")`))
	if err != nil {
		t.Fatal(err)
	}
	if !took {
		t.Fatalf("the file list does not take dropped files (page: %s)", b.Describe())
	}
	b.WaitPage("/files/p/Home", `#entries a[href="/files/item/Home/dropped%20notes.txt"]`)

	acct, err := srv.auth.AccountByLogin(ctx, "admin@localhost")
	if err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: acct.Login}
	rc, _, err := srv.files.Open(ctx, owner, mustStat(t, srv, owner, "/Home/dropped notes.txt").ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, []byte("dropped onto the list\n")) {
		t.Errorf("dropped file holds %q", got)
	}
}

// onePixelPNG is a 1×1 PNG.
func onePixelPNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// An image's item page shows the image, served under the download
// sandbox, within the page's Content-Security-Policy.
func TestBrowserFilesPreview(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	b, srv := filesBrowser(t, ctx)
	acct, err := srv.auth.AccountByLogin(ctx, "admin@localhost")
	if err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: acct.Login}
	home := mustStat(t, srv, owner, "/Home")
	dot := onePixelPNG(t)
	if _, err := srv.files.Put(ctx, owner, home.ID, "dot.png", bytes.NewReader(dot), int64(len(dot))); err != nil {
		t.Fatal(err)
	}
	b.Navigate("/files/item/Home/dot.png")
	b.WaitPage("/files/item/Home/dot.png", "#preview")
	shown, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`new Promise((ok) => {
		const img = document.querySelector("#preview");
		const done = () => ok(img.naturalWidth === 1);
		if (img.complete) done(); else { img.onload = done; img.onerror = () => ok(false); }
	})`, chromedp.EvalAwaitPromise))
	if err != nil || !shown {
		t.Errorf("the image preview is not shown (%v)", err)
	}
}

// Typing in the share form's field fills its suggestions from the
// party's members and groups.
func TestBrowserFilesSharePicker(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	b, srv := filesBrowser(t, ctx)
	acct, err := srv.auth.AccountByLogin(ctx, "admin@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.AddToGroup(ctx, "", "press", acct.ID); err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: acct.Login}
	if _, err := srv.files.Put(ctx, owner, mustStat(t, srv, owner, "/Home").ID, "plan.txt", bytes.NewReader([]byte("plan")), 4); err != nil {
		t.Fatal(err)
	}
	b.Navigate("/files/item/Home/plan.txt")
	b.WaitPage("/files/item/Home/plan.txt", "#with")
	b.Do("type a group's start", chromedp.SendKeys(chromedp.CSS("#with"), "pr"))
	b.WaitPage("/files/item/Home/plan.txt", `#share-suggest option[value="group:press"]`)
}
