package fileweb

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// The limits of the share suggestions, the text preview and the share
// notice.
func TestFilesUXLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	for i := range maxSuggestions + 2 {
		e.user(t, fmt.Sprintf("m%02d@example.org", i), auth.RoleMember)
	}
	r := anna.get(t, "/files/complete?q=m")
	var got []suggestion
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got) != maxSuggestions {
		t.Errorf("complete m: %d suggestions (%v), want %d", len(got), err, maxSuggestions)
	}

	long := strings.Repeat("line of text\n", maxTextPreview/13+10) + "THE END"
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"long.txt", long}), http.StatusSeeOther)
	item := anna.get(t, "/files/item/Home/long.txt")
	if !strings.Contains(item.body, "Only the beginning is shown.") || strings.Contains(item.body, "THE END") {
		t.Error("a long text file is not cut in the preview")
	}

	ben := e.user(t, "ben@example.org", auth.RoleMember)
	for i := range maxNoticed + 2 {
		name := fmt.Sprintf("f%d.txt", i)
		want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{name, "x"}), http.StatusSeeOther)
		want(t, "share", anna.post(t, "/files/share/Home/"+name, url.Values{"with": {"ben@example.org"}}), http.StatusSeeOther)
	}
	home := ben.get(t, "/files/p/Home")
	if n := strings.Count(home.body, "shared “f"); n != maxNoticed || !strings.Contains(home.body, "and 2 more") {
		t.Errorf("notice names %d shares, want %d and 2 more:\n%s", n, maxNoticed, home.body)
	}
}
