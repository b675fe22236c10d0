package fileweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// Something newly shared with a member is announced on their file pages
// until they open Shared.
func TestShareNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"plan.txt", "p"}), http.StatusSeeOther)
	if home := ben.get(t, "/files/p/Home"); strings.Contains(home.body, `id="sharenotice"`) {
		t.Errorf("notice before anything was shared:\n%s", home.body)
	}
	want(t, "share", anna.post(t, "/files/share/Home/plan.txt", url.Values{"with": {"ben@example.org"}, "mode": {"read"}}), http.StatusSeeOther)
	home := ben.get(t, "/files/p/Home")
	if !strings.Contains(home.body, `id="sharenotice"`) || !strings.Contains(home.body, "anna@example.org shared “plan.txt” with you.") {
		t.Fatalf("no notice of the new share:\n%s", home.body)
	}
	if own := anna.get(t, "/files/p/Home"); strings.Contains(own.body, `id="sharenotice"`) {
		t.Error("the sharer is told of her own share")
	}
	want(t, "open Shared", ben.get(t, "/files/p/Shared"), http.StatusOK)
	if home := ben.get(t, "/files/p/Home"); strings.Contains(home.body, `id="sharenotice"`) {
		t.Errorf("notice still shown after opening Shared:\n%s", home.body)
	}
}
