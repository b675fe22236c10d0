package caldav_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/caldav"
)

// FuzzRequest sends any method, path, headers and body to the handler as
// a signed-in member: nothing may panic (go-webdav's handler does not
// recover, and net/http would log the stack), and nothing may answer 5xx.
func FuzzRequest(f *testing.F) {
	ae := authtest.New(f, auth.Config{}, calendar.Component())
	st := calendar.New(ae.DB, ae.Auth, ae.Audit, ae.Clock.Now, nil)
	h := caldav.New(st, ae.Auth, nil, nil)
	mux := http.NewServeMux()
	h.Register(mux)
	u := ae.User(f, "fuzz@example.org", auth.RoleMember)
	secret := ae.AppPassword(f, u, "fuzz", auth.ScopeCalendar)
	home := "/caldav/fuzz@example.org/calendars/"
	f.Add("PUT", "personal/a.ics", "", event("a", "20260610T090000Z", "20260610T100000Z", ""))
	f.Add("REPORT", "personal/", "1", query("20260601T000000Z", "20260701T000000Z"))
	f.Add("REPORT", "personal/", "1", multiget(home+"personal/a.ics", "/x"))
	f.Add("REPORT", "personal/", "1", syncReport(""))
	f.Add("REPORT", "personal/", "1", syncReport("data:,caucus-calendar-1-0"))
	f.Add("PROPFIND", "", "1", propfindCalendars)
	f.Add("PROPFIND", "personal/", "0", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`)
	f.Add("MKCOL", "new/", "", `<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>`)
	f.Add("DELETE", "personal/a.ics", "", "")
	f.Add("REPORT", "personal/", "1", freeBusyQuery("20260601T000000Z", "20260701T000000Z"))
	f.Add("REPORT", "../../other@example.org/calendars/personal/", "1", freeBusyQuery("20260601T000000Z", ""))
	f.Add("PROPPATCH", "personal/", "", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"/>`)
	f.Fuzz(func(t *testing.T, method, path, depth, body string) {
		if strings.ContainsAny(path, " \r\n\t#?%") {
			return
		}
		req, err := http.NewRequestWithContext(t.Context(), method, "http://localhost"+home+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:1234"
		req.SetBasicAuth("fuzz@example.org", secret)
		if depth != "" && !strings.ContainsAny(depth, "\r\n") {
			req.Header.Set("Depth", depth)
		}
		if strings.HasPrefix(body, "BEGIN") {
			req.Header.Set("Content-Type", "text/calendar")
		} else {
			req.Header.Set("Content-Type", "application/xml")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusInsufficientStorage && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	})
}
