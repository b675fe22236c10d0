package webmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/msgview"
)

// hostile is an HTML message that tries everything: script, event
// handlers, a form, a remote image, CSS that fetches, a meta refresh, a
// javascript: link.
const hostile = "From: Party Leader <leader@outside.example>\r\nTo: anna@example.org\r\nSubject: Hostile\r\n" +
	"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMessage-ID: <hostile@outside.example>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n\r\n" +
	`<html><head><meta http-equiv="refresh" content="0;url=https://evil.example/r"><style>body{background:url(https://evil.example/css)}@import url(https://evil.example/imp.css);</style>` +
	`<script>window.top.location="https://evil.example/script"</script></head>` +
	`<body onload="fetch('https://evil.example/onload')"><p id="hello">Hello Anna</p>` +
	`<img src="https://evil.example/pixel.gif" onerror="fetch('https://evil.example/onerror')">` +
	`<form action="https://evil.example/form" method="post"><input name="pw"><button>Go</button></form>` +
	`<a href="javascript:fetch('https://evil.example/js')">click</a>` +
	`<a href="https://login.evil-party.net/">https://www.mybank.com/login</a>` +
	`<iframe src="https://evil.example/frame"></iframe><object data="https://evil.example/obj"></object>` +
	"</body></html>\r\n"

// withAttachment is a text message with one attachment and one HTML
// attachment a browser would render.
const withAttachment = "From: Treasurer <t@outside.example>\r\nTo: anna@example.org\r\nSubject: Budget\r\n" +
	"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMessage-ID: <budget@outside.example>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the figures.\r\n" +
	"--b\r\nContent-Type: text/csv; name=\"figures.csv\"\r\nContent-Disposition: attachment; filename=\"figures.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYSxiLGMKMSwyLDMK\r\n" +
	"--b\r\nContent-Type: text/html; name=\"evil.html\"\r\nContent-Disposition: attachment; filename=\"evil.html\"\r\n\r\n<script>alert(1)</script>\r\n" +
	"--b--\r\n"

// TestRead: the message page shows the header, marks the message read,
// frames the body under the sandbox, and lists the attachments; the
// frame and the parts are served as their own sandboxed responses.
func TestRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", withAttachment)
	base := msgHref(in.ID, uid)
	res := anna.get(t, base)
	if res.code != 200 {
		t.Fatalf("read: %d", res.code)
	}
	if csp := res.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	for _, want := range []string{"Budget", "Treasurer &lt;t@outside.example&gt;", `src="` + base + `/frame"`, `sandbox="` + msgview.FrameSandbox + `"`, "figures.csv", "evil.html"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if m := anna.messages(t, "INBOX"); !slices.Contains(m[0].Flags, imap.FlagSeen) {
		t.Error("reading did not mark it read")
	}
	fr := anna.get(t, base+"/frame")
	if fr.code != 200 || fr.hdr.Get("Content-Security-Policy") != msgview.FrameCSP || !strings.Contains(fr.body, "See the figures.") || fr.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("frame: %d CSP %q\n%s", fr.code, fr.hdr.Get("Content-Security-Policy"), fr.body)
	}
	for _, part := range []string{"2", "3"} {
		p := anna.get(t, base+"/part/"+part)
		if p.code != 200 || p.hdr.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(p.hdr.Get("Content-Disposition"), "attachment") ||
			p.hdr.Get("Content-Security-Policy") != DownloadCSP {
			t.Errorf("part %s: %d %v", part, p.code, p.hdr)
		}
	}
	if p := anna.get(t, base+"/part/2"); p.body != "a,b,c\n1,2,3\n" {
		t.Errorf("part 2 decoded: %q", p.body)
	}
	for _, bad := range []string{"9", "1.", "x", "1..2", "1.2.3.4.5"} {
		if p := anna.get(t, base+"/part/"+bad); p.code != 404 {
			t.Errorf("part %q: %d", bad, p.code)
		}
	}
}

