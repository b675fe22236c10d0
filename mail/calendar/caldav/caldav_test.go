package caldav_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/caldav"
)

type env struct {
	*authtest.Env
	store *calendar.Store
	srv   *httptest.Server
}

// person is a member with a calendar app password.
type person struct {
	login, secret string
	id            int64
}

func newEnv(t testing.TB) *env {
	ae := authtest.New(t, auth.Config{}, calendar.Component())
	st := calendar.New(ae.DB, ae.Auth, ae.Audit, ae.Clock.Now, nil)
	mux := http.NewServeMux()
	h := caldav.New(st, ae.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.Register(mux)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = web.NewServer(mux, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(h.Shutdown)
	return &env{Env: ae, store: st, srv: srv}
}

func (e *env) person(t testing.TB, name string, scope auth.Scope) person {
	login := name + "@example.org"
	u := e.User(t, login, auth.RoleMember)
	return person{login: login, secret: e.AppPassword(t, u, "phone", scope), id: u.Account.ID}
}

func storeMember(p person) calendar.Member { return calendar.Member{ID: p.id, Login: p.login} }

func (p person) home() string { return "/caldav/" + p.login + "/calendars/" }

// do sends one request as p and returns the status, the body and the
// response's headers.
func (e *env) do(t testing.TB, p person, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if p.login != "" {
		req.SetBasicAuth(p.login, p.secret)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		if strings.HasPrefix(body, "BEGIN:") {
			req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
		} else {
			req.Header.Set("Content-Type", "application/xml; charset=utf-8")
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func event(uid, start, end, extra string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:" + start + "\r\nDTEND:" + end + "\r\nSUMMARY:Canvassing\r\n" + extra +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
}

const propfindPrincipal = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:current-user-principal/><C:calendar-home-set/></D:prop></D:propfind>`

const propfindCalendars = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:resourcetype/><D:getetag/></D:prop></D:propfind>`

func query(start, end string) string {
	return `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>` +
		`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="` + start + `" end="` + end + `"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`
}

func multiget(hrefs ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>`)
	for _, h := range hrefs {
		b.WriteString("<D:href>" + h + "</D:href>")
	}
	b.WriteString("</C:calendar-multiget>")
	return b.String()
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	code, _, h := e.do(t, person{}, "PROPFIND", "/.well-known/caldav", "")
	if code != http.StatusMovedPermanently || h.Get("Location") != "/caldav/" {
		t.Fatalf("/.well-known/caldav: %d to %q", code, h.Get("Location"))
	}
	code, body, _ := e.do(t, alice, "PROPFIND", "/caldav/", propfindPrincipal, "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/caldav/alice@example.org/") {
		t.Fatalf("PROPFIND /caldav/: %d\n%s", code, body)
	}
	code, body, _ = e.do(t, alice, "PROPFIND", "/caldav/alice@example.org/", propfindPrincipal, "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/caldav/alice@example.org/calendars/</href>") {
		t.Fatalf("PROPFIND principal: %d\n%s", code, body)
	}
	code, body, _ = e.do(t, alice, "PROPFIND", alice.home(), propfindCalendars, "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, alice.home()+"personal/") {
		t.Fatalf("PROPFIND home: %d\n%s", code, body)
	}
	code, _, _ = e.do(t, alice, "PROPFIND", alice.home(), propfindCalendars, "Depth", "infinity")
	if code != http.StatusForbidden {
		t.Fatalf("PROPFIND Depth: infinity: %d, want 403", code)
	}
}

func TestSignInNeedsCalendarScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := e.person(t, "filer", auth.ScopeFiles)
	for _, p := range []person{files, {login: files.login, secret: "wrong"}, {}} {
		if code, _, _ := e.do(t, p, "PROPFIND", "/caldav/", propfindPrincipal, "Depth", "0"); code != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", p.secret, code)
		}
	}
}

func TestPutGetDeleteConditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	u := alice.home() + "personal/rally.ics"
	ev := event("rally", "20260610T090000Z", "20260610T100000Z", "")
	code, _, h := e.do(t, alice, "PUT", u, ev, "If-None-Match", "*")
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	code, got, gh := e.do(t, alice, "GET", u, "")
	if code != http.StatusOK || gh.Get("ETag") == "" {
		t.Fatalf("GET: %d %q", code, gh.Get("ETag"))
	}
	etag := gh.Get("ETag")
	if h.Get("ETag") != "" && h.Get("ETag") != etag {
		t.Fatalf("PUT gave ETag %s, GET %s", h.Get("ETag"), etag)
	}
	if got != ev && h.Get("ETag") != "" {
		t.Fatal("PUT gave an ETag though the stored form differs from the body (RFC 4791 section 5.3.4)")
	}
	stale := `"` + strings.Repeat("0", 64) + `"`
	for _, c := range []struct{ method, hdr, val string }{
		{"PUT", "If-None-Match", "*"},
		{"PUT", "If-Match", stale},
		{"PUT", "If-None-Match", etag},
		{"DELETE", "If-Match", stale},
	} {
		body := ""
		if c.method == "PUT" {
			body = event("rally", "20260611T090000Z", "20260611T100000Z", "")
		}
		if code, _, _ := e.do(t, alice, c.method, u, body, c.hdr, c.val); code != http.StatusPreconditionFailed {
			t.Errorf("%s with %s: %s: %d, want 412", c.method, c.hdr, c.val, code)
		}
	}
	if _, now, _ := e.do(t, alice, "GET", u, ""); now != got {
		t.Fatal("a refused write changed the event")
	}
	if code, _, _ := e.do(t, alice, "PUT", u, event("rally", "20260611T090000Z", "20260611T100000Z", ""), "If-Match", etag); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("PUT with the current ETag: %d", code)
	}
	_, _, gh = e.do(t, alice, "GET", u, "")
	if code, _, _ := e.do(t, alice, "DELETE", u, "", "If-Match", gh.Get("ETag")); code != http.StatusNoContent {
		t.Fatalf("DELETE with the current ETag: %d", code)
	}
	if code, _, _ := e.do(t, alice, "GET", u, ""); code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", code)
	}
}

func TestCalendarQueryTimeRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	for _, ev := range []struct{ uid, extra, start string }{
		{"june", "", "20260610T090000Z"},
		{"july", "", "20260710T090000Z"},
		{"weekly", "RRULE:FREQ=WEEKLY\r\n", "20260105T090000Z"},
		{"ended", "RRULE:FREQ=WEEKLY;COUNT=3\r\n", "20260105T090000Z"},
	} {
		end := ev.start[:9] + "10" + ev.start[11:]
		if code, _, _ := e.do(t, alice, "PUT", alice.home()+"personal/"+ev.uid+".ics", event(ev.uid, ev.start, end, ev.extra)); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", ev.uid, code)
		}
	}
	todo := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:todo\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260610T090000Z\r\nDUE:20260611T090000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
	if code, _, _ := e.do(t, alice, "PUT", alice.home()+"personal/todo.ics", todo); code != http.StatusCreated {
		t.Fatalf("PUT todo: %d", code)
	}
	code, body, _ := e.do(t, alice, "REPORT", alice.home()+"personal/", query("20260601T000000Z", "20260701T000000Z"), "Depth", "1")
	if code != http.StatusMultiStatus {
		t.Fatalf("REPORT: %d\n%s", code, body)
	}
	if strings.Contains(body, "todo.ics") {
		t.Error("a VEVENT query returned a to-do")
	}
	for _, want := range []string{"june.ics", "weekly.ics"} {
		if !strings.Contains(body, want) {
			t.Errorf("June's query lacks %s", want)
		}
	}
	for _, not := range []string{"july.ics", "ended.ics"} {
		if strings.Contains(body, not) {
			t.Errorf("June's query has %s", not)
		}
	}
}

// TestOtherMembersCalendars tries to reach another member's calendar by
// its URL, by a multiget href, by a principal, and a group's calendar from
// outside the group: each is not found, and nothing changes.
func TestOtherMembersCalendars(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.person(t, "alice", auth.ScopeCalendar), e.person(t, "bob", auth.ScopeCalendar)
	secret := alice.home() + "personal/secret.ics"
	if code, _, _ := e.do(t, alice, "PUT", secret, event("secret", "20260610T090000Z", "20260610T100000Z", "")); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	ctx := t.Context()
	if err := e.Auth.CreateGroup(ctx, "admin", "board"); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.AddToGroup(ctx, "admin", "board", alice.id); err != nil {
		t.Fatal(err)
	}
	gid, _ := e.Auth.GroupID(ctx, "board")
	group := fmt.Sprintf("group-%d/", gid)
	for _, c := range []struct{ method, path, body string }{
		{"GET", secret, ""},
		{"PUT", secret, event("secret", "20260610T090000Z", "20260610T100000Z", "LOCATION:pwned\r\n")},
		{"DELETE", secret, ""},
		{"PROPFIND", alice.home() + "personal/", propfindCalendars},
		{"PROPFIND", alice.home(), propfindCalendars},
		{"PROPFIND", "/caldav/alice@example.org/", propfindPrincipal},
		{"REPORT", alice.home() + "personal/", query("20260601T000000Z", "20260701T000000Z")},
		{"GET", bob.home() + group + "x.ics", ""},
		{"PUT", bob.home() + group + "x.ics", event("x", "20260610T090000Z", "20260610T100000Z", "")},
		{"REPORT", bob.home() + group, query("20260601T000000Z", "20260701T000000Z")},
	} {
		code, body, _ := e.do(t, bob, c.method, c.path, c.body, "Depth", "1")
		if code != http.StatusNotFound || strings.Contains(body, "secret") {
			t.Errorf("bob %s %s: %d, want 404\n%s", c.method, c.path, code, body)
		}
	}
	// A dot-dot path: the mux redirects to the clean path, which is alice's.
	code, _, h := e.do(t, bob, "GET", bob.home()+"../../alice@example.org/calendars/personal/secret.ics", "")
	if code != http.StatusTemporaryRedirect {
		t.Fatalf("a dot-dot path: %d", code)
	}
	if code, _, _ := e.do(t, bob, "GET", h.Get("Location"), ""); code != http.StatusNotFound {
		t.Errorf("bob GET %s: %d", h.Get("Location"), code)
	}
	code, body, _ := e.do(t, bob, "REPORT", bob.home()+"personal/", multiget(secret, bob.home()+"personal/../../../alice@example.org/calendars/personal/secret.ics"), "Depth", "1")
	if code != http.StatusMultiStatus || strings.Contains(body, "Canvassing") || !strings.Contains(body, "404") {
		t.Errorf("bob's multiget of alice's href: %d\n%s", code, body)
	}
	if _, got, _ := e.do(t, alice, "GET", secret, ""); !strings.Contains(got, "SUMMARY:Canvassing") {
		t.Fatalf("alice's event changed: %s", got)
	}
}

func TestReadOnlyGroupCalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	ctx := t.Context()
	if err := e.Auth.CreateGroup(ctx, "admin", "board"); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.AddToGroup(ctx, "admin", "board", alice.id); err != nil {
		t.Fatal(err)
	}
	gid, _ := e.Auth.GroupID(ctx, "board")
	u := alice.home() + fmt.Sprintf("group-%d/meeting.ics", gid)
	if code, _, _ := e.do(t, alice, "PUT", u, event("m", "20260610T090000Z", "20260610T100000Z", "")); code != http.StatusCreated {
		t.Fatalf("PUT to the writable group calendar: %d", code)
	}
	if err := e.store.SetGroupReadOnly(ctx, "admin@example.org", auth.Group{ID: gid, Name: "board"}, true); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do(t, alice, "PUT", u, event("m", "20260611T090000Z", "20260611T100000Z", "")); code != http.StatusForbidden {
		t.Fatalf("PUT to the read-only group calendar: %d, want 403", code)
	}
	if code, _, _ := e.do(t, alice, "DELETE", u, ""); code != http.StatusForbidden {
		t.Fatalf("DELETE in the read-only group calendar: %d, want 403", code)
	}
	if code, body, _ := e.do(t, alice, "GET", u, ""); code != http.StatusOK || !strings.Contains(body, "20260610T090000Z") {
		t.Fatalf("GET: %d %s", code, body)
	}
}

// TestHostileObjects PUTs what calendar.Parse refuses: each gets a clear
// status and leaves the calendar as it was.
func TestHostileObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	cal := alice.home() + "personal/"
	cases := []struct {
		name, body string
		code       int
		want       string
	}{
		{"10 MB", event("big", "20260610T090000Z", "20260610T100000Z", "DESCRIPTION:"+strings.Repeat("a", 10<<20)+"\r\n"), http.StatusRequestEntityTooLarge, "max-resource-size"},
		{"FREQ=SECONDLY", event("sec", "20260610T090000Z", "20260610T090001Z", "RRULE:FREQ=SECONDLY\r\n"), http.StatusForbidden, "max-instances"},
		{"non-UTF-8", event("latin1", "20260610T090000Z", "20260610T100000Z", "SUMMARY:caf\xe9\r\n"), http.StatusForbidden, "valid-calendar-data"},
		{"nested", "BEGIN:VCALENDAR\r\n" + strings.Repeat("BEGIN:X\r\n", 5000) + strings.Repeat("END:X\r\n", 5000) + "END:VCALENDAR\r\n", http.StatusForbidden, "valid-calendar-data"},
		{"bad TZID", strings.Replace(event("tz", "20260610T090000", "20260610T100000Z", ""), "DTSTART:", "DTSTART;TZID=Nowhere/Atlantis:", 1), http.StatusForbidden, "valid-calendar-data"},
		{"go-ical's panic", "BEGIN:VCALENDAR\r\n0;0=\r\nEND:VCALENDAR\r\n", http.StatusForbidden, "valid-calendar-data"},
	}
	for _, c := range cases {
		code, body, _ := e.do(t, alice, "PUT", cal+"x.ics", c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.code, c.want)
		}
	}
	code, body, _ := e.do(t, alice, "PROPFIND", cal, propfindCalendars, "Depth", "1")
	if code != http.StatusMultiStatus || strings.Contains(body, "x.ics") {
		t.Fatalf("the calendar changed: %d\n%s", code, body)
	}
}

// TestRuleCountInterval PUTs rules whose COUNT or INTERVAL is not the
// positive 1*DIGIT RFC 5545 section 3.3.10 says: each is refused with
// valid-calendar-data but COUNT=0, which Apple's Calendar and tasks.org
// write for "forever" (sabre/dav#1455, tasks/tasks#2158): it is stored
// without its COUNT, the endless rule the client meant.
func TestRuleCountInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	cal := alice.home() + "personal/"
	for _, rule := range []string{
		"FREQ=WEEKLY;COUNT=+5", "FREQ=WEEKLY;COUNT=-3", "FREQ=WEEKLY;COUNT=", "FREQ=WEEKLY;COUNT=5x",
		"FREQ=WEEKLY;INTERVAL=0", "FREQ=WEEKLY;INTERVAL=-1", "FREQ=WEEKLY;INTERVAL=+2", "FREQ=WEEKLY;INTERVAL= 2",
	} {
		code, body, _ := e.do(t, alice, "PUT", cal+"r.ics", event("r", "20260610T090000Z", "20260610T100000Z", "RRULE:"+rule+"\r\n"))
		if code != http.StatusForbidden || !strings.Contains(body, "valid-calendar-data") {
			t.Errorf("RRULE:%s: %d %s, want 403 valid-calendar-data", rule, code, body)
		}
	}
	for _, c := range []struct{ rule, want string }{
		{"FREQ=WEEKLY;COUNT=0;INTERVAL=1;BYDAY=WE", "RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE\r\n"},
		{"FREQ=YEARLY;COUNT=0;UNTIL=20300427T220000Z;BYMONTH=4;BYDAY=4SA", "RRULE:FREQ=YEARLY;UNTIL=20300427T220000Z;BYMONTH=4;BYDAY=4SA\r\n"},
		{"FREQ=WEEKLY;COUNT=05", "RRULE:FREQ=WEEKLY;COUNT=05\r\n"},
	} {
		code, body, _ := e.do(t, alice, "PUT", cal+"ok.ics", event("ok", "20260610T090000Z", "20260610T100000Z", "RRULE:"+c.rule+"\r\n"))
		if code != http.StatusCreated && code != http.StatusNoContent {
			t.Errorf("RRULE:%s: %d %s", c.rule, code, body)
			continue
		}
		if _, got, _ := e.do(t, alice, "GET", cal+"ok.ics", ""); !strings.Contains(got, c.want) {
			t.Errorf("RRULE:%s stored as\n%s\nwant %q", c.rule, got, c.want)
		}
	}
	code, body, _ := e.do(t, alice, "PROPFIND", cal, propfindCalendars, "Depth", "1")
	if code != http.StatusMultiStatus || strings.Contains(body, "r.ics") {
		t.Fatalf("a refused rule was stored: %d\n%s", code, body)
	}
}

// TestMkcalendar makes a calendar as Thunderbird does (MKCALENDAR, RFC
// 4791 section 5.3.1) and finds it in the home; a group's name and a
// bad name are refused.
func TestMkcalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	body := `<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Press office</D:displayname><C:calendar-description>Interviews</C:calendar-description></D:prop></D:set></C:mkcalendar>`
	if code, b, _ := e.do(t, alice, "MKCALENDAR", alice.home()+"press/", body); code != http.StatusCreated {
		t.Fatalf("MKCALENDAR: %d %s", code, b)
	}
	if code, _, _ := e.do(t, alice, "MKCALENDAR", alice.home()+"press/", body); code != http.StatusMethodNotAllowed {
		t.Errorf("MKCALENDAR again: %d, want 405", code)
	}
	for _, bad := range []string{"group-1/", "Caps/", "personal/x/"} {
		if code, _, _ := e.do(t, alice, "MKCALENDAR", alice.home()+bad, body); code != http.StatusForbidden {
			t.Errorf("MKCALENDAR %s: %d, want 403", bad, code)
		}
	}
	code, b, _ := e.do(t, alice, "PROPFIND", alice.home(), propfindCalendars, "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(b, alice.home()+"press/") || !strings.Contains(b, "Press office") {
		t.Fatalf("the home after MKCALENDAR: %d\n%s", code, b)
	}
	if code, _, _ := e.do(t, alice, "PUT", alice.home()+"press/iv.ics", event("iv", "20260610T090000Z", "20260610T100000Z", "")); code != http.StatusCreated {
		t.Fatalf("PUT in the new calendar: %d", code)
	}
}

// TestProppatchRefusedPerProperty: a calendar's colour set as Apple
// Calendar does gets a 207 with the property refused, not a failed
// request.
func TestProppatchRefusedPerProperty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	body := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><A:calendar-color>#FF0000FF</A:calendar-color></D:prop></D:set></D:propertyupdate>`
	code, b, _ := e.do(t, alice, "PROPPATCH", alice.home()+"personal/", body)
	if code != http.StatusMultiStatus || !strings.Contains(b, "calendar-color") || !strings.Contains(b, "403") {
		t.Fatalf("PROPPATCH: %d\n%s", code, b)
	}
}
