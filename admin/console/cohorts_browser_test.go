package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
)

// TestBrowserCohortOnPhone: on a 360 px phone an admin invites a cohort
// with the page's own form (its date field included) and lands on the
// cohort's page with the volunteers; the cohorts list, the cohort's page
// and incident mode's page do not scroll sideways.
func TestBrowserCohortOnPhone(t *testing.T) {
	t.Parallel()
	c, b := newBrowserConsole(t)
	b.enrolAdmin(c, "boss@example.org")
	c.env.User(t, "sam@example.org", auth.RoleMember)
	b.Do("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile))
	b.Navigate("/admin/cohorts")
	b.WaitPrefix("/admin/cohorts", "#createcohort")
	wide := func(path string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.Ctx, pageTimeout)
		defer cancel()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
		if err != nil {
			t.Fatal(err)
		}
		if width > 360 {
			who, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('body *')).filter(e => e.scrollWidth > 361 || e.getBoundingClientRect().width > 361).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + e.scrollWidth + '/' + Math.round(e.getBoundingClientRect().right)).slice(0, 12).join(' ') + ' vw=' + window.innerWidth + ' cw=' + document.documentElement.clientWidth`))
			t.Logf("too wide: %s", who)
			t.Errorf("%s at 360 px is %d px wide: it scrolls sideways", path, width)
		}
	}
	wide("/admin/cohorts")
	b.Do("fill in the cohort",
		chromedp.SendKeys(chromedp.CSS("#cname"), "Door to door, spring"),
		chromedp.SendKeys(chromedp.CSS("#csponsor"), "sam@example.org"),
		chromedp.SetValue(chromedp.CSS("#clastday"), c.env.Clock.Now().AddDate(0, 1, 0).Format(time.DateOnly)),
		chromedp.SendKeys(chromedp.CSS("#cpeople"), "ann.volunteer.with.a.long.address@example.org, Ann\nbob@example.org, Bob\n"),
		chromedp.Click(chromedp.CSS("#createcohort")),
	)
	st := b.WaitPrefix("/admin/cohorts/", "#volunteers")
	if page := b.Text("main"); !strings.Contains(page, "ann.volunteer.with.a.long.address@example.org") || !strings.Contains(page, "2 volunteers invited") {
		t.Errorf("the new cohort's page (%s):\n%s", st.Path, page)
	}
	wide(st.Path)
	b.Navigate("/admin/incident")
	b.WaitPage("/admin/incident", "#message")
	wide("/admin/incident")
}
