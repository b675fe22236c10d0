package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestCalendarsWired checks the wiring of calendars in the real server:
// the discovery redirect, CalDAV at /caldav/ over TLS with a calendar app
// password (a files one is refused), an event stored and read back, and
// the member's revocation closing the door at once.
func TestCalendarsWired(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	const login = "diary@localhost"
	id, secret := enrolWithAppPassword(t, srv, login, "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	_, port, err := net.SplitHostPort(srv.addrs["https"])
	if err != nil {
		t.Fatal(err)
	}
	base := "https://localhost:" + port
	c := devClient(t, dir)
	do := func(method, path, pass, body string, hdr ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if pass != "" {
			req.SetBasicAuth(login, pass)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, _, h := do("PROPFIND", "/.well-known/caldav", "", ""); code != http.StatusMovedPermanently || h.Get("Location") != "/caldav/" {
		t.Fatalf("/.well-known/caldav: %d %q", code, h.Get("Location"))
	}
	propfind := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/></D:prop></D:propfind>`
	if code, body, _ := do("PROPFIND", "/caldav/", secret, propfind, "Depth", "0", "Content-Type", "application/xml"); code != http.StatusMultiStatus || !strings.Contains(body, "/caldav/"+login+"/") {
		t.Fatalf("PROPFIND /caldav/: %d\n%s", code, body)
	}
	_, filesSecret := enrolWithAppPassword(t, srv, "files@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeFiles)
	req, _ := http.NewRequestWithContext(t.Context(), "PROPFIND", base+"/caldav/", strings.NewReader(propfind))
	req.SetBasicAuth("files@localhost", filesSecret)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a files app password: %s, want 401", resp.Status)
	}
	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:hustings\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260610T180000Z\r\nDTEND:20260610T200000Z\r\nSUMMARY:Hustings\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	u := "/caldav/" + login + "/calendars/personal/hustings.ics"
	if code, body, _ := do("PUT", u, secret, ev, "Content-Type", "text/calendar", "If-None-Match", "*"); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, body, _ := do("GET", u, secret, ""); code != http.StatusOK || !strings.Contains(body, "SUMMARY:Hustings") {
		t.Fatalf("GET: %d %s", code, body)
	}
	if _, err := srv.auth.Revoke(t.Context(), "admin", id, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := do("GET", u, secret, ""); code != http.StatusUnauthorized {
		t.Fatalf("GET after the revocation: %d, want 401", code)
	}
}
