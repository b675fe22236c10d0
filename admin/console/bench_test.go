package console

import (
	"fmt"
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
	serverTimeWith(b, path, nil)
}

// serverTimeWith is serverTime with more of the party made by setup.
func serverTimeWith(b *testing.B, path string, setup func(c *console)) {
	c := newConsole(b)
	admin := c.admin(b, "boss@example.org")
	party(b, c.env, benchParty)
	if setup != nil {
		setup(c)
	}
	h := c.ts.Config.Handler
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(b.Context(), "GET", "https://caucus.test"+path, nil)
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: admin.Session})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get()
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d", path, rec.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(rec.Body.Len()), "page-bytes")
}

// BenchmarkPeoplePage: the first page of the people list.
func BenchmarkPeoplePage(b *testing.B) { serverTime(b, "/admin/people") }

// BenchmarkPeopleSearch: a search and a filter, sorted by last sign-in.
func BenchmarkPeopleSearch(b *testing.B) {
	serverTime(b, "/admin/people?q=press&filter=active&sort=last&desc=1")
}

// BenchmarkDashboard: the dashboard.
func BenchmarkDashboard(b *testing.B) { serverTime(b, "/admin") }

// benchGroups is how many groups the groups page's benchmark has.
const benchGroups = 10

// BenchmarkGroupsPage: the groups page of a party of benchParty people
// in benchGroups groups.
func BenchmarkGroupsPage(b *testing.B) {
	serverTimeWith(b, "/admin/groups", func(c *console) {
		for i := 1; i < benchGroups; i++ { // party made "press"
			if err := c.env.Auth.CreateGroup(b.Context(), "test", fmt.Sprintf("group%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
