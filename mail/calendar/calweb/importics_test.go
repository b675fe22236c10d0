package calweb

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/calendar"
)

// campaignICS is a calendar as Google Calendar exports it: a name, a
// weekly series and a single event, all in 2027.
const campaignICS = "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Campaign 2027\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270104T170000Z\r\nDTEND:20270104T180000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nDTSTAMP:20261201T000000Z\r\nUID:canvass@google.com\r\nSUMMARY:Canvassing\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270112T170000Z\r\nDTEND:20270112T180000Z\r\nDTSTAMP:20261201T000000Z\r\nUID:debate@google.com\r\nSUMMARY:Debate\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// upload posts an import form: fields in order (name, value; "file" is
// the file's content, named fileName), as a browser sends the form.
func (m *member) upload(t testing.TB, fileName string, fields ...string) response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "file" {
			fw, err := mw.CreateFormFile("file", fileName)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(fw, fields[i+1])
			continue
		}
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), "POST", m.e.ts.URL+"/mail/calendar/import", &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return m.do(t, req)
}

func (m *member) csrf(t testing.TB) string {
	t.Helper()
	s, err := m.e.a.Auth.Session(t.Context(), m.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

func (m *member) calendars(t testing.TB) []calendar.Calendar {
	t.Helper()
	cs, err := m.e.store.Calendars(t.Context(), m.cal())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestImportPage: the calendar page links to the import form; an .ics
// file uploaded there becomes a new calendar named as the file names it
// (else as the file is called), and the member lands on the month of its
// events, with a notice of how many came in and the calendar marked.
func TestImportPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.member(t, "ann")
	if p := ann.get(t, "/mail/calendar"); !strings.Contains(p.body, `href="/mail/calendar/import" id="importlink"`) {
		t.Fatalf("the month view has no link to the import:\n%s", p.body)
	}
	form := ann.get(t, "/mail/calendar/import")
	for _, want := range []string{`enctype="multipart/form-data"`, `name="csrf" value="` + ann.csrf(t) + `"`, `type="file" id="file" name="file"`, "at most 64 MiB"} {
		if form.code != http.StatusOK || !strings.Contains(form.body, want) {
			t.Fatalf("import form (%d) lacks %q:\n%s", form.code, want, form.body)
		}
	}

	r := ann.upload(t, "export.ics", "csrf", ann.csrf(t), "file", campaignICS)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/mail/calendar?cal=campaign-2027&count=2&m=2027-01&n=imported&sig=") {
		t.Fatalf("import: %d %q\n%s", r.code, r.loc, r.body)
	}
	if cs := ann.calendars(t); len(cs) != 2 || cs[1].Name != "Campaign 2027" {
		t.Fatalf("calendars after the import: %+v", cs)
	}
	page := ann.get(t, r.loc)
	for _, want := range []string{"Calendar “Campaign 2027” imported: 2 events.", `class="cal1 new" id="newcal"`, "Canvassing", "Debate"} {
		if !strings.Contains(html.UnescapeString(page.body), want) {
			t.Errorf("the month after the import lacks %q:\n%s", want, page.body)
		}
	}
	// A link cannot name another member's calendar, nor make up words,
	// nor a count: one made by someone else (who does not hold the
	// session's secret) shows no notice.
	if p := ann.get(t, "/mail/calendar?n=imported&cal=personal&count=x"); strings.Contains(p.body, "imported:") {
		t.Errorf("a notice for a count that is no number")
	}
	forged := strings.Replace(r.loc, "count=2", "count=999", 1)
	if p := ann.get(t, forged); strings.Contains(p.body, "imported:") {
		t.Errorf("a crafted link %s shows a notice:\n%s", forged, p.body)
	}
	if p := ann.get(t, strings.Replace(r.loc, "cal=campaign-2027", "cal=personal", 1)); strings.Contains(p.body, "imported:") {
		t.Errorf("a crafted link shows a notice of an import of a calendar that was not imported")
	}
	// The notice is the session's: ann signed in elsewhere (a session
	// with its own CSRF secret) sees none for the same link.
	first := ann.u.Session
	ann.e.a.SignIn(t, ann.u)
	if ann.u.Session == first {
		t.Fatal("SignIn made no new session")
	}
	if p := ann.get(t, r.loc); p.code != http.StatusOK || strings.Contains(p.body, "imported:") {
		t.Errorf("another session of ann shows the first session's notice (%d):\n%s", p.code, p.body)
	}
	ann.u.Session = first
	if p := ann.get(t, r.loc); !strings.Contains(p.body, "imported:") {
		t.Errorf("the first session no longer shows its notice:\n%s", p.body)
	}

	// Without X-WR-CALNAME the file's name names it, and a single event
	// today lands on this month.
	rota := strings.Replace(strings.Replace(campaignICS, "X-WR-CALNAME:Campaign 2027\r\n", "", 1), "20270112T17", "20260601T17", 1)
	rota = strings.Replace(rota, "20270112T18", "20260601T18", 1)
	r = ann.upload(t, `C:\Users\ann\Rota.ICS`, "csrf", ann.csrf(t), "file", rota)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/mail/calendar?cal=rota&count=2&m=2026-06&n=imported&sig=") {
		t.Fatalf("import of Rota.ICS: %d %q\n%s", r.code, r.loc, r.body)
	}
	if cs := ann.calendars(t); len(cs) != 3 || cs[2].Name != "Rota" {
		t.Errorf("calendars after the second import: %+v", cs)
	}
}

