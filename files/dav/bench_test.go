package dav_test

import (
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

// BenchmarkGet fetches one small file over WebDAV (HTTP, in process): the
// per-request cost of sign-in, revocation registration, path resolution
// and serving.
func BenchmarkGet(b *testing.B) {
	e := filestest.New(b, files.Options{})
	u, a := e.Person(b, "alice@example.org")
	secret := e.AppPassword(b, u, "bench", auth.ScopeFiles)
	home, _ := e.Store.Stat(b.Context(), a, "/Home")
	if _, err := e.Store.Put(b.Context(), a, home.ID, "f.txt", strings.NewReader(strings.Repeat("x", 10<<10)), 10<<10); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	dav.New(e.Store, e.Auth, nil, nil).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for b.Loop() {
		req, _ := http.NewRequest("GET", srv.URL+"/dav/Home/f.txt", nil)
		req.SetBasicAuth(u.Account.Login, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
