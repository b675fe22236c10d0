package dav_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
)

type client struct {
	t      *testing.T
	base   string
	login  string
	secret string
}

func (c *client) do(method, p string, body io.Reader, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+p, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.login != "" {
		req.SetBasicAuth(c.login, c.secret)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, p, err)
	}
	return resp
}

// expect does a request and checks its status, returning the body.
func (c *client) expect(code int, method, p string, body io.Reader, hdr ...string) string {
	c.t.Helper()
	resp := c.do(method, p, body, hdr...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, p, resp.StatusCode, code, b)
	}
	return string(b)
}

type env struct {
	*filestest.Env
	srv *httptest.Server
}

func newEnv(t *testing.T, opts files.Options) *env {
	fe := filestest.New(t, opts)
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{Env: fe, srv: srv}
}

func (e *env) client(t *testing.T, login string) (*client, *authtest.User, files.Actor) {
	u, a := e.Person(t, login)
	return &client{t: t, base: e.srv.URL, login: login, secret: e.AppPassword(t, u, "laptop", auth.ScopeFiles)}, u, a
}

func TestDAV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	alice, _, _ := e.client(t, "alice@example.org")
	bob, _, _ := e.client(t, "bob@example.org")

	alice.expect(http.StatusCreated, "MKCOL", "/dav/Home/Plans", nil)
	alice.expect(http.StatusMethodNotAllowed, "MKCOL", "/dav/Home/Plans", nil)
	alice.expect(http.StatusConflict, "MKCOL", "/dav/Home/No/Such", nil)
	alice.expect(http.StatusCreated, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("hello world"))
	if got := alice.expect(http.StatusOK, "GET", "/dav/Home/Plans/a.txt", nil); got != "hello world" {
		t.Fatalf("GET = %q", got)
	}
	resp := alice.do("GET", "/dav/Home/Plans/a.txt", nil, "Range", "bytes=6-")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "world" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
	if resp.Header.Get("Content-Disposition") != "attachment" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("GET headers %v", resp.Header)
	}
	ls := alice.expect(207, "PROPFIND", "/dav/Home/Plans/", nil, "Depth", "1")
	if !strings.Contains(ls, "/dav/Home/Plans/a.txt") || !strings.Contains(ls, "<D:getcontentlength>11<") {
		t.Fatalf("PROPFIND: %s", ls)
	}
	root := alice.expect(207, "PROPFIND", "/dav/", nil, "Depth", "1")
	for _, want := range []string{"/dav/Home/", "/dav/Groups/", "/dav/Shared/"} {
		if !strings.Contains(root, want) {
			t.Fatalf("root lacks %s: %s", want, root)
		}
	}
	// Depth infinity (explicit or implied) is refused.
	if got := alice.expect(http.StatusForbidden, "PROPFIND", "/dav/Home/", nil, "Depth", "infinity"); !strings.Contains(got, "propfind-finite-depth") {
		t.Fatalf("infinity: %s", got)
	}
	alice.expect(http.StatusForbidden, "PROPFIND", "/dav/Home/", nil)

	alice.expect(http.StatusCreated, "COPY", "/dav/Home/Plans/a.txt", nil, "Destination", e.srv.URL+"/dav/Home/b.txt")
	alice.expect(http.StatusCreated, "MOVE", "/dav/Home/b.txt", nil, "Destination", e.srv.URL+"/dav/Home/Plans/c.txt")
	alice.expect(http.StatusPreconditionFailed, "MOVE", "/dav/Home/Plans/c.txt", nil, "Destination", e.srv.URL+"/dav/Home/Plans/a.txt", "Overwrite", "F")
	if got := alice.expect(http.StatusOK, "GET", "/dav/Home/Plans/c.txt", nil); got != "hello world" {
		t.Fatalf("copied %q", got)
	}
	alice.expect(http.StatusNoContent, "DELETE", "/dav/Home/Plans/c.txt", nil)
	alice.expect(http.StatusNotFound, "GET", "/dav/Home/Plans/c.txt", nil)
	// Virtual folders cannot be written.
	alice.expect(http.StatusForbidden, "PUT", "/dav/x.txt", strings.NewReader("x"))
	alice.expect(http.StatusForbidden, "MKCOL", "/dav/Groups/x", nil)
	alice.expect(http.StatusForbidden, "DELETE", "/dav/Home", nil)
	// Bad names.
	alice.expect(http.StatusForbidden, "PUT", "/dav/Home/CON", strings.NewReader("x"))

	// Another member's files: Bob's view has no way to them.
	bob.expect(http.StatusNotFound, "GET", "/dav/Shared/alice@example.org/Plans/a.txt", nil)
	bob.expect(http.StatusNotFound, "GET", "/dav/Home/Plans/a.txt", nil)
	for _, p := range []string{"/dav/Home/%2e%2e/%2e%2e/etc/passwd", "/dav/Home/..%2f..%2fetc%2fpasswd", "/dav/%2e%2e/Home", "/dav/Home/Plans%00/a.txt"} {
		resp := bob.do("GET", p, nil)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}

	// Locks (class 2).
	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>`
	resp = alice.do("LOCK", "/dav/Home/Plans/a.txt", strings.NewReader(lockBody), "Timeout", "Second-60")
	resp.Body.Close()
	token := resp.Header.Get("Lock-Token")
	if resp.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("LOCK %d %q", resp.StatusCode, token)
	}
	alice.expect(http.StatusLocked, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("x"))
	alice.expect(http.StatusCreated, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("v2"), "If", "("+token+")")
	alice.expect(http.StatusNoContent, "UNLOCK", "/dav/Home/Plans/a.txt", nil, "Lock-Token", token)
	// Shared locks: two may coexist, an exclusive one may not join them.
	shared := strings.Replace(lockBody, "<D:exclusive/>", "<D:shared/>", 1)
	var shareTokens []string
	for range 2 {
		resp := alice.do("LOCK", "/dav/Home/Plans/a.txt", strings.NewReader(shared), "Depth", "0")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<D:shared/>") {
			t.Fatalf("shared LOCK %d %s", resp.StatusCode, b)
		}
		shareTokens = append(shareTokens, resp.Header.Get("Lock-Token"))
	}
	alice.expect(http.StatusLocked, "LOCK", "/dav/Home/Plans/a.txt", strings.NewReader(lockBody))
	alice.expect(http.StatusLocked, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("x"))
	alice.expect(http.StatusCreated, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("v2"), "If", "("+shareTokens[1]+")")
	for _, tok := range shareTokens {
		alice.expect(http.StatusNoContent, "UNLOCK", "/dav/Home/Plans/a.txt", nil, "Lock-Token", tok)
	}

	// Dead properties.
	pp := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>`
	alice.expect(207, "PROPPATCH", "/dav/Home/Plans/a.txt", strings.NewReader(pp))
	if got := alice.expect(200, "GET", "/dav/Home/Plans/a.txt", nil); got != "v2" {
		t.Fatalf("after PROPPATCH: %q", got)
	}
	if got := alice.expect(207, "PROPFIND", "/dav/Home/Plans/a.txt", strings.NewReader(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`), "Depth", "0"); !strings.Contains(got, "red") {
		t.Fatalf("dead prop: %s", got)
	}
	// XML bodies are bounded.
	big := strings.NewReader(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:x/>", dav.MaxXMLBody/6+1) + `</D:prop></D:propfind>`)
	if resp := alice.do("PROPFIND", "/dav/Home/", big, "Depth", "0"); resp.StatusCode < 400 {
		t.Fatalf("oversized PROPFIND = %d", resp.StatusCode)
	}
}

func TestDAVAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	u, _ := e.Person(t, "alice@example.org")
	c := &client{t: t, base: e.srv.URL}
	resp := c.do("PROPFIND", "/dav/", nil, "Depth", "0")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("anonymous: %d", resp.StatusCode)
	}
	c.login = u.Account.Login
	c.secret = u.Password // the account password is refused
	c.expect(http.StatusUnauthorized, "PROPFIND", "/dav/", nil, "Depth", "0")
	c.secret = e.AppPassword(t, u, "phone mail", auth.ScopeMail) // mail scope is refused
	c.expect(http.StatusUnauthorized, "PROPFIND", "/dav/", nil, "Depth", "0")
	c.secret = e.AppPassword(t, u, "laptop", auth.ScopeFiles)
	c.expect(207, "PROPFIND", "/dav/", nil, "Depth", "0")

	// Revoking the app password ends an upload in flight and refuses the next request.
	pr, pw := io.Pipe()
	defer pw.Close()
	result := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "PUT", e.srv.URL+"/dav/Home/stream.bin", pr)
		req.SetBasicAuth(c.login, c.secret)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				err = fmt.Errorf("PUT = %d", resp.StatusCode)
			}
		}
		result <- err
	}()
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// The client keeps sending, as a real upload does, until the server
	// ends the request.
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	aps, err := e.Auth.AppPasswords(t.Context(), u.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ap := range aps {
		if err := e.Auth.RevokeAppPassword(t.Context(), "", u.Account.ID, ap.ID, auth.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	// The server ends the request although the client keeps the body open.
	select {
	case err := <-result:
		if err != nil && strings.Contains(err.Error(), "PUT =") {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("upload still running after revocation")
	}
	c.expect(http.StatusUnauthorized, "PROPFIND", "/dav/", nil, "Depth", "0")
	// Suspending the account refuses its other app passwords too.
	c.secret = e.AppPassword(t, u, "tablet", auth.ScopeFiles)
	c.expect(207, "PROPFIND", "/dav/", nil, "Depth", "0")
	if err := e.Auth.SetState(t.Context(), "", u.Account.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	c.expect(http.StatusUnauthorized, "PROPFIND", "/dav/", nil, "Depth", "0")
	if _, err := e.Store.Stat(context.Background(), files.Actor{ID: u.Account.ID, Login: u.Account.Login}, "/Home/stream.bin"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("partial upload visible: %v", err)
	}
}

func TestDAVQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	c, _, a := e.client(t, "alice@example.org")
	if err := e.Store.SetQuota(t.Context(), "admin", a.ID, 1000); err != nil {
		t.Fatal(err)
	}
	c.expect(http.StatusInsufficientStorage, "PUT", "/dav/Home/big", strings.NewReader(strings.Repeat("x", 1001)))
	// Unknown length (chunked): refused while streaming.
	c.expect(http.StatusInsufficientStorage, "PUT", "/dav/Home/big", io.MultiReader(strings.NewReader(strings.Repeat("x", 2000))))
	c.expect(http.StatusNotFound, "GET", "/dav/Home/big", nil)
	c.expect(http.StatusCreated, "PUT", "/dav/Home/small", strings.NewReader(strings.Repeat("x", 1000)))

	// An announced overrun is refused before the body is asked for: the
	// answer is 507, not 100 Continue.
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	auth := base64.StdEncoding.EncodeToString([]byte(c.login + ":" + c.secret))
	fmt.Fprintf(conn, "PUT /dav/Home/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", auth)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 507 ") {
		t.Fatalf("PUT over quota with Expect: 100-continue: %q, %v; want 507 at once", line, err)
	}
}

// TestDAVLargeFile puts a file of several of the store's chunks and gets
// it back whole and in a range, with the ETag the PUT answered.
func TestDAVLargeFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	c, _, _ := e.client(t, "alice@example.org")
	content := make([]byte, 3<<20+7)
	rand.Read(content)
	resp := c.do("PUT", "/dav/Home/big.bin", bytes.NewReader(content))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("ETag") == "" {
		t.Fatalf("PUT = %s, ETag %q; want 201 and an ETag", resp.Status, resp.Header.Get("ETag"))
	}
	etag := resp.Header.Get("ETag")
	if got := c.expect(http.StatusOK, "GET", "/dav/Home/big.bin", nil); got != string(content) {
		t.Fatalf("GET returned %d bytes, not the %d put", len(got), len(content))
	}
	if got := c.expect(http.StatusPartialContent, "GET", "/dav/Home/big.bin", nil, "Range", "bytes=1000000-2999999"); got != string(content[1000000:3000000]) {
		t.Fatalf("GET of a range returned %d bytes, not the 2000000 asked for", len(got))
	}
	resp = c.do("HEAD", "/dav/Home/big.bin", nil)
	resp.Body.Close()
	if resp.Header.Get("ETag") != etag || resp.ContentLength != int64(len(content)) {
		t.Fatalf("HEAD: ETag %q, length %d; want %q, %d", resp.Header.Get("ETag"), resp.ContentLength, etag, len(content))
	}
	// A PUT onto a folder is refused before its body is stored.
	c.expect(http.StatusCreated, "MKCOL", "/dav/Home/Folder", nil)
	c.expect(http.StatusMethodNotAllowed, "PUT", "/dav/Home/Folder", bytes.NewReader(content))
}

// TestRevokeAsRequestEnds revokes app passwords while their HTTP/2
// requests end, many times: the server must stay up (the reaction to a
// revocation once touched a response writer whose handler had returned; the
// deterministic test of that is TestDeadlinesAfterReturn in internal/web).
func TestRevokeAsRequestEnds(t *testing.T) {
	t.Parallel()
	fe := filestest.New(t, files.Options{})
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := fe.Person(t, "alice@example.org")
	hc := srv.Client()
	put, _ := http.NewRequestWithContext(t.Context(), "PUT", srv.URL+"/dav/Home/a.txt", strings.NewReader("hello"))
	put.SetBasicAuth(u.Account.Login, fe.AppPassword(t, u, "setup", auth.ScopeFiles))
	if resp, err := hc.Do(put); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	for i := range 200 {
		secret := fe.AppPassword(t, u, fmt.Sprintf("phone%d", i), auth.ScopeFiles)
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/dav/Home/a.txt", nil)
			req.SetBasicAuth(u.Account.Login, secret)
			if resp, err := hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Errorf("HTTP/%d, want 2", resp.ProtoMajor)
				}
			}
		}()
		time.Sleep(time.Duration(i%20) * 25 * time.Microsecond)
		aps, err := fe.Auth.AppPasswords(t.Context(), u.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ap := range aps {
			if ap.Name == fmt.Sprintf("phone%d", i) {
				fe.Auth.RevokeAppPassword(t.Context(), "", u.Account.ID, ap.ID, auth.Client{})
			}
		}
		<-done
	}
}
