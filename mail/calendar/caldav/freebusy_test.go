package caldav_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

func freeBusyQuery(start, end string) string {
	return `<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="` + start + `" end="` + end + `"/></C:free-busy-query>`
}

// TestFreeBusy: a member sees the busy time of a member of a group they
// share (periods only), and nothing of a member they share no group with.
func TestFreeBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob, carol := e.person(t, "alice", auth.ScopeCalendar), e.person(t, "bob", auth.ScopeCalendar), e.person(t, "carol", auth.ScopeCalendar)
	ctx := t.Context()
	if err := e.Auth.CreateGroup(ctx, "admin", "board"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []person{alice, bob} {
		if err := e.Auth.AddToGroup(ctx, "admin", "board", p.id); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []struct{ uid, start, end, extra string }{
		{"meeting", "20260610T100000Z", "20260610T110000Z", "DESCRIPTION:secret agenda\r\n"},
		{"free", "20260610T120000Z", "20260610T130000Z", "TRANSP:TRANSPARENT\r\n"},
		{"cancelled", "20260610T140000Z", "20260610T150000Z", "STATUS:CANCELLED\r\n"},
		{"weekly", "20260601T080000Z", "20260601T090000Z", "RRULE:FREQ=WEEKLY;COUNT=3\r\n"},
	} {
		if code, _, _ := e.do(t, bob, "PUT", bob.home()+"personal/"+ev.uid+".ics", event(ev.uid, ev.start, ev.end, ev.extra)); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", ev.uid, code)
		}
	}
	q := freeBusyQuery("20260601T000000Z", "20260701T000000Z")
	code, body, h := e.do(t, alice, "REPORT", bob.home()+"personal/", q, "Depth", "1")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/calendar") {
		t.Fatalf("alice's free-busy-query of bob: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	for _, want := range []string{"BEGIN:VFREEBUSY", "20260610T100000Z/20260610T110000Z", "20260601T080000Z/20260601T090000Z", "20260615T080000Z/20260615T090000Z"} {
		if !strings.Contains(body, want) {
			t.Errorf("free-busy lacks %s\n%s", want, body)
		}
	}
	for _, not := range []string{"secret", "Canvassing", "20260610T120000Z", "20260610T140000Z", "20260622T080000Z"} {
		if strings.Contains(body, not) {
			t.Errorf("free-busy has %q\n%s", not, body)
		}
	}
	for _, c := range []struct {
		who  person
		path string
		body string
	}{
		{carol, bob.home() + "personal/", q},                                             // shares no group with bob
		{alice, bob.home() + "personal/", query("20260601T000000Z", "20260701T000000Z")}, // not a free-busy query
		{alice, bob.home() + "other/", q},
		{alice, "/caldav/nobody@example.org/calendars/personal/", q},
	} {
		if code, body, _ := e.do(t, c.who, "REPORT", c.path, c.body, "Depth", "1"); code != http.StatusNotFound || strings.Contains(body, "VFREEBUSY") {
			t.Errorf("%s REPORT %s: %d, want 404\n%s", c.who.login, c.path, code, body)
		}
	}
	if code, body, _ := e.do(t, bob, "REPORT", bob.home()+"personal/", q, "Depth", "1"); code != http.StatusOK || !strings.Contains(body, "FREEBUSY") {
		t.Errorf("bob's own free-busy: %d\n%s", code, body)
	}
}