// TestReadCrossAccount: the message page, its frame and its parts of
// another account's message answer 404.
func TestReadCrossAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", withAttachment)
	ben.put(t, "INBOX", withAttachment) // the same UID in Ben's own INBOX
	base := msgHref(in.ID, uid)
	for _, p := range []string{base, base + "/frame", base + "/part/2"} {
		if res := anna.get(t, p); res.code != 200 {
			t.Errorf("owner: %s: %d", p, res.code)
		}
		if res := ben.get(t, p); res.code != 404 || strings.Contains(res.body, "figures") {
			t.Errorf("another account: %s: %d", p, res.code)
		}
	}
}

// TestReadHostile: nothing of a hostile message survives into the frame
// that could run or fetch, and the page says what was blocked.
func TestReadHostile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", hostile)
	res := anna.get(t, msgHref(in.ID, uid))
	if !strings.Contains(res.body, `id="remote"`) || !strings.Contains(res.body, "leads to") {
		t.Errorf("the page does not say that remote content was blocked or that a link misleads:\n%s", res.body)
	}
	fr := anna.get(t, msgHref(in.ID, uid)+"/frame")
	if !strings.Contains(fr.body, "Hello Anna") {
		t.Fatalf("the text is gone:\n%s", fr.body)
	}
	for _, bad := range []string{"<script", "onload", "onerror", "<form", "javascript:", "evil.example/pixel", "evil.example/css", "http-equiv", "<iframe", "<object", "@import"} {
		if strings.Contains(strings.ToLower(fr.body), bad) {
			t.Errorf("the frame holds %q:\n%s", bad, fr.body)
		}
	}
}

// TestBanner: a message from outside that uses a member's name shows the
// danger banner.
func TestBanner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	msg := "Authentication-Results: mail.example.org; spf=pass smtp.mailfrom=outside.example; dkim=none; dmarc=none header.from=outside.example\r\n" +
		mail(anna.u.Account.DisplayName+" <boss@outside.example>", "anna@"+domain, "Wire money", "now")
	uid := anna.deliver(t, msg)
	res := anna.get(t, msgHref(in.ID, uid))
	if !strings.Contains(res.body, `class="banner danger"`) {
		t.Errorf("no danger banner:\n%s", res.body)
	}
}

// TestReply: the reply form is addressed, threaded and quoted from the
// original; sending it threads it under the original in the
// conversation view.
func TestReply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", "From: Ben <ben@example.org>\r\nTo: anna@example.org, Cleo <cleo@outside.example>\r\nSubject: Leaflets\r\n"+
		"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMessage-ID: <leaf@example.org>\r\n\r\nHow many?\r\n")
	res := anna.get(t, "/mail/compose?reply="+ref2(in, uid)+"&all=1")
	for _, want := range []string{`value="Re: Leaflets"`, "ben@example.org", "cleo@outside.example", "&gt; How many?", `value="&lt;leaf@example.org&gt;"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("reply form lacks %q", want)
		}
	}
	form := url.Values{"do": {"send"}, "from": {"anna@" + domain}, "to": {"ben@" + domain}, "subject": {"Re: Leaflets"}, "body": {"Two hundred."},
		"inreplyto": {"<leaf@example.org>"}, "references": {"<leaf@example.org>"}}
	if res := anna.postMultipart(t, "/mail/send", form, nil); res.code != http.StatusSeeOther {
		t.Fatalf("send reply: %d %s", res.code, res.body)
	}
	got := ben.messages(t, "INBOX")
	if len(got) != 1 || !strings.Contains(ben.raw(t, got[0]), "In-Reply-To: <leaf@example.org>") {
		t.Fatal("the reply did not arrive threaded")
	}
	page := anna.get(t, msgHref(in.ID, uid))
	if !strings.Contains(page.body, `id="thread"`) || !strings.Contains(page.body, fmt.Sprintf(`href="/mail/msg/%d/`, anna.box(t, "Sent").ID)) {
		t.Errorf("the conversation does not show the reply in Sent:\n%s", page.body)
	}
}

