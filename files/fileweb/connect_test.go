package fileweb

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// The files pages say where WebDAV is and how each system connects to it,
// with the member's user name and a way to an app password.
func TestConnectPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	home := anna.get(t, "/files/p/Home")
	if !strings.Contains(home.body, `href="/files/connect"`) {
		t.Errorf("the files pages do not link to the connect page:\n%s", home.body)
	}
	r := anna.get(t, "/files/connect")
	want(t, "connect", r, http.StatusOK)
	u, _ := url.Parse(e.h.origin(httptest.NewRequest("GET", e.ts.URL, nil)))
	for _, s := range []string{
		"https://" + u.Host + "/dav/", "davs://" + u.Host + "/dav/", "anna@example.org",
		`href="/account#apppasswords"`, "Windows", "macOS", "Linux", "iPhone", "Android", "rclone config create",
		`id="davurl"`,
	} {
		if !strings.Contains(r.body, s) {
			t.Errorf("connect page lacks %q", s)
		}
	}
}
