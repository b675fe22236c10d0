package fileweb

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// env is the file pages over a real store, auth service and database,
// served over TLS on 127.0.0.1.
type env struct {
	auth  *authtest.Env
	store *files.Store
	h     *Handler
	ts    *httptest.Server
}

func newEnv(t testing.TB, opts files.Options) *env { return newEnvLimit(t, opts, 4<<20) }

// newEnvLimit is newEnv with the upload routes' body bound; setup, if
// given, adjusts the HTTP server before it starts.
func newEnvLimit(t testing.TB, opts files.Options, maxUpload int64, setup ...func(*http.Server)) *env {
	t.Helper()
	return newEnvHandler(t, opts, maxUpload, nil, setup...)
}

// newEnvHandler is newEnvLimit with hs, if not nil, adjusting the
// handler before the server starts.
func newEnvHandler(t testing.TB, opts files.Options, maxUpload int64, hs func(*Handler), setup ...func(*http.Server)) *env {
	t.Helper()
	return newEnvLogin(t, opts, maxUpload, hs, nil, setup...)
}

// newEnvLogin is newEnvHandler with options for the sign-in pages (the
// party's name and language).
func newEnvLogin(t testing.TB, opts files.Options, maxUpload int64, hs func(*Handler), lopts []login.Option, setup ...func(*http.Server)) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, files.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = a.Clock.Now
	st := files.New(a.DB, blobs, opts, files.Deps{Auth: a.Auth, Audit: a.Audit, Log: log})
	pages, err := login.New(a.Auth, log, lopts...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(st, a.Auth, pages, log)
	if err != nil {
		t.Fatal(err)
	}
	h.maxUpload = maxUpload
	if hs != nil {
		hs(h)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(iweb.Secure(mux, 1<<20))
	for _, f := range setup {
		f(ts.Config)
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &env{auth: a, store: st, h: h, ts: ts}
}

// response is what a test reads of an answer.
type response struct {
	code int
	loc  string
	hdr  http.Header
	body string
}

// agent is one browser: a cookie jar (for link passwords) and, when
// signed in, a session.
type agent struct {
	e    *env
	u    *authtest.User
	jar  http.CookieJar
	from string // the loopback address it connects from; "" for any
}

func (e *env) agent(u *authtest.User) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{e: e, u: u, jar: jar}
}

func (c *agent) do(t testing.TB, req *http.Request) response {
	t.Helper()
	if c.u != nil {
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: c.u.Session})
	}
	cl := c.e.ts.Client()
	if c.from != "" {
		tr := cl.Transport.(*http.Transport).Clone()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}}
		tr.DialContext = d.DialContext
		cl = &http.Client{Transport: tr}
	}
	cl.Jar = c.jar
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), res.Header, string(b)}
}

func (c *agent) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", c.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.do(t, req)
}

// post sends a form; the session's CSRF token is added unless the form
// has a "csrf" already (an empty one sends none).
func (c *agent) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.u != nil {
		form.Set("csrf", c.csrf(t))
	}
	if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(t, req)
}

func (c *agent) csrf(t testing.TB) string {
	t.Helper()
	s, err := c.e.auth.Auth.Session(t.Context(), c.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

// upload sends files (name → content) as the page's form does, with the
// token first (token "" sends none); tokenLast puts it after the files.
func (c *agent) upload(t testing.TB, path, token string, tokenLast bool, fs ...[2]string) response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if token != "" && !tokenLast {
		mw.WriteField("csrf", token)
	}
	for _, f := range fs {
		w, _ := mw.CreateFormFile("file", f[0])
		io.WriteString(w, f[1])
	}
	if token != "" && tokenLast {
		mw.WriteField("csrf", token)
	}
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.e.ts.URL+path, &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(t, req)
}

func (e *env) user(t testing.TB, login string, role auth.Role) *agent {
	return e.agent(e.auth.User(t, login, role))
}

func actorOf(c *agent) files.Actor {
	return files.Actor{ID: c.u.Account.ID, Login: c.u.Account.Login}
}

// exists reports whether path is in c's view of the store.
func (c *agent) exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := c.e.store.Stat(t.Context(), actorOf(c), path)
	return err == nil
}

func want(t testing.TB, what string, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: HTTP %d, want %d (location %q)\n%s", what, r.code, code, r.loc, r.body)
	}
}

func TestSignedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	v := e.agent(nil)
	for _, p := range []string{"/files/", "/files/p/Home", "/files/dl/Home/x", "/files/trash", "/files/links", "/files/admin/links"} {
		r := v.get(t, p)
		if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
			t.Errorf("signed out GET %s: %d %q, want a redirect to /login", p, r.code, r.loc)
		}
	}
	r := v.upload(t, "/files/upload/Home", "x", false, [2]string{"a.txt", "a"})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("signed out upload: %d %q, want a redirect to /login", r.code, r.loc)
	}
	want(t, "unknown link", v.get(t, "/s/AAAAAAAAAAAAAAAAAAAAAA"), http.StatusNotFound)
	want(t, "overlong link", v.get(t, "/s/"+strings.Repeat("A", 100)), http.StatusNotFound)
}

func TestUploadDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "home", anna.get(t, "/files/p/Home"), http.StatusOK)
	want(t, "root redirect", anna.get(t, "/files/"), http.StatusSeeOther)

	big := make([]byte, 300<<10)
	rand.Read(big)
	r := anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"Plan Köln #1.txt", "plan"}, [2]string{"page.html", "<script>alert(1)</script>"}, [2]string{"big.bin", string(big)})
	want(t, "upload", r, http.StatusSeeOther)
	if r.loc != "/files/p/Home" {
		t.Errorf("upload went to %q", r.loc)
	}
	page := anna.get(t, "/files/p/Home").body
	for _, href := range []string{`/files/item/Home/Plan%20K%C3%B6ln%20%231.txt`, `/files/item/Home/page.html`, `/files/item/Home/big.bin`} {
		if !strings.Contains(page, `href="`+href+`"`) {
			t.Errorf("folder page has no link %s:\n%s", href, page)
		}
	}

	d := anna.get(t, "/files/dl/Home/page.html")
	want(t, "download", d, http.StatusOK)
	for k, v := range map[string]string{
		"Content-Type":            "application/octet-stream",
		"Content-Disposition":     `attachment; filename="page.html"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
	} {
		if got := d.hdr.Get(k); got != v {
			t.Errorf("download %s: %q, want %q", k, got, v)
		}
	}
	if d.body != "<script>alert(1)</script>" {
		t.Errorf("download body %q", d.body)
	}
	d = anna.get(t, "/files/dl/Home/Plan%20K%C3%B6ln%20%231.txt")
	if d.body != "plan" || d.hdr.Get("Content-Disposition") != `attachment; filename="Plan K_ln #1.txt"; filename*=UTF-8''Plan%20K%C3%B6ln%20#1.txt` {
		t.Errorf("download of a Unicode name: %q, %q", d.hdr.Get("Content-Disposition"), d.body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/files/dl/Home/big.bin", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	d = anna.do(t, req)
	want(t, "range", d, http.StatusPartialContent)
	if d.body != string(big[1000:2000]) {
		t.Error("range request returned other bytes")
	}
	d = anna.get(t, "/files/dl/Home/big.bin")
	if d.body != string(big) {
		t.Errorf("download of %d bytes returned %d other bytes", len(big), len(d.body))
	}
	want(t, "download a folder", anna.get(t, "/files/dl/Home"), http.StatusBadRequest)
	want(t, "download nothing", anna.get(t, "/files/dl/Home/none.txt"), http.StatusNotFound)
	want(t, "path escape", anna.get(t, "/files/dl/Home/..%2F..%2Fetc/passwd"), http.StatusNotFound)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload without token", anna.upload(t, "/files/upload/Home", "", false, [2]string{"a.txt", "a"}), http.StatusForbidden)
	want(t, "upload with a wrong token", anna.upload(t, "/files/upload/Home", "nope", false, [2]string{"a.txt", "a"}), http.StatusForbidden)
	want(t, "upload with the token after the file", anna.upload(t, "/files/upload/Home", anna.csrf(t), true, [2]string{"a.txt", "a"}), http.StatusForbidden)
	if anna.exists(t, "/Home/a.txt") {
		t.Fatal("an upload without a valid token stored a file")
	}
	want(t, "mkdir without token", anna.post(t, "/files/mkdir/Home", url.Values{"csrf": {""}, "name": {"x"}}), http.StatusForbidden)
	if anna.exists(t, "/Home/x") {
		t.Fatal("mkdir without a token made a folder")
	}
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"x"}}), http.StatusSeeOther)
	for _, p := range []string{"/files/rename/Home/x", "/files/move/Home/x", "/files/delete/Home/x", "/files/share/Home/x", "/files/link/Home/x", "/files/trash/1/restore", "/files/shares/1/undo", "/files/links/1/revoke"} {
		want(t, p+" without token", anna.post(t, p, url.Values{"csrf": {""}, "name": {"y"}, "to": {"Home"}, "with": {"group:x"}, "days": {"1"}}), http.StatusForbidden)
	}
	if !anna.exists(t, "/Home/x") {
		t.Fatal("a request without a token changed the folder")
	}
	// A cross-site form is refused before anything reads it.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/files/mkdir/Home", strings.NewReader(url.Values{"csrf": {anna.csrf(t)}, "name": {"z"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	want(t, "cross-site mkdir", anna.do(t, req), http.StatusForbidden)
}

func TestFolderActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Plans"}}), http.StatusSeeOther)
	want(t, "mkdir again", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Plans"}}), http.StatusConflict)
	want(t, "mkdir bad name", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"CON"}}), http.StatusBadRequest)
	want(t, "mkdir archive", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Archive"}}), http.StatusSeeOther)
	want(t, "upload", anna.upload(t, "/files/upload/Home/Plans", anna.csrf(t), false, [2]string{"a.txt", "v1"}), http.StatusSeeOther)
	want(t, "upload v2", anna.upload(t, "/files/upload/Home/Plans", anna.csrf(t), false, [2]string{"a.txt", "v2"}), http.StatusSeeOther)

	item := anna.get(t, "/files/item/Home/Plans/a.txt")
	want(t, "item page", item, http.StatusOK)
	m := regexp.MustCompile(`name="v" value="(\d+)"`).FindStringSubmatch(item.body)
	if m == nil {
		t.Fatalf("item page shows no older version:\n%s", item.body)
	}
	want(t, "restore version", anna.post(t, "/files/restore-version/Home/Plans/a.txt", url.Values{"v": {m[1]}}), http.StatusOK)
	if b := anna.get(t, "/files/dl/Home/Plans/a.txt").body; b != "v1" {
		t.Errorf("after restoring the first version the file reads %q", b)
	}
	if b := anna.get(t, "/files/dl/Home/Plans/a.txt?v="+m[1]).body; b != "v1" {
		t.Errorf("old version reads %q", b)
	}

	want(t, "rename", anna.post(t, "/files/rename/Home/Plans/a.txt", url.Values{"name": {"b.txt"}}), http.StatusSeeOther)
	want(t, "move", anna.post(t, "/files/move/Home/Plans/b.txt", url.Values{"to": {"Home/Archive"}}), http.StatusSeeOther)
	want(t, "move into nowhere", anna.post(t, "/files/move/Home/Archive/b.txt", url.Values{"to": {"Home/../Groups"}}), http.StatusNotFound)
	want(t, "move folder into itself", anna.post(t, "/files/move/Home/Archive", url.Values{"to": {"Home/Archive"}}), http.StatusBadRequest)
	if !anna.exists(t, "/Home/Archive/b.txt") || anna.exists(t, "/Home/Plans/a.txt") {
		t.Fatal("rename and move did not land")
	}
	want(t, "delete", anna.post(t, "/files/delete/Home/Archive/b.txt", nil), http.StatusSeeOther)
	if anna.exists(t, "/Home/Archive/b.txt") {
		t.Fatal("deleted file still there")
	}
	trash := anna.get(t, "/files/trash")
	m = regexp.MustCompile(`action="/files/trash/(\d+)/restore"`).FindStringSubmatch(trash.body)
	if m == nil || !strings.Contains(trash.body, "b.txt") {
		t.Fatalf("trash does not list b.txt:\n%s", trash.body)
	}
	want(t, "restore", anna.post(t, "/files/trash/"+m[1]+"/restore", nil), http.StatusSeeOther)
	if !anna.exists(t, "/Home/Archive/b.txt") {
		t.Fatal("restored file is not back")
	}
}

func TestOtherMembersFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"secret.txt", "s3cret"}), http.StatusSeeOther)
	// Ben's Home is his own; nothing names Anna's.
	want(t, "ben download", ben.get(t, "/files/dl/Home/secret.txt"), http.StatusNotFound)
	want(t, "ben item", ben.get(t, "/files/item/Home/secret.txt"), http.StatusNotFound)
	want(t, "ben shared", ben.get(t, "/files/dl/Shared/anna@example.org/secret.txt"), http.StatusNotFound)
	n, err := e.store.Stat(t.Context(), actorOf(anna), "/Home/secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Anna's own link ids and trash ids are not Ben's to use.
	want(t, "ben link", ben.post(t, "/files/link/Home/secret.txt", url.Values{"days": {"1"}}), http.StatusNotFound)

	// Shared read-only, Ben may read but not change.
	want(t, "share", anna.post(t, "/files/share/Home/secret.txt", url.Values{"with": {"ben@example.org"}, "mode": {"read"}}), http.StatusSeeOther)
	shares := anna.get(t, "/files/shares")
	m := regexp.MustCompile(`action="/files/shares/(\d+)/undo"`).FindStringSubmatch(shares.body)
	if m == nil || !strings.Contains(shares.body, "ben@example.org") {
		t.Fatalf("shares page:\n%s", shares.body)
	}
	sh, err := e.store.Stat(t.Context(), actorOf(ben), "/Shared/anna@example.org/secret.txt")
	if err != nil {
		t.Fatalf("ben does not see the share: %v (node %d)", err, n.ID)
	}
	p := "/files/dl" + escapePath(sh.Path)
	if r := ben.get(t, p); r.code != http.StatusOK || r.body != "s3cret" {
		t.Fatalf("ben reads the share: %d %q", r.code, r.body)
	}
	want(t, "ben renames read-only", ben.post(t, "/files/rename"+escapePath(sh.Path), url.Values{"name": {"mine.txt"}}), http.StatusForbidden)
	want(t, "ben deletes read-only", ben.post(t, "/files/delete"+escapePath(sh.Path), nil), http.StatusForbidden)
	want(t, "ben undoes anna's share", ben.post(t, "/files/shares/"+m[1]+"/undo", nil), http.StatusNotFound)
	want(t, "anna undoes", anna.post(t, "/files/shares/"+m[1]+"/undo", nil), http.StatusSeeOther)
	want(t, "ben after undo", ben.get(t, p), http.StatusNotFound)
	want(t, "share with nobody", anna.post(t, "/files/share/Home/secret.txt", url.Values{"with": {"nobody"}}), http.StatusBadRequest)
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	if err := e.store.SetQuota(t.Context(), "admin", anna.u.Account.ID, 1000); err != nil {
		t.Fatal(err)
	}
	r := anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"big.bin", strings.Repeat("x", 5000)})
	want(t, "upload over quota", r, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.body, "quota") {
		t.Errorf("quota refusal does not say so:\n%s", r.body)
	}
	if anna.exists(t, "/Home/big.bin") {
		t.Fatal("an upload over quota left a file")
	}
	// With the size announced (as the page's script does) the refusal
	// comes before the file is read; a wrong size keeps nothing.
	for _, tc := range []struct {
		size string
		code int
	}{{"5000", http.StatusRequestEntityTooLarge}, {"10", http.StatusBadRequest}} {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("csrf", anna.csrf(t))
		mw.WriteField("size", tc.size)
		w, _ := mw.CreateFormFile("file", "sized.bin")
		io.WriteString(w, strings.Repeat("x", 500))
		mw.Close()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/files/upload/Home", &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		r := anna.do(t, req)
		want(t, "upload announcing "+tc.size+" bytes", r, tc.code)
		if !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/json") || !strings.Contains(r.body, `"error"`) {
			t.Errorf("script upload refusal is not JSON: %s", r.body)
		}
		if anna.exists(t, "/Home/sized.bin") {
			t.Fatalf("upload announcing %s bytes left a file", tc.size)
		}
	}
	// And the body bound of the upload route.
	r = anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"huge.bin", strings.Repeat("x", 5<<20)})
	want(t, "upload over the request bound", r, http.StatusRequestEntityTooLarge)
}

// makeLink creates a link to path with form and returns its token.
func makeLink(t testing.TB, c *agent, path string, form url.Values) string {
	t.Helper()
	r := c.post(t, "/files/link/"+path, form)
	want(t, "make link", r, http.StatusOK)
	m := regexp.MustCompile(`/s/([A-Za-z0-9_-]+)<`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no link on the page:\n%s", r.body)
	}
	if len(m[1]) < 22 {
		t.Fatalf("token %q has fewer than 128 bits", m[1])
	}
	return m[1]
}

func TestLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"flyer.pdf", "%PDF flyer"}), http.StatusSeeOther)
	v := e.agent(nil)

	// Limits of the form.
	want(t, "no expiry", anna.post(t, "/files/link/Home/flyer.pdf", url.Values{"days": {""}}), http.StatusBadRequest)
	want(t, "expiry too long", anna.post(t, "/files/link/Home/flyer.pdf", url.Values{"days": {"91"}}), http.StatusBadRequest)
	want(t, "drop on a file", anna.post(t, "/files/link/Home/flyer.pdf", url.Values{"days": {"1"}, "kind": {"drop"}}), http.StatusBadRequest)
	want(t, "negative limit", anna.post(t, "/files/link/Home/flyer.pdf", url.Values{"days": {"1"}, "limit": {"-1"}}), http.StatusBadRequest)

	// A two-download link.
	tok := makeLink(t, anna, "Home/flyer.pdf", url.Values{"days": {"7"}, "limit": {"2"}})
	page := v.get(t, "/s/"+tok)
	want(t, "link page", page, http.StatusOK)
	if !strings.Contains(page.body, "flyer.pdf") || !strings.Contains(page.body, `href="/s/`+tok+`/dl"`) {
		t.Errorf("link page:\n%s", page.body)
	}
	head, _ := http.NewRequestWithContext(t.Context(), "HEAD", e.ts.URL+"/s/"+tok+"/dl", nil)
	if r := v.do(t, head); r.code != http.StatusOK || r.hdr.Get("Content-Length") != "10" || r.hdr.Get("Content-Security-Policy") != DownloadCSP {
		t.Errorf("HEAD of a link: %d %v", r.code, r.hdr)
	}
	for i := range 2 { // the HEAD used up none of the two
		r := e.agent(nil) // two recipients: one address's repeats count once (TestLinkRanges)
		r.from = "127.0.0." + strconv.Itoa(i+2)
		d := r.get(t, "/s/"+tok+"/dl")
		want(t, "link download", d, http.StatusOK)
		if d.body != "%PDF flyer" || d.hdr.Get("Content-Security-Policy") != DownloadCSP || !strings.HasPrefix(d.hdr.Get("Content-Disposition"), "attachment;") || d.hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("download %d: %q %v", i, d.body, d.hdr)
		}
	}
	want(t, "exhausted link", v.get(t, "/s/"+tok+"/dl"), http.StatusGone)
	want(t, "exhausted link page", v.get(t, "/s/"+tok), http.StatusGone)

	// Revoked at once.
	tok = makeLink(t, anna, "Home/flyer.pdf", url.Values{"days": {"7"}})
	want(t, "live link", v.get(t, "/s/"+tok+"/dl"), http.StatusOK)
	links := anna.get(t, "/files/links")
	m := regexp.MustCompile(`action="/files/links/(\d+)/revoke"`).FindAllStringSubmatch(links.body, -1)
	if len(m) != 1 {
		t.Fatalf("links page offers %d revocations, want 1 (one link used up):\n%s", len(m), links.body)
	}
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	want(t, "ben revokes anna's link", ben.post(t, "/files/links/"+m[0][1]+"/revoke", nil), http.StatusNotFound)
	want(t, "revoke", anna.post(t, "/files/links/"+m[0][1]+"/revoke", nil), http.StatusSeeOther)
	r := v.get(t, "/s/"+tok+"/dl")
	want(t, "revoked link", r, http.StatusGone)
	if strings.Contains(r.body, "flyer") {
		t.Errorf("revoked link page shows the file:\n%s", r.body)
	}

	// Suspended in an incident: not found until resumed.
	tok = makeLink(t, anna, "Home/flyer.pdf", url.Values{"days": {"7"}})
	if _, err := e.store.SuspendPublicLinks(t.Context(), "boss@example.org"); err != nil {
		t.Fatal(err)
	}
	want(t, "suspended link", v.get(t, "/s/"+tok+"/dl"), http.StatusNotFound)
	if _, err := e.store.ResumePublicLinks(t.Context(), "boss@example.org"); err != nil {
		t.Fatal(err)
	}
	want(t, "resumed link", v.get(t, "/s/"+tok+"/dl"), http.StatusOK)

	// Expired after its days.
	tok = makeLink(t, anna, "Home/flyer.pdf", url.Values{"days": {"1"}})
	want(t, "fresh link", v.get(t, "/s/"+tok), http.StatusOK)
	e.auth.Clock.Advance(24*time.Hour + time.Minute)
	want(t, "expired link", v.get(t, "/s/"+tok+"/dl"), http.StatusGone)
	want(t, "expired link page", v.get(t, "/s/"+tok), http.StatusGone)
}

func TestLinkPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"list.csv", "names"}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/list.csv", url.Values{"days": {"3"}, "password": {"harbour-lantern"}})
	v := e.agent(nil)
	page := v.get(t, "/s/"+tok)
	want(t, "password page", page, http.StatusOK)
	if strings.Contains(page.body, "list.csv") || !strings.Contains(page.body, `id="linkpw"`) {
		t.Errorf("a locked link shows more than the password form:\n%s", page.body)
	}
	if r := v.get(t, "/s/"+tok+"/dl"); r.code != http.StatusSeeOther || r.body == "names" {
		t.Errorf("download without the password: %d %q", r.code, r.body)
	}
	want(t, "wrong password", v.post(t, "/s/"+tok, url.Values{"password": {"guess"}}), http.StatusForbidden)
	want(t, "still locked", v.get(t, "/s/"+tok+"/dl"), http.StatusSeeOther)
	want(t, "right password", v.post(t, "/s/"+tok, url.Values{"password": {"harbour-lantern"}}), http.StatusSeeOther)
	if r := v.get(t, "/s/"+tok+"/dl"); r.code != http.StatusOK || r.body != "names" {
		t.Errorf("download after the password: %d %q", r.code, r.body)
	}
	// Another visitor's cookie-less request is still locked.
	want(t, "other visitor", e.agent(nil).get(t, "/s/"+tok+"/dl"), http.StatusSeeOther)

	// Guessing is slowed down: after the free failures, even the right
	// password waits.
	g := e.agent(nil)
	throttled := false
	for i := 0; i < 10 && !throttled; i++ {
		r := g.post(t, "/s/"+tok, url.Values{"password": {"guess"}})
		if r.code != http.StatusForbidden && r.code != http.StatusTooManyRequests {
			t.Fatalf("guess %d: HTTP %d", i, r.code)
		}
		throttled = r.code == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("10 wrong passwords in a row were never throttled")
	}
	r := g.post(t, "/s/"+tok, url.Values{"password": {"harbour-lantern"}})
	want(t, "throttled right password", r, http.StatusTooManyRequests)
	if r.hdr.Get("Retry-After") == "" {
		t.Error("throttled answer has no Retry-After")
	}
	recs, err := e.auth.Audit.List(t.Context(), audit.Filter{Account: "anna@example.org", Kind: "files.link.password"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 7 {
		t.Errorf("audit log has %d wrong link passwords, want at least 7", len(recs))
	}
}

func TestDropLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Inbox"}}), http.StatusSeeOther)
	want(t, "upload", anna.upload(t, "/files/upload/Home/Inbox", anna.csrf(t), false, [2]string{"private.txt", "do not show"}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/Inbox", url.Values{"days": {"7"}, "kind": {"drop"}})
	v := e.agent(nil)
	page := v.get(t, "/s/"+tok)
	want(t, "drop page", page, http.StatusOK)
	if strings.Contains(page.body, "private.txt") || !strings.Contains(page.body, `action="/s/`+tok+`/upload"`) {
		t.Errorf("drop page:\n%s", page.body)
	}
	want(t, "drop download", v.get(t, "/s/"+tok+"/dl"), http.StatusNotFound)
	r := v.upload(t, "/s/"+tok+"/upload", "", false, [2]string{"report.txt", "from outside"}, [2]string{"private.txt", "overwrite?"})
	want(t, "drop upload", r, http.StatusOK)
	if b := anna.get(t, "/files/dl/Home/Inbox/report.txt").body; b != "from outside" {
		t.Errorf("dropped file reads %q", b)
	}
	if b := anna.get(t, "/files/dl/Home/Inbox/private.txt").body; b != "do not show" {
		t.Errorf("a drop replaced a file: %q", b)
	}
	// A download link cannot receive.
	tok2 := makeLink(t, anna, "Home/Inbox", url.Values{"days": {"7"}})
	want(t, "upload to a download link", v.upload(t, "/s/"+tok2+"/upload", "", false, [2]string{"x.txt", "x"}), http.StatusNotFound)
	if anna.exists(t, "/Home/Inbox/x.txt") {
		t.Fatal("a download link received a file")
	}
	// The folder link lists and serves the files inside.
	list := v.get(t, "/s/"+tok2)
	m := regexp.MustCompile(`href="/s/`+tok2+`/f/(\d+)"`).FindAllStringSubmatch(list.body, -1)
	if len(m) != 3 { // private.txt, report.txt and the drop's "private (2).txt"
		t.Fatalf("folder link lists %d files, want 3:\n%s", len(m), list.body)
	}
	want(t, "folder link file", v.get(t, "/s/"+tok2+"/f/"+m[0][1]), http.StatusOK)

	// A folder inside opens through the link; nothing outside it does.
	want(t, "mkdir sub", anna.post(t, "/files/mkdir/Home/Inbox", url.Values{"name": {"Sub"}}), http.StatusSeeOther)
	want(t, "upload to sub", anna.upload(t, "/files/upload/Home/Inbox/Sub", anna.csrf(t), false, [2]string{"deep.txt", "deep"}), http.StatusSeeOther)
	want(t, "upload outside", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"outside.txt", "outside"}), http.StatusSeeOther)
	sub, err := e.store.Stat(t.Context(), actorOf(anna), "/Home/Inbox/Sub")
	if err != nil {
		t.Fatal(err)
	}
	outside, err := e.store.Stat(t.Context(), actorOf(anna), "/Home/outside.txt")
	if err != nil {
		t.Fatal(err)
	}
	list = v.get(t, "/s/"+tok2+"?d="+strconv.FormatInt(sub.ID, 10))
	m = regexp.MustCompile(`href="/s/`+tok2+`/f/(\d+)"`).FindAllStringSubmatch(list.body, -1)
	if len(m) != 1 {
		t.Fatalf("subfolder through the link lists %d files, want 1:\n%s", len(m), list.body)
	}
	if r := v.get(t, "/s/"+tok2+"/f/"+m[0][1]); r.body != "deep" {
		t.Errorf("file in the subfolder reads %q", r.body)
	}
	want(t, "file outside the link", v.get(t, "/s/"+tok2+"/f/"+strconv.FormatInt(outside.ID, 10)), http.StatusNotFound)
	home, _ := e.store.Stat(t.Context(), actorOf(anna), "/Home")
	want(t, "folder outside the link", v.get(t, "/s/"+tok2+"?d="+strconv.FormatInt(home.ID, 10)), http.StatusNotFound)
	want(t, "drop link file", v.get(t, "/s/"+tok+"/f/"+m[0][1]), http.StatusNotFound)

	// A drop link its owner limited to 1 MB.
	want(t, "a drop above the store's limit", anna.post(t, "/files/link/Home/Inbox", url.Values{"days": {"7"}, "kind": {"drop"}, "dropmb": {"1074"}}), http.StatusBadRequest)
	tok3 := makeLink(t, anna, "Home/Inbox", url.Values{"days": {"7"}, "kind": {"drop"}, "dropmb": {"1"}})
	want(t, "1 MB and a byte into a 1 MB drop", v.upload(t, "/s/"+tok3+"/upload", "", false, [2]string{"big.bin", strings.Repeat("x", 1e6+1)}), http.StatusRequestEntityTooLarge)
	want(t, "1 MB into a 1 MB drop", v.upload(t, "/s/"+tok3+"/upload", "", false, [2]string{"fits.bin", strings.Repeat("x", 1e6)}), http.StatusOK)
}

func TestAdminLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	admin := e.user(t, "boss@example.org", auth.RoleAdmin)
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/a.txt", url.Values{"days": {"7"}})
	want(t, "member on admin page", anna.get(t, "/files/admin/links"), http.StatusForbidden)
	all := admin.get(t, "/files/admin/links")
	want(t, "admin page", all, http.StatusOK)
	m := regexp.MustCompile(`action="/files/admin/links/(\d+)/revoke"`).FindStringSubmatch(all.body)
	if m == nil || !strings.Contains(all.body, "anna@example.org") {
		t.Fatalf("admin page:\n%s", all.body)
	}
	want(t, "member admin revoke", anna.post(t, "/files/admin/links/"+m[1]+"/revoke", nil), http.StatusForbidden)
	want(t, "admin revoke", admin.post(t, "/files/admin/links/"+m[1]+"/revoke", nil), http.StatusSeeOther)
	want(t, "revoked by admin", e.agent(nil).get(t, "/s/"+tok), http.StatusGone)
}

// BenchmarkUpload sends one 64 MB file through the upload page over TLS,
// the body generated while it is sent (as a browser streams a file), and
// reports throughput and the memory allocated per upload, which stays far
// below the file's size: parts stream straight into the store.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	e := newEnvLimit(b, files.Options{}, MaxUpload)
	anna := e.user(b, "anna@example.org", auth.RoleMember)
	token := anna.csrf(b)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("csrf", token)
			w, _ := mw.CreateFormFile("file", fmt.Sprintf("big-%d.bin", i))
			for range size / len(chunk) {
				w.Write(chunk)
			}
			pw.CloseWithError(mw.Close())
		}()
		req, _ := http.NewRequestWithContext(b.Context(), "POST", e.ts.URL+"/files/upload/Home", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if r := anna.do(b, req); r.code != http.StatusSeeOther {
			b.Fatalf("upload: HTTP %d %s", r.code, r.body)
		}
	}
}

func TestGroupFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	carl := e.user(t, "carl@example.org", auth.RoleMember)
	for _, c := range []*agent{anna, ben} {
		if err := e.auth.Auth.AddToGroup(t.Context(), "", "press", c.u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	groups := anna.get(t, "/files/p/Groups")
	want(t, "groups", groups, http.StatusOK)
	if !strings.Contains(groups.body, `href="/files/p/Groups/press"`) {
		t.Fatalf("groups page does not list press:\n%s", groups.body)
	}
	want(t, "upload to the group", anna.upload(t, "/files/upload/Groups/press", anna.csrf(t), false, [2]string{"release.txt", "embargoed"}), http.StatusSeeOther)
	if r := ben.get(t, "/files/dl/Groups/press/release.txt"); r.code != http.StatusOK || r.body != "embargoed" {
		t.Errorf("another member reads the group's file: %d %q", r.code, r.body)
	}
	want(t, "outsider reads the group's file", carl.get(t, "/files/dl/Groups/press/release.txt"), http.StatusNotFound)
	want(t, "outsider uploads to the group", carl.upload(t, "/files/upload/Groups/press", carl.csrf(t), false, [2]string{"x.txt", "x"}), http.StatusNotFound)
	// Shared with a group, read and write: carl's group sees it under Shared.
	if err := e.auth.Auth.AddToGroup(t.Context(), "", "board", carl.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	want(t, "share with group", anna.post(t, "/files/share/Groups/press/release.txt", url.Values{"with": {"group:board"}, "mode": {"write"}}), http.StatusSeeOther)
	shared := carl.get(t, "/files/p/Shared")
	want(t, "shared with me", shared, http.StatusOK)
	if !strings.Contains(shared.body, "anna@example.org") {
		t.Errorf("shared page of a board member does not show anna's share:\n%s", shared.body)
	}
	want(t, "upload into the virtual root", anna.upload(t, "/files/upload/Groups", anna.csrf(t), false, [2]string{"x.txt", "x"}), http.StatusForbidden)
}

// TestLinkLifetimeBound: the admin's longest link lifetime bounds the form
// and the page says so.
func TestLinkLifetimeBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{MaxLinkLifetime: 14 * 24 * time.Hour, DefaultLinkLifetime: 7 * 24 * time.Hour})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)
	item := anna.get(t, "/files/item/Home/a.txt")
	if !strings.Contains(item.body, `max="14" value="7"`) || !strings.Contains(item.body, "at most 14") {
		t.Errorf("link form does not offer 1 to 14 days, 7 by default:\n%s", item.body)
	}
	want(t, "15 days", anna.post(t, "/files/link/Home/a.txt", url.Values{"days": {"15"}}), http.StatusBadRequest)
	makeLink(t, anna, "Home/a.txt", url.Values{"days": {"14"}})
}

// TestSlowUpload: an upload that takes longer than the server's
// ReadTimeout (which bounds a whole request) still succeeds, because the
// upload moves the read deadline forward with every read; a stalled one is
// still cut off after iweb.IOIdle.
func TestSlowUpload(t *testing.T) {
	t.Parallel()
	e := newEnvLimit(t, files.Options{}, 4<<20, func(s *http.Server) { s.ReadTimeout = time.Second })
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	token := anna.csrf(t)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("csrf", token)
		w, _ := mw.CreateFormFile("file", "slow.txt")
		for range 6 { // 3 s in all: three times the ReadTimeout
			io.WriteString(w, "tick\n")
			time.Sleep(500 * time.Millisecond)
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/files/upload/Home", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	want(t, "slow upload", anna.do(t, req), http.StatusSeeOther)
	if b := anna.get(t, "/files/dl/Home/slow.txt").body; b != strings.Repeat("tick\n", 6) {
		t.Errorf("slow upload stored %q", b)
	}
}

// BenchmarkDownload fetches one 64 MB file through the download page over
// TLS and reports throughput and the memory allocated per download.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	e := newEnvLimit(b, files.Options{}, MaxUpload)
	anna := e.user(b, "anna@example.org", auth.RoleMember)
	home, err := e.store.Stat(b.Context(), actorOf(anna), "/Home")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.store.Put(b.Context(), actorOf(anna), home.ID, "big.bin", io.LimitReader(rand.Reader, size), size); err != nil {
		b.Fatal(err)
	}
	cl := e.ts.Client()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(b.Context(), "GET", e.ts.URL+"/files/dl/Home/big.bin", nil)
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: anna.u.Session})
		res, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || n != size || res.StatusCode != http.StatusOK {
			b.Fatalf("download: HTTP %d, %d bytes, %v", res.StatusCode, n, err)
		}
	}
}

// TestSignOutCutsDownload: a browser download in progress ends when its
// session is signed out (as by an admin's offboarding), not when the file
// is done.
func TestSignOutCutsDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	home, err := e.store.Stat(t.Context(), actorOf(anna), "/Home")
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	if _, err := e.store.Put(t.Context(), actorOf(anna), home.ID, "big.bin", io.LimitReader(rand.Reader, size), size); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/files/dl/Home/big.bin", nil)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: anna.u.Session})
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Auth.EndSession(t.Context(), "admin", anna.u.Account.ID, 0, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, resp.Body) // 63 MB were still to come
	if err == nil && got == size-(1<<20) {
		t.Fatal("the download went on to the end after the session was signed out")
	}
}
