package server

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// phoneCheck runs in a page at phone width and lists what does not fit:
// an element reaching past the screen's edge (the page then scrolls
// sideways, or the element is cut), and a tap target (link, button,
// field, menu, the summary of a details element; a checkbox or radio
// button by its label) smaller than 44×44 CSS px (WCAG 2.5.5). A link
// inside running text is exempt, as WCAG exempts it: its sentence is the
// target's context. Of nested elements too wide, only the outermost is
// named. A table's cell (shown as a card's field) must say its column's
// name (data-label) when its column has one.
const phoneCheck = `(() => {
	const W = document.documentElement.clientWidth, out = [];
	const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
		(typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : "") +
		(e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : "") + (e.getAttribute("name") ? "[name=" + e.getAttribute("name") + "]" : "") +
		(e.textContent.trim() ? " «" + e.textContent.trim().slice(0, 30) + "»" : "");
	const shown = e => { const s = getComputedStyle(e), r = e.getBoundingClientRect(); return s.visibility !== "hidden" && s.display !== "none" && r.width > 0 && r.height > 0; };
	const wide = e => { const r = e.getBoundingClientRect(); return r.right > W + 0.5 || r.left < -0.5; };
	if (document.documentElement.scrollWidth > W) out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " px wide on a " + W + " px screen");
	for (const e of document.body.querySelectorAll("*")) {
		if (shown(e) && wide(e) && !(e.parentElement && wide(e.parentElement))) {
			const r = e.getBoundingClientRect();
			out.push("wider than the screen (" + Math.round(r.left) + " to " + Math.round(r.right) + " px): " + name(e));
		}
	}
	for (const t of document.querySelectorAll("table")) {
		const head = Array.from(t.querySelectorAll("tr")).find(tr => tr.querySelector("th"));
		if (!head) continue;
		const named = Array.from(head.children).map(th => th.textContent.trim() !== "");
		const td = Array.from(t.querySelectorAll("td:not([colspan])")).find(td => shown(td) && named[td.cellIndex] && !td.dataset.label);
		if (td) out.push("a card's field without its column's name, in table " + name(t).slice(0, 40) + ": " + name(td));
	}
	const inText = a => Array.from(a.parentElement ? a.parentElement.childNodes : []).some(n => n.nodeType === 3 && /\p{L}{2,}/u.test(n.textContent));
	for (const e of document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, summary")) {
		let t = e;
		if ((e.type === "checkbox" || e.type === "radio") && e.closest("label")) t = e.closest("label");
		if (!shown(t) || (e.tagName === "A" && inText(e))) continue;
		const r = t.getBoundingClientRect();
		if (r.width < 43.99 || r.height < 43.99) out.push("tap target " + Math.round(r.width) + "×" + Math.round(r.height) + " px: " + name(e));
	}
	return out;
})()`

// TestPhoneLayout: every main page, at the width of a small phone (360
// CSS px), fits the screen (tables become labelled cards) and has tap
// targets of at least 44×44 px: sign-in, a public link's page, enrolment and recovery codes,
// the step-up, webmail (list, message, compose,
// settings, search), files (list, item, shares, links, trash, connect),
// the account page (factors, app passwords, sessions), the phone set-up,
// and the console (dashboard, People, a person, offboarding plan, groups,
// role mailboxes, audit log, a report, an import's check, exports).
func TestPhoneLayout(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	const login = "admin@localhost"
	party(t, ctx, srv)
	inbox := "/mail/box/" + strconv.FormatInt(fillInbox(t, ctx, srv, login), 10)
	fillFiles(t, ctx, srv, login)
	leaver, err := srv.auth.AccountByLogin(ctx, "marco.bianchi@localhost")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := srv.ops.Suspend(ctx, admin.Actor{Login: login}, leaver.ID)
	if err != nil {
		t.Fatal(err)
	}

	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	press, err := srv.ops.CreateRole(ctx, admin.Actor{Login: login}, "press@localhost", "Ufficio stampa")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ops.GrantRole(ctx, admin.Actor{Login: login}, press.ID, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: login}
	token, _, err := srv.files.CreateLink(ctx, owner, mustStat(t, srv, owner, "/Home").ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, ctx, srv)
	b.AddAuthenticator(browsertest.PlatformPasskey())
	b.Do("phone screen", chromedp.EmulateViewport(360, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile))
	pages := []struct{ path, ready string }{{"/login", "#passkey"}, {"/s/" + token, "main"}}
	b.checkPhone(pages)
	b.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	b.checkHere("/enrol")
	b.register("#addpasskey", "Phone passkey")
	b.recoveryCodes()
	b.checkHere("/enrol/recovery")
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later")
	id := strconv.FormatInt(leaver.ID, 10)
	pages = []struct{ path, ready string }{
		{"/setup/phone", "#later"},
		{inbox, "#rows"},
		{b.messageHref(inbox, "Richiesta di incontro"), "#banner"},
		{"/mail/compose", "#body"},
		{"/mail/settings", "main"},
		{"/mail/search?q=assemblea", "main"},
		{"/files/p/Home", "#entries"},
		{"/files/item/Home/Volantino%20elezioni.pdf", "main"},
		{"/files/shares", "main"},
		{"/files/links", "main"},
		{"/files/trash", "main"},
		{"/files/connect", "main"},
		{"/account", "#factors"},
		{"/admin", "#members"},
		{"/admin/people", "#people"},
		{"/admin/people/" + id, "#state"},
		{"/admin/people/" + id + "/offboard?plan=1&links=move&retain=30", "#plan"},
		{"/admin/groups", "main"},
		{"/admin/roles", "main"},
		{"/admin/audit", "#records"},
		{"/admin/reports/" + strconv.FormatInt(rep.ID, 10), "#steps"},
		{"/admin/exports", "main"},
		{"/reauth?next=/admin", "main"},
	}
	b.checkPhone(pages)
	b.checkImport(t)
	b.checkDesktop([]string{"/admin/people", "/admin/audit", "/files/p/Home", "/account"})
}