// TestImportedNoticeSecret: an import's notice shows only with the
// signature of the session it is shown in: not with one of another
// session (another CSRF secret), and never in a session without a
// secret, where the HMAC's key would be empty and anyone could sign.
func TestImportedNoticeSecret(t *testing.T) {
	t.Parallel()
	l := i18n.Builtin().Localizer("en", time.UTC)
	link := func(sig string) *http.Request {
		return httptest.NewRequest("GET", "/mail/calendar?"+url.Values{"n": {"imported"}, "cal": {"rota"}, "count": {"3"}, "sig": {sig}}.Encode(), nil)
	}
	mine, other, none := auth.Session{CSRF: "c1"}, auth.Session{CSRF: "c2"}, auth.Session{}
	for _, c := range []struct {
		name       string
		sess, sign auth.Session
		want       bool
	}{
		{"its own session", mine, mine, true},
		{"another session", other, mine, false},
		{"no secret", none, none, false},
	} {
		cals := []calView{{Slug: "rota", Name: "Rota"}}
		got := importedNotice(link(importedSig(c.sign, "rota", 3)), c.sess, l, cals)
		if (got != "") != c.want || cals[0].New != c.want {
			t.Errorf("%s: notice %q, calendar marked %v; want shown %v", c.name, got, cals[0].New, c.want)
		}
	}
}

// TestImportRefused: a file the import refuses shows the form again,
// saying why in the member's language, with a 4xx, never a 500: too
// large (calendar.MaxImportBytes), more events than a calendar holds
// (calendar.MaxObjectsPerCalendar), not a calendar, an event that cannot
// be stored (by its SUMMARY, else its UID, and the reason), no file at
// all. Nothing is imported. Without the session's CSRF token before the
// file, the file is not read: 403.
func TestImportRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bea := e.member(t, "bea")
	csrf := bea.csrf(t)
	event := func(uid, props string) string {
		return strings.Replace(campaignICS, "END:VCALENDAR", "BEGIN:VEVENT\r\n"+uid+"DTSTAMP:20261201T000000Z\r\n"+props+"END:VEVENT\r\nEND:VCALENDAR", 1)
	}
	var many strings.Builder
	many.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n")
	for i := range calendar.MaxObjectsPerCalendar + 1 {
		fmt.Fprintf(&many, "BEGIN:VTODO\r\nUID:%d\r\nDTSTAMP:20260101T000000Z\r\nEND:VTODO\r\n", i)
	}
	many.WriteString("END:VCALENDAR\r\n")
	for _, c := range []struct {
		name   string
		fields []string
		code   int
		want   string
	}{
		{"too large", []string{"csrf", csrf, "file", strings.Repeat("a", calendar.MaxImportBytes+1)}, http.StatusRequestEntityTooLarge, "This file is too large: a calendar file may have at most 64 MiB."},
		{"not a calendar", []string{"csrf", csrf, "file", "hello, world\r\n"}, http.StatusBadRequest, "This is not a calendar file"},
		{"a vCard", []string{"csrf", csrf, "file", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nEND:VCARD\r\n"}, http.StatusBadRequest, "This is not a calendar file"},
		{"nested deep", []string{"csrf", csrf, "file", strings.Repeat("BEGIN:VCALENDAR\r\n", 50)}, http.StatusBadRequest, "This is not a calendar file"},
		{"an unknown time zone", []string{"csrf", csrf, "file", event("UID:rally-1\r\n", "SUMMARY:Rally\r\nDTSTART;TZID=Mars/Olympus:20270301T090000\r\n")}, http.StatusBadRequest,
			"Nothing was imported: the event “Rally” cannot be stored. It names a time zone that neither caucus nor the file defines."},
		{"no summary, a bad rule", []string{"csrf", csrf, "file", event("UID:rally-2\r\n", "DTSTART:20270301T090000Z\r\nRRULE:FREQ=OFTEN\r\n")}, http.StatusBadRequest,
			"the event “rally-2” cannot be stored. Its repetition rule (RRULE, RDATE or EXDATE) cannot be read, or never gives a date."},
		{"no UID", []string{"csrf", csrf, "file", event("", "SUMMARY:March\r\nDTSTART:20270301T090000Z\r\n")}, http.StatusBadRequest,
			"the event “March” cannot be stored. It has no UID, the identifier every event needs."},
		{"every hour", []string{"csrf", csrf, "file", event("UID:x\r\n", "SUMMARY:Vigil\r\nDTSTART:20270301T090000Z\r\nRRULE:FREQ=HOURLY\r\n")}, http.StatusBadRequest,
			"the event “Vigil” cannot be stored. It repeats more often than once a day"},
		{"ends before it starts", []string{"csrf", csrf, "file", event("UID:x\r\n", "SUMMARY:Back\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T080000Z\r\n")}, http.StatusBadRequest,
			"the event “Back” cannot be stored. One of its dates or times cannot be read, or it ends before it starts."},
		{"a title with controls", []string{"csrf", csrf, "file", event("UID:x\r\n", "SUMMARY:A\\nB\u202eC\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T080000Z\r\n")}, http.StatusBadRequest,
			"the event “A BC” cannot be stored."},
		{"one UID, two contents", []string{"csrf", csrf, "file", campaignICS + strings.Replace(campaignICS, "SUMMARY:Debate", "SUMMARY:Debate (moved)", 1)}, http.StatusBadRequest,
			"the event “Debate (moved)” cannot be stored. The file holds it twice, in two calendars, with different content."},
		{"more events than a calendar holds", []string{"csrf", csrf, "file", many.String()}, http.StatusRequestEntityTooLarge,
			"Nothing was imported: the file holds more than 100,000 events, the most a calendar holds."},
		{"no file", []string{"csrf", csrf}, http.StatusBadRequest, "Choose an .ics file to import."},
		{"an empty file", []string{"csrf", csrf, "file", ""}, http.StatusBadRequest, "Choose an .ics file to import."},
		{"no CSRF token", []string{"file", campaignICS}, http.StatusForbidden, ""},
		{"a wrong CSRF token", []string{"csrf", "x" + csrf, "file", campaignICS}, http.StatusForbidden, ""},
		{"the CSRF token after the file", []string{"file", campaignICS, "csrf", csrf}, http.StatusForbidden, ""},
	} {
		r := bea.upload(t, "x.ics", c.fields...)
		if r.code != c.code || !strings.Contains(html.UnescapeString(r.body), c.want) {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, r.code, c.code, c.want, r.body)
		}
		if c.code != http.StatusForbidden && !strings.Contains(r.body, `id="importform"`) {
			t.Errorf("%s: the refusal does not show the form again", c.name)
		}
	}
	if cs := bea.calendars(t); len(cs) != 1 {
		t.Errorf("refused imports left calendars: %+v", cs)
	}
	// In the member's language.
	if err := e.a.Auth.SetLanguage(t.Context(), bea.u.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	r := bea.upload(t, "x.ics", "csrf", csrf, "file", event("UID:x\r\n", "SUMMARY:Comizio\r\nDTSTART;TZID=Mars/Olympus:20270301T090000\r\n"))
	if want := "Non è stato importato nulla: l'evento «Comizio» non può essere salvato. Indica un fuso orario che né caucus né il file conoscono."; r.code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), want) {
		t.Errorf("in Italian: %d, want %q:\n%s", r.code, want, r.body)
	}
}

