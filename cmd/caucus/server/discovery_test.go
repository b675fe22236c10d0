package server

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestClientDiscovery follows, against the real server, the steps the
// README's calendar and contacts clients take from the address it tells
// members to type: Thunderbird's calendar detection (the location, then
// /.well-known/caldav: current-user-principal, the principal's
// calendar-home-set, the home's calendars), its "Add CardDAV Address
// Book" from /carddav/, DAVx5 from the bare server address (its
// PROPFIND on / may fail, then the well-known addresses, RFC 6764
// section 5), and the Apple profile's principal URLs. Each ends at the
// member's own calendar and book, the group's and the party directory.
func TestClientDiscovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	const login = "phone@localhost"
	id, secret := enrolWithAppPassword(t, srv, login, "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	if err := srv.auth.CreateGroup(t.Context(), "", "press"); err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.AddToGroup(t.Context(), "", "press", id); err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(srv.addrs["https"])
	if err != nil {
		t.Fatal(err)
	}
	base := "https://localhost:" + port
	c := devClient(t, dir)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// propfind asks path for props, following redirects as DAV clients do
	// (same method, same body), and returns the multistatus.
	propfind := func(path, depth string, props ...string) (int, string) {
		t.Helper()
		body := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop>` +
			strings.Join(props, "") + `</D:prop></D:propfind>`
		for range 5 {
			req, _ := http.NewRequestWithContext(t.Context(), "PROPFIND", base+path, strings.NewReader(body))
			req.SetBasicAuth(login, secret)
			req.Header.Set("Depth", depth)
			req.Header.Set("Content-Type", "application/xml")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
				path = loc
				continue
			}
			return resp.StatusCode, string(b)
		}
		t.Fatalf("PROPFIND %s: too many redirects", path)
		return 0, ""
	}
	href := func(body, prop string) string {
		t.Helper()
		m := regexp.MustCompile(`(?s)<[a-zA-Z]*:?` + prop + `[^>]*>\s*<[a-zA-Z]*:?href[^>]*>([^<]+)</`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in\n%s", prop, body)
		}
		return m[1]
	}
	// follow walks from start to the collections of the home set that
	// homeProp names, and returns the home's listing.
	follow := func(start, homeProp, homeNS string) string {
		t.Helper()
		code, body := propfind(start, "0", "<D:resourcetype/>", "<D:current-user-principal/>", "<"+homeNS+":"+homeProp+"/>")
		if code != http.StatusMultiStatus {
			t.Fatalf("PROPFIND %s: %d\n%s", start, code, body)
		}
		principal := href(body, "current-user-principal")
		code, body = propfind(principal, "0", "<D:resourcetype/>", "<"+homeNS+":"+homeProp+"/>")
		// Thunderbird takes only a resource whose DAV:resourcetype names
		// DAV:principal (RFC 3744 section 4) for a principal.
		if code != http.StatusMultiStatus || !regexp.MustCompile(`(?s)<resourcetype[^>]*>.*<principal[ />]`).MatchString(body) {
			t.Fatalf("principal %s: %d, not a DAV:principal\n%s", principal, code, body)
		}
		home := href(body, homeProp)
		code, body = propfind(home, "1", "<D:resourcetype/>", "<D:displayname/>", "<D:current-user-privilege-set/>")
		if code != http.StatusMultiStatus {
			t.Fatalf("home %s: %d\n%s", home, code, body)
		}
		return body
	}
	calendars := func(from, listing string) {
		t.Helper()
		if n := strings.Count(listing, "calendar/>") + strings.Count(listing, "calendar></"); n < 2 || !strings.Contains(listing, "/calendars/personal/") || !strings.Contains(listing, "/calendars/group-") {
			t.Errorf("from %s: the calendars listed are not the member's and the group's:\n%s", from, listing)
		}
	}
	books := func(from, listing string) {
		t.Helper()
		if !strings.Contains(listing, "addressbook") || !strings.Contains(listing, "press") || !strings.Contains(listing, "/books/") {
			t.Errorf("from %s: the address books listed are not the member's, the group's and the directory:\n%s", from, listing)
		}
	}
	// Thunderbird, calendars: the server's address, then .well-known.
	calendars("/.well-known/caldav", follow("/.well-known/caldav", "calendar-home-set", "C"))
	// Thunderbird, Add CardDAV Address Book at /carddav/.
	listing := follow("/carddav/", "addressbook-home-set", "A")
	books("/carddav/", listing)
	// Thunderbird keeps a book whose first status is 200 and, when a
	// DAV:current-user-privilege-set is in the answer at all, whose set
	// names read or write (RFC 3744 section 5.4); the book is read-only
	// without write.
	found := thunderbirdBooks(listing)
	if want := map[string]bool{"books/contacts/": true, "books/group-press/": true, "books/directory/": false}; len(found) != len(want) {
		t.Errorf("Thunderbird would add %v, want %v", found, want)
	} else {
		for k, w := range want {
			if got, ok := found[k]; !ok || got != w {
				t.Errorf("Thunderbird would add %s: %v (writable %v), want writable %v", k, ok, got, w)
			}
		}
	}
	// DAVx5 from https://host/: a PROPFIND on / must not break the
	// search (no 5xx), then both well-known addresses.
	if code, body := propfind("/", "0", "<D:current-user-principal/>"); code >= 500 {
		t.Errorf("PROPFIND /: %d\n%s", code, body)
	}
	books("/.well-known/carddav", follow("/.well-known/carddav", "addressbook-home-set", "A"))
	// The Apple profile names /caldav/ and /carddav/ as principal URLs.
	calendars("/caldav/", follow("/caldav/", "calendar-home-set", "C"))
}

// thunderbirdBooks are the address books Thunderbird's detection
// (CardDAVUtils.detectAddressBooks) adds from a home set's listing, by
// the end of their path, and whether it may write them.
func thunderbirdBooks(listing string) map[string]bool {
	status := regexp.MustCompile(`<(?:[a-zA-Z]+:)?status[^>]*>([^<]*)<`)
	privSet := regexp.MustCompile(`(?s)<(?:[a-zA-Z]+:)?current-user-privilege-set[^>]*>(.*?)</(?:[a-zA-Z]+:)?current-user-privilege-set>|<(?:[a-zA-Z]+:)?current-user-privilege-set[^>]*/>`)
	priv := regexp.MustCompile(`<(?:[a-zA-Z]+:)?privilege[^>]*>\s*<(?:[a-zA-Z]+:)?([a-z-]+)`)
	href := regexp.MustCompile(`<(?:[a-zA-Z]+:)?href[^>]*>([^<]+)<`)
	out := map[string]bool{}
	for _, r := range strings.Split(listing, "<response")[1:] {
		if m := status.FindStringSubmatch(r); m == nil || m[1] != "HTTP/1.1 200 OK" || !strings.Contains(r, "addressbook") {
			continue
		}
		writable := false
		if set := privSet.FindStringSubmatch(r); set != nil {
			readable := false
			for _, p := range priv.FindAllStringSubmatch(set[1], -1) {
				switch p[1] {
				case "write", "write-content", "all":
					writable = true
				case "read":
					readable = true
				}
			}
			if !writable && !readable {
				continue
			}
		}
		h := href.FindStringSubmatch(r)[1]
		out[h[strings.Index(h, "books/"):]] = writable
	}
	return out
}
