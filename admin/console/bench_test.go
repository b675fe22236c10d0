package console

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caucus-org/caucus/auth/login"
)

// benchParty is the size of the party the console's benchmarks render.
const benchParty = 5000

// serverTime measures the server's time for GET path as an admin of a
// party of benchParty people: the handler called in process (session
// check, queries, template), without TLS or the network.
func serverTime(b *testing.B, path string) {
	c := newConsole(b)
	admin := c.admin(b, "boss@example.org")
	party(b, c.env, benchParty)
	h := c.ts.Config.Handler
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(b.Context(), "GET", "https://caucus.test"+path, nil)
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: admin.Session})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK {
		b.Fatalf("%s: %d", path, rec.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}

// BenchmarkPeoplePage: the first page of the people list.
func BenchmarkPeoplePage(b *testing.B) { serverTime(b, "/admin/people") }

// BenchmarkPeopleSearch: a search and a filter, sorted by last sign-in.
func BenchmarkPeopleSearch(b *testing.B) {
	serverTime(b, "/admin/people?q=press&filter=active&sort=last&desc=1")
}

// BenchmarkDashboard: the dashboard.
func BenchmarkDashboard(b *testing.B) { serverTime(b, "/admin") }