// TestReadBadInput: malformed, huge and strange messages all give a page
// (and a frame) with something sensible or a notice: never a 500.
func TestReadBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	var many strings.Builder
	many.WriteString("From: a@outside.example\r\nTo: anna@example.org\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := range 10000 {
		fmt.Fprintf(&many, "--x\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\nContent-Disposition: attachment\r\n\r\n%d\r\n", i, i)
	}
	many.WriteString("--x--\r\n")
	deep := "From: a@outside.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" + strings.Repeat("<div>", 100000) + "deep text" + "\r\n"
	cases := map[string]string{
		"malformed MIME":  "From: a@outside.example\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"nope\r\n\r\n--nope\r\nContent-Type: text/plain\r\n\r\nhalf",
		"8-bit header":    "From: J\xf6rg <j@outside.example>\r\nSubject: Gr\xfc\xdfe \xff\r\n\r\nbody\r\n",
		"unknown charset": "From: a@outside.example\r\nSubject: =?x-klingon?q?Qapla=27?=\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nbody\r\n",
		"bidi subject":    "From: \u202eEvil\u200b <a@outside.example>\r\nSubject: Invoice \u202efdp.exe\r\n\r\nbody\r\n",
		"no header":       "\r\njust a body\r\n",
		"many parts":      many.String(),
		"deep html":       deep,
	}
	var manyUID imap.UID
	for name, raw := range cases {
		uid := anna.put(t, "INBOX", raw)
		if name == "many parts" {
			manyUID = uid
		}
		for _, p := range []string{msgHref(in.ID, uid), msgHref(in.ID, uid) + "/frame", fmt.Sprintf("/mail/box/%d", in.ID)} {
			if res := anna.get(t, p); res.code != 200 {
				t.Errorf("%s: GET %s: %d", name, p, res.code)
			}
		}
	}
	if res := anna.get(t, msgHref(in.ID, manyUID)); !strings.Contains(res.body, "only the first 500 are listed") || strings.Count(res.body, "/part/") > 500 {
		t.Error("10,000 attachments are all listed")
	}
	res := anna.get(t, fmt.Sprintf("/mail/box/%d", in.ID))
	if strings.ContainsRune(res.body, '\u202e') || strings.ContainsRune(res.body, '\u200b') {
		t.Error("the list shows bidi or zero-width characters")
	}
}

// TestKeptAttachments: a draft saved with an attachment lists it when
// opened again and keeps it when sent; an inline forward keeps the
// original's attachments; the automatic save answers with the draft's
// attachments, so the form keeps them.
func TestKeptAttachments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	form := url.Values{"do": {"save"}, "from": {"anna@" + domain}, "to": {"ben@" + domain}, "subject": {"with file"}, "body": {"see file"}}
	res := anna.postMultipart(t, "/mail/send", form, []file{{"minutes.txt", "text/plain", "the minutes"}}, "Accept", "application/json")
	if res.code != 200 || !strings.Contains(res.body, `"name":"minutes.txt"`) {
		t.Fatalf("autosave with a file: %d %s", res.code, res.body)
	}
	d := anna.messages(t, "Drafts")
	dref := ref2(anna.box(t, "Drafts"), d[0].UID)
	page := anna.get(t, "/mail/compose?draft="+dref)
	if !strings.Contains(page.body, "minutes.txt") || !strings.Contains(page.body, `name="keep" value="2"`) {
		t.Fatalf("the draft's attachment is not offered:\n%s", page.body)
	}
	form.Set("do", "send")
	form.Set("draft", dref)
	form.Set("keepfrom", dref)
	form.Set("keep", "2")
	if res := anna.postMultipart(t, "/mail/send", form, nil); res.code != http.StatusSeeOther {
		t.Fatalf("send: %d %s", res.code, res.body)
	}
	got := ben.messages(t, "INBOX")
	if len(got) != 1 || !strings.Contains(ben.raw(t, got[0]), "dGhlIG1pbnV0ZXM=") { // "the minutes"
		t.Fatal("the kept attachment did not go with the message")
	}
	// Ben forwards it inline to Anna, with its attachment.
	bin := ben.box(t, "INBOX")
	page = ben.get(t, "/mail/compose?forward="+ref2(bin, got[0].UID))
	if !strings.Contains(page.body, "Forwarded message") || !strings.Contains(page.body, "minutes.txt") || !strings.Contains(page.body, `value="Fwd: with file"`) {
		t.Fatalf("forward form:\n%s", page.body)
	}
	fw := url.Values{"do": {"send"}, "from": {"ben@" + domain}, "to": {"anna@" + domain}, "subject": {"Fwd: with file"}, "body": {"fyi"},
		"keepfrom": {ref2(bin, got[0].UID)}, "keep": {"2"}}
	if res := ben.postMultipart(t, "/mail/send", fw, nil); res.code != http.StatusSeeOther {
		t.Fatalf("forward: %d %s", res.code, res.body)
	}
	in := anna.messages(t, "INBOX")
	if len(in) != 1 || !hasAttachment(in[0].BodyStructure) {
		t.Error("the forward lost the attachment")
	}
	// A part that is not there is refused, not skipped.
	fw.Set("keep", "7")
	if res := ben.postMultipart(t, "/mail/send", fw, nil); res.code != http.StatusUnprocessableEntity {
		t.Errorf("keeping a part that does not exist: %d", res.code)
	}
}

