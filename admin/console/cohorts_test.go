package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// TestCohortPages: an admin invites a cohort from the console in one
// step and sees each volunteer's link once; a wrong line is refused with
// its number and nothing made; the cohort is extended as a whole and
// ended now, which shows the one report; members cannot reach the pages.
func TestCohortPages(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	sam := c.env.User(t, "sam@example.org", auth.RoleMember)
	if code, _, _ := c.do(t, sam, "GET", "/admin/cohorts", nil); code != http.StatusForbidden {
		t.Errorf("a member opened the cohorts page: %d", code)
	}
	if code, body := c.act(t, sam, "/admin/cohorts", url.Values{"name": {"x"}}); code != http.StatusForbidden {
		t.Errorf("a member made a cohort: %d\n%s", code, body)
	}
	last := c.env.Clock.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	form := url.Values{"name": {"Door to door"}, "sponsor": {"sam@example.org"}, "last_day": {last},
		"people": {"ann@example.org, Ann\nbob@example.org, Bob\nsam@example.org, Sam again\n"}}
	code, body := c.act(t, admin, "/admin/cohorts", form)
	if code != http.StatusBadRequest || !strings.Contains(body, "Line 3 (sam@example.org)") || !strings.Contains(body, "already has an account") {
		t.Fatalf("a list with a taken address: %d\n%s", code, body)
	}
	if _, err := c.env.Auth.AccountByLogin(t.Context(), "ann@example.org"); err == nil {
		t.Error("a refused cohort made an account")
	}
	form.Set("people", "ann@example.org, Ann\nbob@example.org, Bob\n")
	form.Set("csrf", c.csrf(t, admin))
	code, loc, _ := c.do(t, admin, "POST", "/admin/cohorts", form)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/cohorts/") {
		t.Fatalf("creating a cohort: %d %q", code, loc)
	}
	_, _, body = c.do(t, admin, "GET", loc, nil)
	if !strings.Contains(body, "2 volunteers invited") || strings.Count(body, "https://caucus.test/enrol/") != 2 {
		t.Errorf("the cohort's page after it was made does not show the two links:\n%s", body)
	}
	if _, _, body = c.do(t, admin, "GET", loc, nil); strings.Contains(body, "/enrol/") {
		t.Error("the links are shown again on reload")
	}
	later := c.env.Clock.Now().AddDate(0, 2, 0)
	if code, body = c.act(t, admin, loc+"/extend", url.Values{"last_day": {later.Format(time.DateOnly)}}); code != http.StatusOK || !strings.Contains(body, "2 volunteers now have access") {
		t.Errorf("extending: %d\n%s", code, body)
	}
	ann, err := c.env.Auth.AccountByLogin(t.Context(), "ann@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got := ann.ExpiresAt.Format(time.DateOnly); got != later.AddDate(0, 0, 1).Format(time.DateOnly) {
		t.Errorf("after the extension ann's access ends %s", got)
	}
	code, body = c.act(t, admin, loc+"/end", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, `id="steps"`) || !strings.Contains(body, "ann@example.org") || !strings.Contains(body, "bob@example.org") {
		t.Fatalf("ending the cohort: %d, want its report naming both\n%s", code, body)
	}
	if _, _, body = c.do(t, admin, "GET", "/admin/cohorts", nil); !strings.Contains(body, "Door to door") || !strings.Contains(body, "(ended)") {
		t.Errorf("the list after the end:\n%s", body)
	}
}

// TestCohortActionKept: a cohort made after the step-up window is kept
// during the step-up, and the page that sends it says in words what it
// does and with which fields, the list counted in lines.
func TestCohortActionKept(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	c.env.User(t, "sam@example.org", auth.RoleMember)
	c.env.Clock.Advance(6 * time.Minute) // past the step-up window
	form := url.Values{"csrf": {c.csrf(t, admin)}, "name": {"Door to door"}, "sponsor": {"sam@example.org"},
		"last_day": {c.env.Clock.Now().AddDate(0, 1, 0).Format(time.DateOnly)}, "people": {"ann@example.org\nbob@example.org\n"}}
	_, loc, _ := c.do(t, admin, "POST", "/admin/cohorts", form)
	next, err := url.QueryUnescape(strings.TrimPrefix(loc, "/reauth?next="))
	if err != nil || !strings.HasPrefix(next, "/admin/pending/") {
		t.Fatalf("the cohort was not kept: %q %v", loc, err)
	}
	c.stepUp(t, admin)
	_, _, body := c.do(t, admin, "GET", next, nil)
	for _, want := range []string{"Invite a cohort of volunteers", "Sponsor", "sam@example.org", "Last day of access", "2 lines"} {
		if !strings.Contains(body, want) {
			t.Errorf("the kept cohort's page lacks %q", want)
		}
	}
}
