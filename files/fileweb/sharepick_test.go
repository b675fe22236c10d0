package fileweb

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// A mistyped member or group is named as such, not as a missing file.
func TestShareUnknownGrantee(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	e.user(t, "ben@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)
	for _, with := range []string{"bne@example.org", "group:bord"} {
		r := anna.post(t, "/files/share/Home/a.txt", url.Values{"with": {with}, "mode": {"read"}})
		want(t, "share with "+with, r, http.StatusBadRequest)
		name := strings.TrimPrefix(with, "group:")
		if !strings.Contains(r.body, "No member or group named") || !strings.Contains(r.body, name) {
			t.Errorf("share with %s: page does not name the mistyped member or group:\n%s", with, r.body)
		}
		if strings.Contains(r.body, "No such file or folder") {
			t.Errorf("share with %s: says the file is missing", with)
		}
	}
}

// The share form completes members' addresses and groups as one types.
func TestShareCompletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	e.user(t, "bernd@example.org", auth.RoleMember)
	if err := e.auth.Auth.AddToGroup(t.Context(), "", "board", ben.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)
	item := anna.get(t, "/files/item/Home/a.txt")
	if !strings.Contains(item.body, `list="share-suggest"`) || !strings.Contains(item.body, `<datalist id="share-suggest">`) {
		t.Errorf("share field has no suggestion list:\n%s", item.body)
	}
	values := func(q string) []string {
		t.Helper()
		r := anna.get(t, "/files/complete?q="+url.QueryEscape(q))
		want(t, "complete "+q, r, http.StatusOK)
		var out []struct{ Value string }
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("complete %q: %v: %s", q, err, r.body)
		}
		var vs []string
		for _, s := range out {
			vs = append(vs, s.Value)
		}
		return vs
	}
	if got := strings.Join(values("be"), " "); got != "ben@example.org bernd@example.org" {
		t.Errorf("complete be = %q", got)
	}
	if got := strings.Join(values("bo"), " "); got != "group:board" {
		t.Errorf("complete bo = %q", got)
	}
	if got := strings.Join(values("group:b"), " "); got != "group:board" {
		t.Errorf("complete group:b = %q", got)
	}
	if got := values("ann"); len(got) != 0 {
		t.Errorf("complete offers oneself: %q", got)
	}
	if got := values(" "); len(got) != 0 {
		t.Errorf("complete of nothing = %q", got)
	}
}

// FuzzCompletionTerm: any query gives a valid, bounded term.
func FuzzCompletionTerm(f *testing.F) {
	for _, s := range []string{"", "be", "group:bo", " GROUP: x ", "\xff\xfe", strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		term, _ := completionTerm(q)
		if !utf8.ValidString(term) || utf8.RuneCountInString(term) > maxTermRunes || term != strings.TrimSpace(term) {
			t.Fatalf("completionTerm(%q) = %q", q, term)
		}
	})
}

// TestShareCompletionVolunteer: a volunteer's share picker offers groups,
// not the member directory.
func TestShareCompletionVolunteer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	vol := e.user(t, "vol@example.org", auth.RoleVolunteer)
	e.user(t, "bernd@example.org", auth.RoleMember)
	if err := e.auth.Auth.CreateGroup(t.Context(), "", "beach"); err != nil {
		t.Fatal(err)
	}
	r := vol.get(t, "/files/complete?q=be")
	want(t, "complete", r, http.StatusOK)
	if strings.Contains(r.body, "bernd@") || !strings.Contains(r.body, "group:beach") {
		t.Errorf("a volunteer completing be: %s", r.body)
	}
}
