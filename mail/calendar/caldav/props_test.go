package caldav_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// multistatus is a PROPFIND answer (RFC 4918 section 14.16), with the
// properties these tests read.
type multistatus struct {
	Responses []struct {
		Href     string `xml:"DAV: href"`
		Propstat []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				PrivilegeSet *struct {
					Privileges []struct {
						Names []struct{ XMLName xml.Name } `xml:",any"`
					} `xml:"DAV: privilege"`
				} `xml:"DAV: current-user-privilege-set"`
				AddressSet *struct {
					Hrefs []string `xml:"DAV: href"`
				} `xml:"urn:ietf:params:xml:ns:caldav calendar-user-address-set"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

func parseMultistatus(t *testing.T, body string) multistatus {
	t.Helper()
	var ms multistatus
	if err := xml.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatalf("multistatus: %v\n%s", err, body)
	}
	return ms
}

// privileges returns, by href, the DAV privileges of each response's
// current-user-privilege-set in a 200 propstat, sorted; a response
// without one is absent.
func privileges(t *testing.T, body string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range parseMultistatus(t, body).Responses {
		for _, ps := range r.Propstat {
			if !strings.Contains(ps.Status, " 200 ") || ps.Prop.PrivilegeSet == nil {
				continue
			}
			names := []string{}
			for _, p := range ps.Prop.PrivilegeSet.Privileges {
				for _, n := range p.Names {
					if n.XMLName.Space != "DAV:" {
						t.Errorf("%s: privilege %v is not a DAV privilege", r.Href, n.XMLName)
					}
					names = append(names, n.XMLName.Local)
				}
			}
			slices.Sort(names)
			out[r.Href] = names
		}
	}
	return out
}

const propfindPrivileges = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:current-user-privilege-set/></D:prop></D:propfind>`

// TestCalendarPrivilegeSet: calendars answer DAV:current-user-privilege-set
// (RFC 3744 section 5.4), read and write but for a read-only group
// calendar, read only, so that iOS and Thunderbird show that one
// read-only instead of failing at the first write. It holds for the
// home's listing (Depth 1) and for each calendar's own PROPFIND.
func TestCalendarPrivilegeSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	ctx := t.Context()
	gids := map[string]int64{}
	for _, g := range []string{"board", "press"} {
		if err := e.Auth.CreateGroup(ctx, "admin", g); err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.AddToGroup(ctx, "admin", g, alice.id); err != nil {
			t.Fatal(err)
		}
		gids[g], _ = e.Auth.GroupID(ctx, g)
	}
	if err := e.store.SetGroupReadOnly(ctx, "admin@example.org", auth.Group{ID: gids["press"], Name: "press"}, true); err != nil {
		t.Fatal(err)
	}
	readWrite := []string{"bind", "read", "unbind", "write", "write-content", "write-properties"}
	want := map[string][]string{
		alice.home() + "personal/":                             readWrite,
		alice.home() + fmt.Sprintf("group-%d/", gids["board"]): readWrite,
		alice.home() + fmt.Sprintf("group-%d/", gids["press"]): {"read"},
	}
	code, body, _ := e.do(t, alice, "PROPFIND", alice.home(), propfindPrivileges, "Depth", "1")
	if code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND home: %d\n%s", code, body)
	}
	got := privileges(t, body)
	for href, w := range want {
		if !slices.Equal(got[href], w) {
			t.Errorf("listing: %s: privileges %v, want %v", href, got[href], w)
		}
	}
	for href, w := range want {
		code, body, _ := e.do(t, alice, "PROPFIND", href, propfindPrivileges, "Depth", "0")
		if code != http.StatusMultiStatus {
			t.Fatalf("PROPFIND %s: %d\n%s", href, code, body)
		}
		if got := privileges(t, body)[href]; !slices.Equal(got, w) {
			t.Errorf("PROPFIND %s: privileges %v, want %v\n%s", href, got, w, body)
		}
	}
}

// TestCalendarUserAddressSet: the principal answers
// CALDAV:calendar-user-address-set (RFC 6638 section 2.4.1) with the
// member's address, by which Apple Calendar tells which ATTENDEE of an
// event is the member.
func TestCalendarUserAddressSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	const req = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:current-user-principal/><C:calendar-user-address-set/></D:prop></D:propfind>`
	principal := "/caldav/alice@example.org/"
	code, body, _ := e.do(t, alice, "PROPFIND", principal, req, "Depth", "0")
	if code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND principal: %d\n%s", code, body)
	}
	var got []string
	found := false
	for _, r := range parseMultistatus(t, body).Responses {
		for _, ps := range r.Propstat {
			if r.Href == principal && strings.Contains(ps.Status, " 200 ") && ps.Prop.AddressSet != nil {
				got, found = ps.Prop.AddressSet.Hrefs, true
			}
		}
	}
	if want := []string{"mailto:" + alice.login}; !found || !slices.Equal(got, want) {
		t.Errorf("calendar-user-address-set: %v (found %v), want %v\n%s", got, found, want, body)
	}
}
