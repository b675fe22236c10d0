package console

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestIncidentExplainsAndReports: switching incident mode on signs the
// admin out with an explanation on the sign-in page, and after signing in
// again (with their key) the admin lands on the report of what was
// revoked; the dashboard links to it while incident mode is on (issue 16
// bug 8: the sign-in page said nothing and the report was never shown).
func TestIncidentExplainsAndReports(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	c.env.User(t, "vol@example.org", auth.RoleMember)
	code, loc, _ := c.do(t, admin, "POST", "/admin/incident", url.Values{"csrf": {c.csrf(t, admin)}, "on": {"1"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("incident on: %d %q", code, loc)
	}
	code, _, body := c.do(t, admin, "GET", loc, nil)
	if code != http.StatusOK || !strings.Contains(body, "Incident mode is on") || !strings.Contains(body, "signed out") {
		t.Errorf("the sign-in page after incident mode does not say why the admin was signed out: %d\n%s", code, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	next := u.Query().Get("next")
	admin.Session = c.env.SignIn(t, admin)
	c.stepUp(t, admin)
	code, _, body = c.do(t, admin, "GET", next, nil)
	if code != http.StatusOK || !strings.Contains(body, `id="steps"`) || !strings.Contains(body, "app passwords revoked") {
		t.Fatalf("where the admin lands after signing in again (%q): %d, want the incident report\n%s", next, code, body)
	}
	_, _, body = c.do(t, admin, "GET", "/admin", nil)
	if link := href(t, body, "incidentreport"); link != next {
		t.Errorf("the dashboard's link to the report is %q, want %q", link, next)
	}
}

// TestIncidentKeepsAction: during incident mode, an action sent from a
// session that has not proved a key is kept for after the key, not lost;
// a forged one (no CSRF token) is not kept.
func TestIncidentKeepsAction(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	c.act(t, admin, "/admin/incident", url.Values{"on": {"1"}})
	admin.Session = c.env.SignIn(t, admin) // with TOTP
	path := "/admin/people/" + itoa(vol.Account.ID) + "/quota"
	code, _, body := c.do(t, admin, "POST", path, url.Values{"csrf": {c.csrf(t, admin)}, "quota_mb": {"5"}})
	next := strings.TrimPrefix(html.UnescapeString(href(t, body, "reauth")), "/reauth?next=")
	next, _ = url.QueryUnescape(next)
	if code != http.StatusForbidden || !strings.HasPrefix(next, "/admin/pending/") {
		t.Fatalf("an action during incident mode: %d, confirm then %q; want the pending action", code, next)
	}
	_, _, body = c.do(t, admin, "POST", path, url.Values{"quota_mb": {"5"}})
	if link := href(t, body, "reauth"); strings.Contains(link, "pending") {
		t.Errorf("a form without its CSRF token was kept: %q", link)
	}
	c.stepUp(t, admin)
	if code, _, body := c.do(t, admin, "GET", next, nil); code != http.StatusOK || !strings.Contains(body, `action="`+path+`"`) {
		t.Errorf("the kept action after the key: %d", code)
	}
}
