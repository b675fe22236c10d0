package calweb

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
)

// env is the calendar pages over a real auth service and calendar store
// on a temporary database, served over TLS on 127.0.0.1, for a party in
// Rome (the clock: 1 June 2026, 10:00 UTC).
type env struct {
	a     *authtest.Env
	store *calendar.Store
	books *contacts.Store
	h     *Handler
	ts    *httptest.Server
	rome  *time.Location
}

func newEnv(t testing.TB) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, calendar.Component(), contacts.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := login.New(a.Auth, log, login.WithParty(ui.Party{Name: "Test", Language: "en", TimeZone: rome}))
	if err != nil {
		t.Fatal(err)
	}
	st := calendar.New(a.DB, a.Auth, a.Audit, a.Clock.Now, log)
	books := contacts.New(a.DB, contacts.Deps{Auth: a.Auth, Now: a.Clock.Now})
	h, err := New(Deps{Store: st, People: books, Login: pages, Log: log, Now: a.Clock.Now, Invites: st})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(iweb.Secure(mux, 1<<20))
	ts.Config.ConnContext = iweb.ConnContext
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &env{a: a, store: st, books: books, h: h, ts: ts, rome: rome}
}

// member is a signed-in person.
type member struct {
	e *env
	u *authtest.User
}

func (e *env) member(t testing.TB, local string) *member {
	t.Helper()
	return &member{e: e, u: e.a.User(t, local+"@example.org", auth.RoleMember)}
}

func (m *member) cal() calendar.Member {
	return calendar.Member{ID: m.u.Account.ID, Login: m.u.Account.Login}
}

// group makes a group of the members and returns its calendar's slug.
func (e *env) group(t testing.TB, name string, ms ...*member) string {
	t.Helper()
	if err := e.a.Auth.CreateGroup(t.Context(), "admin", name); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := e.a.Auth.AddToGroup(t.Context(), "admin", name, m.u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	id, err := e.a.Auth.GroupID(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("group-%d", id)
}

// response is what a test reads of an answer.
type response struct {
	code int
	loc  string
	body string
}

func (m *member) do(t testing.TB, req *http.Request) response {
	t.Helper()
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: m.u.Session})
	cl := m.e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), string(b)}
}

func (m *member) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", m.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.do(t, req)
}

// post sends a form with the session's CSRF token, unless form has a
// "csrf" of its own.
func (m *member) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	if _, ok := form["csrf"]; !ok {
		s, err := m.e.a.Auth.Session(t.Context(), m.u.Session)
		if err != nil {
			t.Fatal(err)
		}
		form.Set("csrf", s.CSRF)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", m.e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return m.do(t, req)
}

// eventForm is a valid form for a new event in calendar slug.
func eventForm(slug, title string) url.Values {
	return url.Values{
		"calendar": {slug}, "title": {title}, "place": {"Piazza Navona"}, "description": {"Bring leaflets"},
		"startdate": {"2026-06-05"}, "starttime": {"18:00"}, "enddate": {"2026-06-05"}, "endtime": {"19:30"},
	}
}

// only returns the one resource of calendar slug of m, failing if there
// is not exactly one.
func (m *member) only(t testing.TB, slug string) calendar.Resource {
	t.Helper()
	rs, err := m.e.store.List(t.Context(), m.cal(), slug)
	if err != nil || len(rs) != 1 {
		t.Fatalf("calendar %s: %d resources, %v; want 1", slug, len(rs), err)
	}
	return rs[0]
}

// putEvent stores an event directly, as a CalDAV client would.
func (m *member) putEvent(t testing.TB, slug, uid, start, end, extra string) calendar.Resource {
	t.Helper()
	o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:" + start + "\r\nDTEND:" + end + "\r\nSUMMARY:" + uid + "\r\n" + extra +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := m.e.store.Put(t.Context(), m.cal(), slug, uid+".ics", o, calendar.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// inRome reads s (layout) as a time in Rome.
func inRome(t testing.TB, layout, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDay(t testing.TB, s string) time.Time { t.Helper(); return inRome(t, "2006-01-02", s) }

func mustTime(t testing.TB, s string) time.Time { t.Helper(); return inRome(t, "2006-01-02 15:04", s) }