// TestOutlookZone imports a calendar as Outlook exports it: its times in
// a Windows zone name ("W. Europe Standard Time", CLDR's Europe/Berlin),
// with its VTIMEZONE and, as some exports have it, without. The events
// are read in that zone: a weekly meeting on Tuesday at 23:30 is shown
// to a member in Rome as weekly on Tuesday at 23:30 (read as floating
// time, UTC, it was Wednesday 00:30 there: "custom"), a single event at
// 19:00 at 19:00; without the VTIMEZONE the file is imported at all.
func TestOutlookZone(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/outlook.ics")
	if err != nil {
		t.Fatal(err)
	}
	noZone := regexp.MustCompile(`(?s)BEGIN:VTIMEZONE.*END:VTIMEZONE\r\n`).ReplaceAllString(string(data), "")
	for name, file := range map[string]string{"with VTIMEZONE": string(data), "without": noZone} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ann := e.member(t, "ann")
			r := ann.upload(t, "Calendar.ics", "csrf", ann.csrf(t), "file", file)
			if r.code != http.StatusSeeOther {
				t.Fatalf("import: %d\n%s", r.code, r.body)
			}
			u, err := url.Parse(r.loc)
			if err != nil {
				t.Fatal(err)
			}
			slug := u.Query().Get("cal")
			rs, err := e.store.List(t.Context(), ann.cal(), slug)
			if err != nil || len(rs) != 2 {
				t.Fatalf("%d events imported, %v", len(rs), err)
			}
			for _, res := range rs {
				f := pageForm(t, ann.get(t, "/mail/calendar/event/"+slug+"/"+res.Name).body, "eventform")
				got := f.Get("startdate") + " " + f.Get("starttime") + " " + f.Get("repeat") + " " + strings.Join(f["days"], ",")
				want := "2027-01-07 19:00  "
				if strings.Contains(string(res.Data), "RRULE:FREQ=WEEKLY") {
					want = "2027-01-05 23:30 weekly TU"
				}
				if got != want {
					t.Errorf("%s shown as %q, want %q", res.Name, got, want)
				}
			}
		})
	}
}
