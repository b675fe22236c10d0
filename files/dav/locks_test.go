package dav_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
)

const exclusiveLock = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>carol</D:owner></D:lockinfo>`

func lock(t *testing.T, c *client, p, body string) string {
	t.Helper()
	resp := c.do("LOCK", p, strings.NewReader(body), "Timeout", "Second-600")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := resp.Header.Get("Lock-Token")
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated || tok == "" {
		t.Fatalf("LOCK %s: %s %q\n%s", p, resp.Status, tok, b)
	}
	return tok
}

// TestLockAcrossMembers is issue 12 item 12: a lock one member holds stops
// every other member who can write the file, whatever path they reach it
// by (RFC 4918 sections 6 and 7), in a share and in a group folder; the
// others cannot use or remove a lock token that is not theirs.
func TestLockAcrossMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	carol, _, ca := e.client(t, "carol@example.org")
	bob, _, ba := e.client(t, "bob@example.org")
	carol.expect(http.StatusCreated, "MKCOL", "/dav/Home/Plans", nil)
	carol.expect(http.StatusCreated, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("carol's"))
	plans, _ := e.Store.Stat(t.Context(), ca, "/Home/Plans")
	if _, err := e.Store.Share(t.Context(), ca, plans.ID, files.Grantee{Login: "bob@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	shared := "/dav/Shared/carol@example.org/Plans/a.txt"
	bob.expect(http.StatusCreated, "PUT", shared, strings.NewReader("bob's"))

	tok := lock(t, carol, "/dav/Home/Plans/a.txt", exclusiveLock)
	bob.expect(http.StatusLocked, "PUT", shared, strings.NewReader("overwritten"))
	bob.expect(http.StatusLocked, "DELETE", shared, nil)
	bob.expect(http.StatusLocked, "LOCK", shared, strings.NewReader(exclusiveLock))
	// A depth-infinity lock on the folder covers what is created in it.
	bob.expect(http.StatusPreconditionFailed, "PUT", shared, strings.NewReader("stolen token"), "If", "("+tok+")")
	bob.expect(http.StatusForbidden, "UNLOCK", shared, nil, "Lock-Token", tok)
	if got := carol.expect(http.StatusOK, "GET", "/dav/Home/Plans/a.txt", nil); got != "bob's" {
		t.Fatalf("content %q", got)
	}
	carol.expect(http.StatusCreated, "PUT", "/dav/Home/Plans/a.txt", strings.NewReader("carol again"), "If", "("+tok+")")
	carol.expect(http.StatusNoContent, "UNLOCK", "/dav/Home/Plans/a.txt", nil, "Lock-Token", tok)
	bob.expect(http.StatusCreated, "PUT", shared, strings.NewReader("bob again"))

	// A folder lock of carol's covers a new file bob would create in it.
	ftok := lock(t, carol, "/dav/Home/Plans", exclusiveLock)
	bob.expect(http.StatusLocked, "PUT", "/dav/Shared/carol@example.org/Plans/new.txt", strings.NewReader("x"))
	carol.expect(http.StatusNoContent, "UNLOCK", "/dav/Home/Plans", nil, "Lock-Token", ftok)

	// A group folder.
	for _, a := range []files.Actor{ca, ba} {
		if err := e.Auth.AddToGroup(t.Context(), "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	carol.expect(http.StatusCreated, "PUT", "/dav/Groups/board/minutes.txt", strings.NewReader("m"))
	gtok := lock(t, carol, "/dav/Groups/board/minutes.txt", exclusiveLock)
	bob.expect(http.StatusLocked, "PUT", "/dav/Groups/board/minutes.txt", strings.NewReader("x"))
	carol.expect(http.StatusNoContent, "UNLOCK", "/dav/Groups/board/minutes.txt", nil, "Lock-Token", gtok)
	bob.expect(http.StatusCreated, "PUT", "/dav/Groups/board/minutes.txt", strings.NewReader("x"))

	// While a lock is held somewhere, a bad name is still refused as one.
	lock(t, carol, "/dav/Home/Plans", exclusiveLock)
	bob.expect(http.StatusForbidden, "PUT", "/dav/Home/CON", strings.NewReader("x"))
	bob.expect(http.StatusForbidden, "LOCK", "/dav/Home/CON", strings.NewReader(exclusiveLock))
}

// TestLockProperties is issue 21: PROPFIND shows a held lock in
// DAV:lockdiscovery (not 404) and DAV:supportedlock lists shared locks too,
// which work (RFC 4918 sections 15.8 and 15.10).
func TestLockProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	carol, _, _ := e.client(t, "carol@example.org")
	carol.expect(http.StatusCreated, "PUT", "/dav/Home/a.txt", strings.NewReader("a"))
	tok := lock(t, carol, "/dav/Home/a.txt", exclusiveLock)
	q := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>`
	got := carol.expect(207, "PROPFIND", "/dav/Home/a.txt", strings.NewReader(q), "Depth", "0")
	if strings.Contains(got, "404") || !strings.Contains(got, strings.Trim(tok, "<>")) || !strings.Contains(got, "activelock") {
		t.Fatalf("lockdiscovery while a lock is held:\n%s", got)
	}
	if !strings.Contains(got, "<D:shared/>") || !strings.Contains(got, "<D:exclusive/>") {
		t.Fatalf("supportedlock:\n%s", got)
	}
	carol.expect(http.StatusNoContent, "UNLOCK", "/dav/Home/a.txt", nil, "Lock-Token", tok)
	got = carol.expect(207, "PROPFIND", "/dav/Home/a.txt", strings.NewReader(q), "Depth", "0")
	if strings.Contains(got, "404") || strings.Contains(got, "activelock") {
		t.Fatalf("lockdiscovery with no lock:\n%s", got)
	}
	// allprop lists each property once.
	got = carol.expect(207, "PROPFIND", "/dav/Home/a.txt", strings.NewReader(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`), "Depth", "0")
	if n := strings.Count(got, "<D:supportedlock>"); n > 1 {
		t.Fatalf("allprop lists supportedlock %d times:\n%s", n, got)
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDAVDetails is issue 21's and issue 12 item 14's WebDAV details: MKCOL
// of a collection that exists is 405 Method Not Allowed (RFC 4918 section
// 9.3.1), a status and its text agree, LOCK
// below a missing folder is 409 Conflict (section 9.10.4) and not a 500,
// and a download that completes, or that the client stops, logs no
// "request ended" line at level Info.
func TestDAVDetails(t *testing.T) {
	t.Parallel()
	fe := filestest.New(t, files.Options{})
	var logs syncBuffer
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelInfo}))).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := fe.Person(t, "carol@example.org")
	secret := fe.AppPassword(t, u, "laptop", auth.ScopeFiles)
	do := func(method, p string, body io.Reader) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+p, body)
		req.SetBasicAuth(u.Account.Login, secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/dav/", "/dav/Home/", "/dav/Groups", "/dav/Shared/"} {
		if code, body := do("MKCOL", p, nil); code != http.StatusMethodNotAllowed || body != "Method Not Allowed" {
			t.Errorf("MKCOL %s (it exists) = %d %q, want 405", p, code, body)
		}
	}
	if code, body := do("PUT", "/dav/x.txt", strings.NewReader("x")); code != http.StatusForbidden || body != "Forbidden" {
		t.Errorf("PUT into the virtual root = %d %q, want 403 Forbidden", code, body)
	}
	for _, body := range []string{exclusiveLock, strings.Replace(exclusiveLock, "exclusive", "shared", 1)} {
		if code, _ := do("LOCK", "/dav/Home/No/such.txt", strings.NewReader(body)); code != http.StatusConflict {
			t.Errorf("LOCK below a missing folder = %d, want 409", code)
		}
	}
	do("PUT", "/dav/Home/a.bin", bytes.NewReader(make([]byte, 1<<20)))
	for range 20 {
		if code, _ := do("GET", "/dav/Home/a.bin", nil); code != http.StatusOK {
			t.Fatalf("GET = %d", code)
		}
	}
	// A client that stops a download half way is no event either.
	do("PUT", "/dav/Home/big.bin", bytes.NewReader(make([]byte, 16<<20)))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/dav/Home/big.bin", nil)
	req.SetBasicAuth(u.Account.Login, secret)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, resp.Body, 64<<10)
	cancel()
	resp.Body.Close()
	time.Sleep(200 * time.Millisecond) // the server notices
	if strings.Contains(logs.String(), "request ended") || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("logs of normal requests:\n%s", logs.String())
	}
}
