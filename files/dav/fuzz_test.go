package dav_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
)

// FuzzHandler sends random WebDAV requests (method, path, Depth, If,
// Destination and XML body) as Alice and checks that the server never
// panics and that nothing of Bob's is ever reached or changed.
func FuzzHandler(f *testing.F) {
	e := filestest.New(f, files.Options{})
	au, _ := e.Person(f, "alice@example.org")
	_, bob := e.Person(f, "bob@example.org")
	secret := e.AppPassword(f, au, "fuzz", auth.ScopeFiles)
	bobHome, err := e.Store.Stat(f.Context(), bob, "/Home")
	if err != nil {
		f.Fatal(err)
	}
	sentinel, err := e.Store.Put(f.Context(), bob, bobHome.ID, "secret.txt", strings.NewReader("bob's"), 5)
	if err != nil {
		f.Fatal(err)
	}
	h := dav.New(e.Store, e.Auth, nil, nil)

	methods := []string{"PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "MKCOL", "PUT", "GET", "DELETE", "COPY", "MOVE", "OPTIONS"}
	f.Add(uint8(0), "/dav/Home/", "1", "", "", []byte(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`))
	f.Add(uint8(0), "/dav/Home/l", "0", "", "", []byte(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>`))
	f.Add(uint8(1), "/dav/Home/x", "0", "", "", []byte(`<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:a>1</Z:a></D:prop></D:set><D:remove><D:prop><Z:a/></D:prop></D:remove></D:propertyupdate>`))
	f.Add(uint8(2), "/dav/Home/l", "infinity", "", "", []byte(`<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`))
	f.Add(uint8(8), "/dav/Home/a", "", "(<DAV:no-lock>) (Not [\"x\"])", "http://example.org/dav/Shared/bob@example.org/x", []byte{})
	f.Add(uint8(9), "/dav/Home/../../Home/secret.txt", "infinity", "", "/dav/Home/stolen", []byte{})
	f.Add(uint8(5), "/dav/Home/%2e%2e/secret.txt", "", "", "", []byte("data"))
	f.Fuzz(func(t *testing.T, m uint8, path, depth, ifh, dest string, body []byte) {
		req := httptest.NewRequestWithContext(t.Context(), methods[int(m)%len(methods)], "http://example.org/", bytes.NewReader(body))
		req.URL.Path = path
		req.SetBasicAuth("alice@example.org", secret)
		if depth != "" {
			req.Header.Set("Depth", depth)
		}
		if ifh != "" {
			req.Header.Set("If", ifh)
		}
		if dest != "" {
			req.Header.Set("Destination", dest)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusUnauthorized {
			t.Fatalf("valid app password refused")
		}
		if strings.Contains(rec.Body.String(), "bob's") {
			t.Fatalf("Bob's content served for %s %q", req.Method, path)
		}
		rc, n, err := e.Store.Open(t.Context(), bob, sentinel.ID)
		if err != nil {
			t.Fatalf("Bob's file gone after %s %q: %v", req.Method, path, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "bob's" || n.Path != "/Home/secret.txt" {
			t.Fatalf("Bob's file changed after %s %q: %q %s", req.Method, path, b, n.Path)
		}
	})
}
