package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// act posts a console form and, when the answer is a redirect to a page
// of the console (Post/Redirect/Get), reads that page: the final status
// and page.
func (c *console) act(t *testing.T, u *authtest.User, path string, form url.Values) (int, string) {
	t.Helper()
	form.Set("csrf", c.csrf(t, u))
	code, loc, body := c.do(t, u, "POST", path, form)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin") {
		return code, body
	}
	code, _, body = c.do(t, u, "GET", loc, nil)
	return code, body
}

// TestPostRedirectGet: every console action that succeeds answers with a
// redirect to a page, which shows a one-time notice: reloading it does
// not repeat the action, and the notice is gone.
func TestPostRedirectGet(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	person := "/admin/people/" + itoa(vol.Account.ID)
	for _, tc := range []struct {
		path   string
		form   url.Values
		to     string
		notice string
	}{
		{person + "/quota", url.Values{"quota_mb": {"100"}}, person, "Mail quota saved"},
		{person + "/suspend", url.Values{}, person, "Suspended"},
		{person + "/reactivate", url.Values{}, person, "Reactivated"},
		{person + "/revoke", url.Values{}, person, "Access revoked"},
		{"/admin/groups", url.Values{"name": {"press"}}, "/admin/groups", "Group press created"},
		{"/admin/groups/press/members", url.Values{"login": {"vol@example.org"}}, "/admin/groups", "added to press"},
		{"/admin/groups/press/rename", url.Values{"to": {"media"}}, "/admin/groups", "Group renamed"},
		{"/admin/groups/media/members/" + itoa(vol.Account.ID) + "/remove", url.Values{}, "/admin/groups", "removed from media"},
	} {
		tc.form.Set("csrf", c.csrf(t, admin))
		code, loc, _ := c.do(t, admin, "POST", tc.path, tc.form)
		if code != http.StatusSeeOther || loc != tc.to {
			t.Errorf("POST %s: %d to %q, want 303 to %s", tc.path, code, loc, tc.to)
			continue
		}
		if _, _, body := c.do(t, admin, "GET", loc, nil); !strings.Contains(body, tc.notice) {
			t.Errorf("after POST %s, %s lacks the notice %q", tc.path, loc, tc.notice)
		}
		if _, _, body := c.do(t, admin, "GET", loc, nil); strings.Contains(body, tc.notice) {
			t.Errorf("after POST %s, %s shows the notice %q again", tc.path, loc, tc.notice)
		}
	}
}
