package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/testtool"
)

// TestPendingLimits: the pending actions are bounded per session and in
// all, and forgotten after pendingTTL.
func TestPendingLimits(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	s := newPendingStore(clk.Now)
	var first string
	for i := range pendingPerSession + 3 {
		tok := s.put(pendingAction{session: 1, path: "/admin/x"})
		if i == 0 {
			first = tok
		}
		clk.Advance(time.Second)
	}
	if _, ok := s.get(first, 1); ok {
		t.Error("the oldest of a session's pending actions is kept beyond its bound")
	}
	for i := range pendingMax + 10 {
		s.put(pendingAction{session: int64(100 + i)})
	}
	if n := len(s.m); n > pendingMax {
		t.Errorf("%d pending actions kept, at most %d", n, pendingMax)
	}
	tok := s.put(pendingAction{session: 7})
	if _, ok := s.get(tok, 8); ok {
		t.Error("another session reads a pending action")
	}
	clk.Advance(pendingTTL + time.Second)
	if _, ok := s.get(tok, 7); ok {
		t.Error("a pending action outlives pendingTTL")
	}
}

// TestNoticeLimits: the notices waiting to be shown are bounded, shown
// once, and forgotten after noticeTTL.
func TestNoticeLimits(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	s := newNotices(clk.Now)
	for i := range noticeMax + 10 {
		s.put(int64(i), notice{Text: "x"})
	}
	if n := len(s.m); n > noticeMax {
		t.Errorf("%d notices kept, at most %d", n, noticeMax)
	}
	s.put(1, notice{Text: "one"})
	if n, ok := s.take(1); !ok || n.Text != "one" {
		t.Errorf("take: %+v %v", n, ok)
	}
	if _, ok := s.take(1); ok {
		t.Error("a notice shown twice")
	}
	s.put(2, notice{Text: "late"})
	clk.Advance(noticeTTL + time.Second)
	if _, ok := s.take(2); ok {
		t.Error("a notice outlives noticeTTL")
	}
}

// TestListLimits: a page of people holds at most MaxPerPage, a search at
// most 200 characters, a kept form at most pendingMaxBytes.
func TestListLimits(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	party(t, c.env, 30)
	_, _, body := c.do(t, admin, "GET", "/admin/people?per=100000", nil)
	if r, names := shown(t, body); r != "1-31/31" || len(names) != 30 {
		t.Errorf("per=100000: %s", r)
	}
	if pg, err := c.ops.People(t.Context(), adminops.PeopleQuery{PerPage: 1 << 20}); err != nil || pg.PerPage != adminops.MaxPerPage {
		t.Errorf("a page of 1<<20: %d per page, %v; want at most %d", pg.PerPage, err, adminops.MaxPerPage)
	}
	if q := peopleQuery(url.Values{"q": {strings.Repeat("a", 5000)}, "per": {"100000"}}); len(q.Search) != 200 {
		t.Errorf("a search of 5000 characters kept as %d", len(q.Search))
	}
	c.env.Clock.Advance(6 * time.Minute)
	big := url.Values{"csrf": {c.csrf(t, admin)}, "name": {strings.Repeat("x", pendingMaxBytes+1)}}
	if code, _, _ := c.do(t, admin, "POST", "/admin/groups", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a form too big to keep during the step-up: %d, want 413", code)
	}
}

// TestPendingUpload: a CSV file uploaded after the step-up window is kept
// too, and sent again after the key as the text the import reads.
func TestPendingUpload(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	c.env.Clock.Advance(6 * time.Minute)
	body, ctype := multipartCSV(t, c.csrf(t, admin), "anna@example.org,Anna\n")
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.ts.URL+"/admin/invites/csv", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: admin.Session})
	cl := c.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	next, _ := url.QueryUnescape(strings.TrimPrefix(res.Header.Get("Location"), "/reauth?next="))
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(next, "/admin/pending/") {
		t.Fatalf("upload with a stale session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	c.stepUp(t, admin)
	_, _, page := c.do(t, admin, "GET", next, nil)
	if !strings.Contains(page, `name="csv" value="anna@example.org,Anna`) || !strings.Contains(page, "<dd>1 line<") {
		t.Fatalf("the pending upload does not carry the file:\n%s", page)
	}
	code, _, page := c.do(t, admin, "POST", "/admin/invites/csv", url.Values{"csrf": {c.csrf(t, admin)}, "csv": {"anna@example.org,Anna\n"}})
	if code != http.StatusOK || !strings.Contains(page, `id="importcommit"`) {
		t.Errorf("the kept file previews: %d", code)
	}
}
