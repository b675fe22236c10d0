package caldav_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/calendar"
)

// mailer records the iMIP messages the store sends.
type mailer struct {
	mu    sync.Mutex
	rcpts []string
}

func (m *mailer) SendAs(_ context.Context, _ auth.Account, to []string, _ []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rcpts = append(m.rcpts, to...)
	return nil
}

type partyDir struct{}

func (partyDir) MemberNames() []string { return nil }
func (partyDir) OwnDomains() []string  { return []string{"example.org"} }

func (e *env) schedule() *mailer {
	m := &mailer{}
	e.store.SetScheduling(calendar.Scheduling{Accounts: e.Auth, Mailer: m, Party: ui.Party{Name: "Test"}, Hostname: "mx.example.org", Directory: partyDir{}})
	return m
}

// TestAutoScheduleAdvertised: the server schedules (RFC 6638 section
// 2: "calendar-auto-schedule" in the DAV header), so clients do not
// send invitations of their own.
func TestAutoScheduleAdvertised(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.schedule()
	alice := e.person(t, "alice", auth.ScopeCalendar)
	for _, p := range []string{"/caldav/", alice.home(), alice.home() + "personal/"} {
		code, _, h := e.do(t, alice, "OPTIONS", p, "")
		if code != http.StatusOK && code != http.StatusNoContent {
			t.Fatalf("OPTIONS %s: %d", p, code)
		}
		dav := h.Get("DAV")
		if !strings.Contains(dav, "calendar-access") || !strings.Contains(dav, "calendar-auto-schedule") {
			t.Errorf("OPTIONS %s: DAV %q", p, dav)
		}
	}
}

// pyInvite: alice saves an event inviting bob and carol; then bob lists
// his calendar and accepts by saving his copy with his PARTSTAT.
const pyInvite = `
import sys, caldav
url, who, password = sys.argv[1:4]
client = caldav.DAVClient(url=url, username=who, password=password)
cal = [c for c in client.principal().calendars() if str(c.url).rstrip("/").endswith("/personal")][0]
if who.startswith("alice"):
    cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//python-caldav test//EN
BEGIN:VEVENT
UID:py-invite
DTSTAMP:20260101T000000Z
DTSTART:20260610T090000Z
DTEND:20260610T100000Z
SUMMARY:Manifesto review
ORGANIZER;CN=Alice:mailto:alice@example.org
ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@outside.test
END:VEVENT
END:VCALENDAR
""")
    print("saved")
else:
    for ev in cal.events():
        v = ev.vobject_instance.vevent
        print("event", v.uid.value, v.summary.value)
        ev.data = ev.data.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@", "PARTSTAT=ACCEPTED:mailto:bob@")
        ev.save()
        print("accepted")
`

// TestPythonCalDAVInvitation: python-caldav, as the organiser, saves an
// event with attendees; the member attendee's calendar has it (python-
// caldav, as him, lists it) and the outside one is mailed; his client's
// accept reaches the organiser's copy.
func TestPythonCalDAVInvitation(t *testing.T) {
	py := pythonCalDAV(t)
	t.Parallel()
	e := newEnv(t)
	sent := e.schedule()
	alice, bob := e.person(t, "alice", auth.ScopeCalendar), e.person(t, "bob", auth.ScopeCalendar)
	dir := t.TempDir()
	script := filepath.Join(dir, "invite.py")
	if err := os.WriteFile(script, []byte(pyInvite), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(p person) string {
		cmd := exec.CommandContext(t.Context(), py, script, e.srv.URL+"/caldav/", p.login, p.secret)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		t.Logf("python-caldav as %s:\n%s", p.login, out)
		if err != nil {
			t.Fatalf("python-caldav: %v", err)
		}
		return string(out)
	}
	if out := run(alice); !strings.Contains(out, "saved") {
		t.Fatal("alice's event not saved")
	}
	if out := run(bob); !strings.Contains(out, "event py-invite Manifesto review\n") || !strings.Contains(out, "accepted") {
		t.Fatalf("bob's calendar through python-caldav:\n%s", out)
	}
	r, err := e.store.Get(t.Context(), storeMember(alice), calendar.PersonalSlug, "py-invite.ics")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calendar.Decode(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := calendar.ReadParties(calendar.MasterEvent(cal))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := p.Attendee("bob@example.org"); a.PartStat != calendar.PartStatAccepted {
		t.Errorf("alice's copy: bob's PARTSTAT %q, want ACCEPTED", a.PartStat)
	}
	sent.mu.Lock()
	defer sent.mu.Unlock()
	if strings.Join(sent.rcpts, " ") != "bob@example.org carol@outside.test" {
		t.Errorf("invitations mailed to %v", sent.rcpts)
	}
}
