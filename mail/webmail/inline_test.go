package webmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/msgview"
)

// inlineMessage is an HTML newsletter with its pictures inside (RFC 2387
// multipart/related, RFC 2392 cid: URLs): a 20×10 PNG logo (part 1.2),
// an SVG with a script that the HTML also names by cid: (part 1.3), an
// HTML part with a Content-ID (part 1.4) and a PNG attachment without one
// (part 2).
func inlineMessage(t testing.TB, subject string) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 20, 10))); err != nil {
		t.Fatal(err)
	}
	img := base64.StdEncoding.EncodeToString(b.Bytes())
	return "From: News <news@outside.example>\r\nTo: anna@example.org\r\nSubject: " + subject + "\r\n" +
		"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n" +
		"--m\r\nContent-Type: multipart/related; boundary=r\r\n\r\n" +
		"--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p>Our logo: <img src="cid:logo@news" alt="logo"><img src="cid:svg@news"><img src="cid:page@news"></p>` + "\r\n" +
		"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@news>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + img + "\r\n" +
		"--r\r\nContent-Type: image/svg+xml\r\nContent-ID: <svg@news>\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>\r\n" +
		"--r\r\nContent-Type: text/html\r\nContent-ID: <page@news>\r\n\r\n<script>alert(2)</script>\r\n" +
		"--r--\r\n" +
		"--m\r\nContent-Type: image/png; name=\"photo.png\"\r\nContent-Disposition: attachment; filename=\"photo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + img + "\r\n" +
		"--m--\r\n"
}

var inlineSrc = regexp.MustCompile(`src="(/mail/inline/[^"]+)"`)

// frameImages opens a message's page and frame as the browser does and
// returns the frame's response and the image URLs its body names.
func frameImages(t *testing.T, m *member, href string) (response, []string) {
	t.Helper()
	if res := m.get(t, href); res.code != 200 {
		t.Fatalf("%s: %d", href, res.code)
	}
	fr := m.get(t, href+"/frame")
	if fr.code != 200 {
		t.Fatalf("frame: %d", fr.code)
	}
	var urls []string
	for _, s := range inlineSrc.FindAllStringSubmatch(fr.body, -1) {
		urls = append(urls, s[1])
	}
	return fr, urls
}

// fetch requests a URL as the sandboxed frame does: without the session
// cookie (the frame's origin is opaque, so the browser sends none).
func fetch(t *testing.T, e *env, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, req)
}

