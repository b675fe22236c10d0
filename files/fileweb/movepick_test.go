package fileweb

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// moveChoices returns the destinations the item page's Move form offers.
func moveChoices(t *testing.T, c *agent, item string) []string {
	t.Helper()
	r := c.get(t, "/files/item/"+item)
	want(t, "item "+item, r, http.StatusOK)
	sel := regexp.MustCompile(`(?s)<select id="dest" name="to"[^>]*>(.*?)</select>`).FindStringSubmatch(r.body)
	if sel == nil {
		t.Fatalf("item %s: Move has no folder picker:\n%s", item, r.body)
	}
	var out []string
	for _, m := range regexp.MustCompile(`<option value="([^"]*)"`).FindAllStringSubmatch(sel[1], -1) {
		out = append(out, m[1])
	}
	return out
}

// Move offers the folders one may write to, from the tree, never the
// item itself or a folder inside it.
func TestMoveFolderPicker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	if err := e.auth.Auth.AddToGroup(t.Context(), "", "press", anna.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Campaign"}}), http.StatusSeeOther)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home/Campaign", url.Values{"name": {"2027"}}), http.StatusSeeOther)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)

	if got, w := strings.Join(moveChoices(t, anna, "Home/a.txt"), " "), "Home Home/Campaign Home/Campaign/2027 Groups/press"; got != w {
		t.Errorf("choices for a file = %q, want %q", got, w)
	}
	if got, w := strings.Join(moveChoices(t, anna, "Home/Campaign"), " "), "Home Groups/press"; got != w {
		t.Errorf("choices for a folder = %q, want %q", got, w)
	}
	want(t, "move", anna.post(t, "/files/move/Home/a.txt", url.Values{"to": {"Home/Campaign/2027"}}), http.StatusSeeOther)
	if !anna.exists(t, "/Home/Campaign/2027/a.txt") {
		t.Error("the file was not moved to the chosen folder")
	}
}
