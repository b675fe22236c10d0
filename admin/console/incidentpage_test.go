package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestIncidentPage: the admin prepares the members' message in the
// console (kept, shown again, refused when half filled), and during
// incident mode ticks the checklist, whose ticks are kept; a member
// reaches none of it.
func TestIncidentPage(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	if code, _, _ := c.do(t, member, "GET", "/admin/incident", nil); code != http.StatusForbidden {
		t.Errorf("a member opened the incident page: %d", code)
	}
	if code, _ := c.act(t, member, "/admin/incident/message", url.Values{"lang": {"en"}, "subject": {"x"}, "body": {"y"}}); code != http.StatusForbidden {
		t.Errorf("a member saved the message: %d", code)
	}
	_, body := c.act(t, admin, "/admin/incident/message", url.Values{"lang": {"it"}, "subject": {"Incidente"}, "body": {""}})
	if !strings.Contains(body, "both a subject and a text") {
		t.Errorf("a subject without text was not refused:\n%s", body)
	}
	code, body := c.act(t, admin, "/admin/incident/message", url.Values{"lang": {"it"}, "subject": {"Incidente"}, "body": {"Non aprite allegati."}})
	if code != http.StatusOK || !strings.Contains(body, "Message saved") || !strings.Contains(body, "Non aprite allegati.") {
		t.Fatalf("saving the message: %d\n%s", code, body)
	}
	if strings.Contains(body, `id="checklist"`) {
		t.Error("a checklist outside incident mode")
	}
	if code, body = c.act(t, admin, "/admin/incident/check", url.Values{"item": {"lead"}, "done": {"1"}}); !strings.Contains(body, "Incident mode is not on") {
		t.Errorf("a tick outside incident mode: %d\n%s", code, body)
	}
	c.act(t, admin, "/admin/incident", url.Values{"on": {"1"}})
	admin.Session = c.env.SignIn(t, admin)
	c.stepUp(t, admin)
	code, body = c.act(t, admin, "/admin/incident/check", url.Values{"item": {"lead"}, "done": {"1"}})
	if code != http.StatusOK || !strings.Contains(body, "Checklist saved") {
		t.Fatalf("ticking: %d\n%s", code, body)
	}
	_, _, body = c.do(t, admin, "GET", "/admin/incident", nil)
	lead := body[strings.Index(body, `id="check-lead"`):]
	lead = lead[:strings.Index(lead, "</li>")]
	if !strings.Contains(lead, "ticked by boss@example.org") || !strings.Contains(lead, `name="done" value="0"`) {
		t.Errorf("the ticked item:\n%s", lead)
	}
	signout := body[strings.Index(body, `id="check-signout"`):]
	if signout = signout[:strings.Index(signout, "</li>")]; !strings.Contains(signout, "done by caucus") || strings.Contains(signout, "<form") {
		t.Errorf("what caucus did:\n%s", signout)
	}
}