// TestBannerLevels: outside mail that the MX did not check gets the grey
// banner; a member's message sent within caucus gets none.
func TestBannerLevels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in := anna.box(t, "INBOX")
	outside := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "imported", "x"))
	if res := anna.get(t, msgHref(in.ID, outside)); !strings.Contains(res.body, `class="banner unchecked"`) {
		t.Error("unchecked outside mail has no banner")
	}
	if res := ben.postMultipart(t, "/mail/send", url.Values{"do": {"send"}, "from": {"ben@" + domain}, "to": {"anna@" + domain}, "subject": {"internal"}}, nil); res.code != http.StatusSeeOther {
		t.Fatalf("send: %d", res.code)
	}
	msgs := anna.messages(t, "INBOX")
	if res := anna.get(t, msgHref(in.ID, msgs[len(msgs)-1].UID)); strings.Contains(res.body, `class="banner`) {
		t.Error("a member's message sent within caucus has a banner")
	}
}

// pngMessage is a message with a 20×10 PNG attachment (part 2) and an SVG
// one (part 3).
func pngMessage(t testing.TB) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 20, 10))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return "From: a@outside.example\r\nTo: anna@example.org\r\nSubject: Photo\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee photo\r\n" +
		"--b\r\nContent-Type: image/png; name=\"photo.png\"\r\nContent-Disposition: attachment; filename=\"photo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(b.Bytes()) + "\r\n" +
		"--b\r\nContent-Type: image/svg+xml; name=\"x.svg\"\r\nContent-Disposition: attachment; filename=\"x.svg\"\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>\r\n" +
		"--b--\r\n"
}

// TestPreview: a raster image attachment is shown inline under the
// download sandbox with its own type, never sniffed; an SVG, and another
// account, get 404.
func TestPreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", pngMessage(t))
	page := anna.get(t, msgHref(in.ID, uid))
	if !strings.Contains(page.body, msgHref(in.ID, uid)+"/preview/2") || strings.Contains(page.body, "/preview/3") {
		t.Errorf("preview links: PNG offered, SVG not?\n%s", page.body)
	}
	res := anna.get(t, msgHref(in.ID, uid)+"/preview/2")
	if res.code != 200 || res.hdr.Get("Content-Type") != "image/png" || !strings.HasPrefix(res.hdr.Get("Content-Disposition"), "inline") ||
		res.hdr.Get("Content-Security-Policy") != DownloadCSP || res.hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(res.body, "\x89PNG") {
		t.Errorf("preview: %d %v", res.code, res.hdr)
	}
	if res := anna.get(t, msgHref(in.ID, uid)+"/preview/3"); res.code != 404 {
		t.Errorf("SVG preview: %d", res.code)
	}
	if res := ben.get(t, msgHref(in.ID, uid)+"/preview/2"); res.code != 404 {
		t.Errorf("another account's preview: %d", res.code)
	}
}