// desktopCheck lists the tables cut at their card's edge on a desktop: a
// scrolling box (.scroll) whose content is wider than the box.
const desktopCheck = `Array.from(document.querySelectorAll(".scroll")).filter(e => e.scrollWidth > e.clientWidth + 0.5).map(e => (e.firstElementChild ? e.firstElementChild.id : "") + ": " + e.scrollWidth + " px of content in " + e.clientWidth + " px")`

// checkDesktop opens each page on a desktop and a tablet (1280 and 800
// px wide) and reports the tables cut at the edge of their card (the
// People page's Groups column was).
func (b *browser) checkDesktop(paths []string) {
	b.T.Helper()
	for _, w := range []int64{1280, 800} {
		b.Do("screen", chromedp.EmulateViewport(w, 800))
		for _, p := range paths {
			b.Navigate(p)
			b.WaitPrefix(p, "main")
			cut, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](desktopCheck))
			if err != nil {
				b.T.Fatalf("%s: %v", p, err)
			}
			for _, c := range cut {
				b.T.Errorf("%s at %d px: a table is cut at its card's edge: %s", p, w, c)
			}
		}
	}
}

// messageHref is the path of the message with subject in the list at box.
func (b *browser) messageHref(box, subject string) string {
	b.T.Helper()
	b.Navigate(box)
	b.WaitPage(box, "#rows")
	href, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(Array.from(document.querySelectorAll("#rows a")).find(a => a.textContent.includes(`+strconv.Quote(subject)+`)) || {}).getAttribute?.("href") || ""`))
	if err != nil || !strings.HasPrefix(href, "/") {
		b.T.Fatalf("no message %q in %s (%q, %v)", subject, box, href, err)
	}
	return href
}

// checkPhone opens each page and reports what phoneCheck finds.
func (b *browser) checkPhone(pages []struct{ path, ready string }) {
	b.T.Helper()
	for _, p := range pages {
		b.Navigate(p.path)
		path, _, _ := strings.Cut(p.path, "?")
		b.WaitPrefix(path, p.ready)
		b.checkHere(p.path)
	}
}

// checkHere reports what phoneCheck finds on the page shown.
func (b *browser) checkHere(what string) {
	b.T.Helper()
	found, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](phoneCheck))
	if err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
	for _, f := range found {
		b.T.Errorf("%s at 360 px: %s", what, f)
	}
}

// checkImport uploads a CSV file with a bad row to the People page and
// checks the import's check page, a table of rows.
func (b *browser) checkImport(t *testing.T) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "people.csv")
	data := "address,name,role,groups\nnew.person@localhost,New Person,member,campagna\nnot an address,Someone,boss,\n"
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Navigate("/admin/people")
	b.WaitPage("/admin/people", "#importpreview")
	b.Do("check a CSV file", chromedp.SetUploadFiles("#file", []string{f}), chromedp.Click("#importpreview"))
	b.WaitPage("/admin/invites/csv", "#rows")
	b.checkHere("the import's check")
}
