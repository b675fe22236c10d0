package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestBrowserCalendarImport: in the whole server and headless Chromium,
// a member brings in an .ics file from the calendar page, two exports
// joined in one file: the member lands on the month with a notice of how
// many events came in, the new calendar marked in the legend and its
// events in the grid, and a phone finds the calendar over CalDAV. A file
// with an event the checks refuse shows the form again, saying which
// event and why. At 360 px the import page does not scroll sideways.
func TestBrowserCalendarImport(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "mover@localhost", "orchard-ballot-lantern-3308"
	key, secret := enrolCalendarMember(t, ctx, srv, login, pw)
	party, err := ui.PartyOf(srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Two days from now at noon, in the party's zone: in this month's
	// grid or the next's first week, and the member lands on this month.
	day := time.Now().In(party.TimeZone).AddDate(0, 0, 2).Format("20060102")
	cal := func(name, uid, summary string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:" + name + "\r\n" +
			"BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:" + day + "T120000Z\r\nDTEND:" + day + "T130000Z\r\nSUMMARY:" + summary + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	}
	dir := t.TempDir()
	joined := filepath.Join(dir, "exports.ics")
	if err := os.WriteFile(joined, []byte(cal("Old campaign", "leaflets@old", "Leaflet drop")+cal("Board", "board@old", "Board call")), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.ics")
	if err := os.WriteFile(broken, []byte(strings.Replace(cal("Broken", "rally@old", "Rally"), "DTSTART:"+day+"T120000Z", "DTSTART;TZID=Mars/Olympus:"+day+"T120000", 1)), 0o600); err != nil {
		t.Fatal(err)
	}

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
	b.Navigate("/mail/calendar")
	b.WaitPage("/mail/calendar", "#month")
	b.Click("#importlink")
	b.WaitPage("/mail/calendar/import", "#file")
	b.Do("choose the joined exports and import", chromedp.SetUploadFiles("#file", []string{joined}), chromedp.Click(chromedp.CSS("#importbtn")))
	b.WaitPage("/mail/calendar", "#month")
	if got := b.Text("main .notice"); got != "Calendar “Old campaign” imported: 2 events." {
		t.Errorf("the notice after the import is %q", got)
	}
	if got := b.Text("#newcal"); !strings.Contains(got, "Old campaign") {
		t.Errorf("the legend marks %q, want the new calendar", got)
	}
	if got := b.Text("#month"); !strings.Contains(got, "Leaflet drop") || !strings.Contains(got, "Board call") {
		t.Errorf("the month shows %q, want both calendars' events", got)
	}

	// A phone finds the new calendar and its events over CalDAV.
	query := `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>` +
		`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>`
	req, err := http.NewRequestWithContext(ctx, "REPORT", srv.url+"/caldav/"+login+"/calendars/old-campaign/", strings.NewReader(query))
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
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus || !strings.Contains(string(body), "SUMMARY:Leaflet drop") || !strings.Contains(string(body), "SUMMARY:Board call") {
		t.Errorf("CalDAV REPORT of the imported calendar: %d\n%s", resp.StatusCode, body)
	}

	// A refused file: the form again, with the event and the reason.
	b.Navigate("/mail/calendar/import")
	b.WaitPage("/mail/calendar/import", "#file")
	b.Do("choose a file with a bad event and import", chromedp.SetUploadFiles("#file", []string{broken}), chromedp.Click(chromedp.CSS("#importbtn")))
	b.WaitPage("/mail/calendar/import", "#importform")
	if got, want := b.Text("main .error"), "Nothing was imported: the event “Rally” cannot be stored. It names a time zone that neither caucus nor the file defines."; got != want {
		t.Errorf("the refusal says %q, want %q", got, want)
	}

	b.Do("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile))
	b.Navigate("/mail/calendar/import")
	b.WaitPage("/mail/calendar/import", "#file")
	width, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
	if err != nil {
		t.Fatal(err)
	}
	if width > 360 {
		t.Errorf("the import page at 360 px is %d px wide: it scrolls sideways", width)
	}
	if off := browsertest.NotLoopback(b.Requests()); len(off) > 0 {
		t.Errorf("the calendar pages reached beyond the server: %q", off)
	}
}