// TestCSP: every webmail page keeps caucus's policy (no inline script,
// nothing from elsewhere); the message page only adds frames from caucus
// itself, for the body's sandboxed frame.
func TestCSP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", withAttachment)
	for _, p := range []string{fmt.Sprintf("/mail/box/%d", in.ID), "/mail/compose", "/mail/search?q=budget", "/mail/settings", "/mail/compose?reply=" + ref2(in, uid)} {
		if res := anna.get(t, p); res.code != 200 || res.hdr.Get("Content-Security-Policy") != iweb.ContentSecurityPolicy {
			t.Errorf("%s: %d, CSP %q", p, res.code, res.hdr.Get("Content-Security-Policy"))
		}
	}
	res := anna.get(t, msgHref(in.ID, uid))
	if csp := res.hdr.Get("Content-Security-Policy"); csp != iweb.ContentSecurityPolicy+"; frame-src 'self'" || res.hdr.Get("X-Frame-Options") != "DENY" {
		t.Errorf("message page: CSP %q, X-Frame-Options %q", csp, res.hdr.Get("X-Frame-Options"))
	}
}

// TestAppendedFindings: a message a member APPENDs (IMAP, or any client
// through the store) with an Authentication-Results in this host's name
// is not shown as checked by caucus: the party leader's forged "pass" is
// gone from what webmail reads, and an outside sender's message shows as
// not checked rather than as an outside sender caucus checked.
func TestAppendedFindings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	ar := "Authentication-Results: mail." + domain + "; dmarc=pass header.from=%s; spf=pass smtp.mailfrom=%s; dkim=pass header.d=%s\r\n"
	leader := anna.put(t, "INBOX", fmt.Sprintf(ar, domain, domain, domain)+mail("Party Leader <leader@"+domain+">", "anna@"+domain, "Wire the money today", "now"))
	outside := anna.put(t, "INBOX", fmt.Sprintf(ar, "outside.example", "outside.example", "outside.example")+mail("Treasurer <t@outside.example>", "anna@"+domain, "Figures", "x"))

	msgs, err := e.st.AccountMessages(t.Context(), anna.u.Account.ID, in.ID, []imap.UID{leader})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %v", err)
	}
	v, closer, err := e.h.view(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if f := v.Findings; f.Checked || f.DMARC != "" || f.DKIM != "" || f.SPF != "" || f.Level != msgview.LevelUnchecked {
		t.Errorf("the leader's appended message reads as checked by caucus: %+v", f)
	}
	page := anna.get(t, msgHref(in.ID, outside))
	if page.code != 200 || !strings.Contains(page.body, `class="banner unchecked"`) || strings.Contains(page.body, `class="banner outside"`) {
		t.Errorf("the outside sender's appended message: %d, banner:\n%s", page.code, page.body)
	}
}

// TestThread: a message's conversation gathers, across its mailbox,
// INBOX, Sent and Archive, the messages tied to it by Message-ID,
// In-Reply-To or References (each field searched on its own), and
// nothing else.
func TestThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	hdr := "To: anna@example.org\r\nDate: Mon, 1 Jun 2026 09:00:00 +0000\r\nFrom: Ben <ben@example.org>\r\n"
	first := anna.put(t, "INBOX", hdr+"Subject: Root topic\r\nMessage-ID: <root@example.org>\r\n\r\nx\r\n")
	anna.put(t, "INBOX", hdr+"Subject: Answer by reply-to\r\nMessage-ID: <r1@example.org>\r\nIn-Reply-To: <root@example.org>\r\n\r\nx\r\n")
	anna.put(t, "Archive", hdr+"Subject: Answer by references\r\nMessage-ID: <r2@example.org>\r\nReferences: <root@example.org> <r1@example.org>\r\n\r\nx\r\n")
	anna.put(t, "INBOX", hdr+"Subject: Unrelated\r\nMessage-ID: <other@example.org>\r\nReferences: <elsewhere@example.org>\r\n\r\nx\r\n")
	page := anna.get(t, msgHref(anna.box(t, "INBOX").ID, first))
	i := strings.Index(page.body, `id="thread"`)
	if page.code != 200 || i < 0 {
		t.Fatalf("no conversation: %d", page.code)
	}
	th := page.body[i:]
	for _, want := range []string{"Root topic", "Answer by reply-to", "Answer by references"} {
		if !strings.Contains(th, want) {
			t.Errorf("the conversation lacks %q", want)
		}
	}
	if strings.Contains(th, "Unrelated") {
		t.Error("the conversation holds an unrelated message")
	}
}
