package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestBrowserCalendarAndCalDAV: in the whole server, an event made on the
// calendar page (reached from webmail's side) is found over CalDAV with
// the member's calendar app password, and an event a phone PUTs over
// CalDAV shows on the page: the pages and CalDAV share one store.
func TestBrowserCalendarAndCalDAV(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "diary@localhost", "lantern-orchard-ballot-4417"
	key, secret := enrolCalendarMember(t, ctx, srv, login, pw)
	caldav := func(method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, srv.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(login, secret)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := devClient(t, filepath.Dir(srv.cfg.TLS.CertFile)).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	b := newBrowser(t, ctx, srv)
	b.Navigate("/")
	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#code")
	code, err := totp.GenerateCode(key, time.Now().Add(30*time.Second)) // the enrolment used this period's
	if err != nil {
		t.Fatal(err)
	}
	b.Do("enter the code", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Submit(chromedp.CSS("#code")))
	b.WaitPage("/account", "main")
	b.Navigate("/mail/")
	b.WaitPrefix("/mail/box/", "#calendarlink")
	b.Click("#calendarlink")
	b.WaitPage("/mail/calendar", "#month")
	b.Click("#newevent")
	b.WaitPage("/mail/calendar/new", "#title")
	b.Do("fill in the event",
		chromedp.SendKeys(chromedp.CSS("#title"), "Hustings at the town hall"),
		chromedp.SendKeys(chromedp.CSS("#place"), "Town hall"),
		chromedp.Click(chromedp.CSS("#save")),
	)
	b.WaitPage("/mail/calendar", "#month")
	if got := b.Text("#month"); !strings.Contains(got, "Hustings at the town hall") {
		t.Fatalf("the month shows %q, want the new event", got)
	}
	if got := b.Text("main .notice"); got == "" {
		t.Errorf("no notice after creating the event")
	}

	// A phone finds it over CalDAV.
	home := "/caldav/" + login + "/calendars/personal/"
	query := `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>` +
		`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>`
	st, body := caldav("REPORT", home, query, "Depth", "1", "Content-Type", "application/xml")
	if st != http.StatusMultiStatus || !strings.Contains(body, "SUMMARY:Hustings at the town hall") || !strings.Contains(body, "LOCATION:Town hall") {
		t.Fatalf("calendar-query: %d\n%s", st, body)
	}
	// And a desktop's vdirsyncer brings it down into its local calendar.
	if ics := vdirsyncCalendar(t, srv, login, secret); !strings.Contains(ics, "SUMMARY:Hustings at the town hall") {
		t.Fatalf("vdirsyncer's copy of the personal calendar lacks the event made in the browser:\n%s", ics)
	}

	// The phone PUTs an event; the page shows it.
	day := time.Now().UTC().Format("20060102")
	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VEVENT\r\nUID:phone-1\r\nDTSTAMP:" + day + "T000000Z\r\n" +
		"DTSTART:" + day + "T120000Z\r\nDTEND:" + day + "T130000Z\r\nSUMMARY:Lunch with the treasurer\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if st, body := caldav("PUT", home+"phone-1.ics", ev, "Content-Type", "text/calendar", "If-None-Match", "*"); st != http.StatusCreated {
		t.Fatalf("PUT: %d %s", st, body)
	}
	b.Navigate("/mail/calendar/agenda")
	b.WaitPage("/mail/calendar/agenda", "#legend")
	if got := b.Text("main"); !strings.Contains(got, "Lunch with the treasurer") {
		t.Fatalf("the agenda shows %q, want the event PUT over CalDAV", got)
	}
	// On a 360 px phone, neither view scrolls sideways.
	b.Do("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile))
	for _, v := range []struct{ path, sel string }{{"/mail/calendar", "#month"}, {"/mail/calendar/agenda", "#legend"}, {"/mail/calendar/new", "#title"}} {
		b.Navigate(v.path)
		b.WaitPage(v.path, v.sel)
		width, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
		if err != nil {
			t.Fatal(err)
		}
		if width > 360 {
			t.Errorf("%s at 360 px is %d px wide: it scrolls sideways", v.path, width)
		}
	}
	// The agenda, a phone's view, shows the times.
	b.Navigate("/mail/calendar/agenda")
	b.WaitPage("/mail/calendar/agenda", "#legend")
	if got := b.Text("main"); !strings.Contains(got, "09:00–10:00") {
		t.Errorf("the agenda at 360 px shows %q, without the event's time", got)
	}
	// The month stays a grid: a week's seven days side by side.
	b.Navigate("/mail/calendar")
	b.WaitPage("/mail/calendar", "#month")
	grid, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(() => { const d = document.querySelectorAll("#month tbody tr:first-child td");
		return d.length === 7 && d[0].getBoundingClientRect().top === d[6].getBoundingClientRect().top && d[6].getBoundingClientRect().right <= 360; })()`))
	if err != nil || !grid {
		t.Errorf("at 360 px the month's week is not one row of seven days (%v)", err)
	}
	if off := browsertest.NotLoopback(b.Requests()); len(off) > 0 {
		t.Errorf("the calendar pages reached beyond the server: %q", off)
	}
}

// enrolCalendarMember makes an active member with a password and TOTP
// through the service, as the enrolment pages do, and a calendar app
// password from the enrolment's full session. It returns the TOTP secret
// and the app password.
func enrolCalendarMember(t *testing.T, ctx context.Context, srv *Server, login, pw string) (key, secret string) {
	t.Helper()
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Member", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	stok, err := srv.auth.AcceptInvite(ctx, token, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, stok)
	if err != nil {
		t.Fatal(err)
	}
	k, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, stok); err != nil { // with the TOTP in progress
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(k.Secret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	full, err := srv.auth.FinishTOTP(ctx, sess, code, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, full); err != nil {
		t.Fatal(err)
	}
	secret, _, err = srv.auth.CreateAppPassword(ctx, sess, "phone", auth.ScopeCalendar, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret(), secret
}

// TestBrowserCalendarSeries: in the whole server and headless Chromium, a
// member makes a weekly event with a reminder and two attendees on the
// calendar page (one typed, one completed from the party directory); a CalDAV REPORT with the member's calendar app password
// finds its RRULE, VALARM and ATTENDEE (RFC 5545) as a phone would. The
// week view is reached and used with the keyboard alone (Tab to the
// event, Enter opens it); at 360 px neither the week nor three days
// scroll sideways and the week's seven days stand in one row. One
// instance of the series changed alone (next week's) becomes a
// RECURRENCE-ID override that CalDAV serves beside the series.
func TestBrowserCalendarSeries(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "series@localhost", "ballot-lantern-orchard-5521"
	key, secret := enrolCalendarMember(t, ctx, srv, login, pw)
	party, err := ui.PartyOf(srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(party.TimeZone)
	byDay := [...]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}[today.Weekday()]

	b := newBrowser(t, ctx, srv)
	b.Navigate("/")
	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#code")
	code, err := totp.GenerateCode(key, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.Do("enter the code", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Submit(chromedp.CSS("#code")))
	b.WaitPage("/account", "main")
	b.Navigate("/mail/calendar/new")
	b.WaitPage("/mail/calendar/new", "#title")
	b.Do("fill in a weekly event with a reminder and an attendee",
		chromedp.SendKeys(chromedp.CSS("#title"), "Weekly canvass"),
		chromedp.SendKeys(chromedp.CSS("#attendees"), "Press Desk <desk@paper.example>"),
		chromedp.SetValue(chromedp.CSS("#reminder"), "1h"),
		chromedp.SetValue(chromedp.CSS("#repeat"), "weekly"),
		chromedp.Click(chromedp.CSS("#day"+byDay)),
		chromedp.Click(chromedp.CSS("#endscount")),
		chromedp.SendKeys(chromedp.CSS("#count"), "6"),
		chromedp.SendKeys(chromedp.CSS("#addattendee"), "series"),
	)
	// The party directory completes the attendee; picking the suggestion
	// (what Chromium does when one is chosen from the list) adds it.
	for {
		n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#suggest-attendee option").length`))
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no completion for the attendee")
		case <-time.After(100 * time.Millisecond):
		}
	}
	picked, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(() => { const i = document.querySelector("#addattendee");
		i.value = document.querySelector("#suggest-attendee option").value; i.dispatchEvent(new Event("input")); return document.querySelector("#attendees").value; })()`))
	if err != nil || !strings.Contains(picked, "Press Desk <desk@paper.example>\nMember <"+login+">") {
		t.Fatalf("after picking the suggestion the attendees are %q (%v)", picked, err)
	}
	b.Do("save", chromedp.Click(chromedp.CSS("#save")))
	b.WaitPage("/mail/calendar", "#month")

	report := func() string { return calendarReport(t, ctx, srv, login, secret) }
	got := report()
	for _, want := range []string{"SUMMARY:Weekly canvass", "RRULE:FREQ=WEEKLY;BYDAY=" + byDay + ";COUNT=6", "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT1H",
		"ATTENDEE;CN=Press Desk;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:desk@paper.example",
		"ATTENDEE;CN=Member;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:" + login, "ORGANIZER;CN=Member:mailto:" + login} {
		if !strings.Contains(got, want) {
			t.Errorf("CalDAV serves the event without %q:\n%s", want, got)
		}
	}

	// The week, with the keyboard alone: Tab to the event, Enter opens it.
	b.Navigate("/mail/calendar/week")
	b.WaitPage("/mail/calendar/week", "#week")
	b.tabTo(".wk-col .ev", "Weekly canvass")
	b.Do("press Enter", chromedp.KeyEvent("\r"))
	b.WaitPrefix("/mail/calendar/event/personal/", "#savethis")
	if got := b.Text("#oneofseries"); got == "" {
		t.Errorf("the instance's page does not say it is one of a series")
	}

	// Next week's instance, changed alone.
	next := today.AddDate(0, 0, 7).Format("2006-01-02")
	b.Navigate("/mail/calendar/week?d=" + next)
	b.WaitPage("/mail/calendar/week", "#week")
	b.Click(".wk-col .ev")
	b.WaitPrefix("/mail/calendar/event/personal/", "#savethis")
	if got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#startdate").value`)); err != nil || got != next {
		t.Fatalf("the instance's form starts %q (%v), want %s", got, err, next)
	}
	b.Do("change next week's canvass only",
		chromedp.Clear(chromedp.CSS("#title")),
		chromedp.SendKeys(chromedp.CSS("#title"), "Canvass with the candidate"),
		chromedp.Click(chromedp.CSS("#savethis")),
	)
	b.WaitPage("/mail/calendar", "#month")
	got = report()
	if !strings.Contains(got, "RECURRENCE-ID") || !strings.Contains(got, "SUMMARY:Canvass with the candidate") || !strings.Contains(got, "SUMMARY:Weekly canvass") ||
		strings.Count(got, "RRULE:") != 1 {
		t.Errorf("CalDAV serves after the single change:\n%s", got)
	}

	// On a 360 px phone: no sideways scrolling; the week stays one row.
	b.Do("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile))
	for _, v := range []struct{ path, page, sel string }{
		{"/mail/calendar/week?d=" + next, "/mail/calendar/week", "#week"},
		{"/mail/calendar/week?n=3&d=" + next, "/mail/calendar/week", "#week"},
		{"/mail/calendar/new", "/mail/calendar/new", "#repeat"},
	} {
		b.Navigate(v.path)
		b.WaitPage(v.page, v.sel)
		width, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
		if err != nil {
			t.Fatal(err)
		}
		if width > 360 {
			t.Errorf("%s at 360 px is %d px wide: it scrolls sideways", v.path, width)
		}
	}
	b.Navigate("/mail/calendar/week?d=" + next)
	b.WaitPage("/mail/calendar/week", "#week")
	row, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(() => { const d = document.querySelectorAll("#week .wk-col");
		return d.length === 7 && d[0].getBoundingClientRect().top === d[6].getBoundingClientRect().top && d[6].getBoundingClientRect().right <= 360 &&
			document.querySelector("#week .wk-col .ev").getBoundingClientRect().right <= 360; })()`))
	if err != nil || !row {
		t.Errorf("at 360 px the week is not one row of seven days (%v)", err)
	}
	if off := browsertest.NotLoopback(b.Requests()); len(off) > 0 {
		t.Errorf("the calendar pages reached beyond the server: %q", off)
	}
}

// calendarReport is the member's personal calendar as a CalDAV client
// reads it (calendar-query with calendar-data), lines unfolded.
func calendarReport(t *testing.T, ctx context.Context, srv *Server, login, secret string) string {
	t.Helper()
	query := `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>` +
		`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>`
	req, err := http.NewRequestWithContext(ctx, "REPORT", srv.url+"/caldav/"+login+"/calendars/personal/", strings.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(login, secret)
	req.Header.Set("Depth", "1")
	req.Header.Set("Content-Type", "application/xml")
	resp, err := devClient(t, filepath.Dir(srv.cfg.TLS.CertFile)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("calendar-query: %d\n%s", resp.StatusCode, body)
	}
	return strings.ReplaceAll(strings.ReplaceAll(string(body), "&#xD;", ""), "\r\n ", "")
}

// tabTo presses Tab from the top of the page until the focus is on an
// element matching sel whose text holds text, as a keyboard user would.
func (b *browser) tabTo(sel, text string) {
	b.T.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.activeElement.blur(), true`)); err != nil {
		b.T.Fatal(err)
	}
	js := fmt.Sprintf(`document.activeElement.matches(%q) && document.activeElement.textContent.includes(%q)`, sel, text)
	for i := 0; ; i++ {
		if i == 80 {
			b.T.Fatalf("Tab never reached %s %q", sel, text)
		}
		b.Do("press Tab", chromedp.KeyEvent("\t"))
		on, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			b.T.Fatal(err)
		}
		if on {
			return
		}
	}
}

// vdirsyncCalendar syncs the member's calendars down with vdirsyncer (the
// way a desktop's khal gets them) and returns every event file of the
// personal calendar it wrote, joined.
func vdirsyncCalendar(t *testing.T, srv *Server, login, secret string) string {
	t.Helper()
	vdir := testtool.Need(t, "vdirsyncer")
	dir := t.TempDir()
	conf := filepath.Join(dir, "vdirsyncer.conf")
	c := fmt.Sprintf(`[general]
status_path = "%s/status/"

[pair caucus]
a = "local"
b = "remote"
collections = ["from b"]

[storage local]
type = "filesystem"
path = "%s/cal/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "%s/caldav/"
username = "%s"
password = "%s"
verify = "%s"
`, dir, dir, srv.url, login, secret, srv.cfg.TLS.CertFile)
	if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"discover"}, {"sync"}} {
		cmd := exec.CommandContext(t.Context(), vdir, append([]string{"-c", conf}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
		cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vdirsyncer %v: %v\n%s", args, err, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cal", "personal", "*.ics"))
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}