// TestInlineImages: an HTML message's cid: image is shown from a URL of
// caucus that names the account's session and the message, served as a
// PNG under the download sandbox without a cookie; the frame's policy
// allows exactly that URL. An SVG or HTML part named by cid: gets no URL
// and answers 404 when asked; so do the URL moved to another message,
// another member's message, another part, a forged or expired token, and
// a token of a session that has ended.
func TestInlineImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", inlineMessage(t, "News"))
	other := anna.put(t, "INBOX", inlineMessage(t, "More news"))
	benUID := ben.put(t, "INBOX", inlineMessage(t, "News"))
	benIn := ben.box(t, "INBOX")

	fr, urls := frameImages(t, anna, msgHref(in.ID, uid))
	if len(urls) != 1 {
		t.Fatalf("the frame names %d caucus images, want 1 (the PNG): %q\n%s", len(urls), urls, fr.body)
	}
	u := urls[0]
	if csp := fr.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data: "+e.ts.URL+u+";") || !strings.HasPrefix(csp, "sandbox ") {
		t.Errorf("frame CSP does not allow exactly the image: %q (image %s)", csp, u)
	}
	if strings.Contains(fr.body, "cid:") {
		t.Errorf("a cid: URL is left in the frame:\n%s", fr.body)
	}
	res := fetch(t, e, u)
	if res.code != 200 || res.hdr.Get("Content-Type") != "image/png" || res.hdr.Get("X-Content-Type-Options") != "nosniff" ||
		res.hdr.Get("Content-Security-Policy") != DownloadCSP || !strings.HasPrefix(res.hdr.Get("Content-Disposition"), "inline") ||
		res.hdr.Get("Cross-Origin-Resource-Policy") != "cross-origin" || !strings.HasPrefix(res.body, "\x89PNG") {
		t.Fatalf("the inline image: %d %v", res.code, res.hdr)
	}

	// u is /mail/inline/{mb}/{uid}/{token}/{part}.
	parts := strings.Split(strings.TrimPrefix(u, "/mail/inline/"), "/")
	if len(parts) != 4 || parts[3] != "1.2" {
		t.Fatalf("image URL %s", u)
	}
	tok := parts[2]
	bad := map[string]string{
		"the SVG part":           "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok + "/1.3",
		"the HTML part":          "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok + "/1.4",
		"an attachment":          "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok + "/2",
		"the multipart":          "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok + "/1",
		"another message":        "/mail/inline/" + parts[0] + "/" + itoa(int64(other)) + "/" + tok + "/1.2",
		"Ben's message":          "/mail/inline/" + itoa(benIn.ID) + "/" + itoa(int64(benUID)) + "/" + tok + "/1.2",
		"a forged token":         "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + flip(tok) + "/1.2",
		"a short token":          "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok[:20] + "/1.2",
		"not base64":             "/mail/inline/" + parts[0] + "/" + parts[1] + "/%21%21%21/1.2",
		"a bad part id":          "/mail/inline/" + parts[0] + "/" + parts[1] + "/" + tok + "/1..2",
		"a mailbox not a number": "/mail/inline/x/" + parts[1] + "/" + tok + "/1.2",
	}
	for what, p := range bad {
		if res := fetch(t, e, p); res.code != 404 || strings.Contains(res.body, "PNG") {
			t.Errorf("%s: %d", what, res.code)
		}
		// Nor with a session: the token decides, not the cookie.
		if res := ben.get(t, p); res.code != 404 || strings.Contains(res.body, "PNG") {
			t.Errorf("%s, as Ben: %d", what, res.code)
		}
	}

	// Ben's own view of his copy names his own URL, which Anna's token
	// cannot be swapped into.
	_, benURLs := frameImages(t, ben, msgHref(benIn.ID, benUID))
	if len(benURLs) != 1 || benURLs[0] == u || strings.Contains(benURLs[0], tok) {
		t.Errorf("Ben's frame images %q, Anna's %s", benURLs, u)
	}

	// A token lasts a while, then not.
	e.a.Clock.Advance(inlineTTL + time.Minute)
	if res := fetch(t, e, u); res.code != 404 {
		t.Errorf("expired token: %d", res.code)
	}

	// A fresh one dies with the session that asked for it.
	_, urls = frameImages(t, anna, msgHref(in.ID, other))
	if len(urls) != 1 {
		t.Fatalf("second message: %q", urls)
	}
	if res := fetch(t, e, urls[0]); res.code != 200 {
		t.Fatalf("second message's image: %d", res.code)
	}
	s, err := e.a.Auth.Session(t.Context(), anna.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Auth.EndSession(t.Context(), "test", anna.u.Account.ID, s.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if res := fetch(t, e, urls[0]); res.code != 404 {
		t.Errorf("token of an ended session: %d", res.code)
	}
}

// TestInlineImagesNone: a message without cid: images keeps the
// frame's policy that loads nothing but data: images.
func TestInlineImagesNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", withAttachment)
	fr, urls := frameImages(t, anna, msgHref(in.ID, uid))
	if len(urls) != 0 || fr.hdr.Get("Content-Security-Policy") != msgview.FrameCSP {
		t.Errorf("frame: images %q, CSP %q", urls, fr.hdr.Get("Content-Security-Policy"))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// flip changes one character of a token.
func flip(s string) string {
	b := []byte(s)
	if b[len(b)/2] == 'A' {
		b[len(b)/2] = 'B'
	} else {
		b[len(b)/2] = 'A'
	}
	return string(b)
}

// TestInlineImagesLimit: a frame shows at most maxInlineImages distinct
// cid: images (its policy names each); the rest are dropped, and an image
// named twice is one URL.
func TestInlineImagesLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	img := base64.StdEncoding.EncodeToString(b.Bytes())
	n := maxInlineImages + 5
	var html, parts strings.Builder
	for i := range n {
		fmt.Fprintf(&html, `<img src="cid:i%d@x">`, i)
		fmt.Fprintf(&parts, "--r\r\nContent-Type: image/png\r\nContent-ID: <i%d@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", i, img)
	}
	html.WriteString(`<img src="cid:i0@x">`)
	uid := anna.put(t, "INBOX", "From: a@outside.example\r\nTo: anna@example.org\r\nSubject: Many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=r\r\n\r\n"+
		"--r\r\nContent-Type: text/html\r\n\r\n"+html.String()+"\r\n"+parts.String()+"--r--\r\n")
	fr, urls := frameImages(t, anna, msgHref(in.ID, uid))
	distinct := map[string]bool{}
	for _, u := range urls {
		distinct[u] = true
	}
	csp := fr.hdr.Get("Content-Security-Policy")
	if len(urls) != maxInlineImages+1 || len(distinct) != maxInlineImages || strings.Count(csp, "/mail/inline/") != maxInlineImages {
		t.Errorf("%d images (%d distinct), %d in the policy; want %d distinct", len(urls), len(distinct), strings.Count(csp, "/mail/inline/"), maxInlineImages)
	}
}
