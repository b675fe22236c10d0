package console

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStepUpKeepsAction: an admin whose step-up window has passed
// fills in the invite form and presses the button; caucus asks for the
// security key, and after it the admin's invite, as filled in, is one
// press away: it is not lost (issue 16 bug 1: the browser sends no Referer
// under caucus's Referrer-Policy, so the admin landed on People with the
// invite silently dropped).
func TestBrowserStepUpKeepsAction(t *testing.T) {
	t.Parallel()
	c, b := newBrowserConsole(t)
	b.enrolAdmin(c, "boss@example.org")
	b.Navigate("/admin/people")
	b.WaitPrefix("/admin/people", "#sendinvite")
	c.env.Clock.Advance(6 * time.Minute) // past the step-up window

	b.Do("fill in the invite",
		chromedp.SendKeys(chromedp.CSS("#login"), "anna@example.org"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Anna Volunteer"),
		chromedp.SendKeys(chromedp.CSS("#groups"), "press"),
		chromedp.Click(chromedp.CSS("#sendinvite")),
	)
	b.WaitPrefix("/reauth", "#usekey")
	b.Click("#usekey")
	st := b.WaitPrefix("/admin/pending/", "#pendingdo")
	if page := b.Text("main"); !strings.Contains(page, "anna@example.org") || !strings.Contains(page, "Anna Volunteer") {
		t.Errorf("the pending action does not show what was filled in (%s):\n%s", st.Path, page)
	}
	b.Click("#pendingdo")
	b.WaitPrefix("/admin/invites", "#invitelink")
	a, err := c.env.Auth.AccountByLogin(t.Context(), "anna@example.org")
	if err != nil || a.DisplayName != "Anna Volunteer" {
		t.Fatalf("the invite after the step-up: %+v, %v", a, err)
	}
	if gs, _ := c.env.Auth.GroupsOf(t.Context(), a.ID); strings.Join(gs, ",") != "press" {
		t.Errorf("groups %v, want press", gs)
	}
}
