package calweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
)

// TestCreateShowsInMonthAndAgenda: an event made with the form is stored
// in the party's zone, and the month and the agenda show it, with the
// one-time notice after the redirect.
func TestCreateShowsInMonthAndAgenda(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	f := eventForm(calendar.PersonalSlug, "Canvassing Trastevere")
	f.Set("description", "Bring leaflets\r\nand water") // a textarea's line break, as browsers send it
	res := alice.post(t, "/mail/calendar/new", f)
	if res.code != http.StatusSeeOther || res.loc != "/mail/calendar?m=2026-06&n=created" {
		t.Fatalf("create: %d %q\n%s", res.code, res.loc, res.body)
	}
	r := alice.only(t, calendar.PersonalSlug)
	for _, want := range []string{"DTSTART;TZID=Europe/Rome:20260605T180000", "DTEND;TZID=Europe/Rome:20260605T193000", "SUMMARY:Canvassing Trastevere", "LOCATION:Piazza Navona", `DESCRIPTION:Bring leaflets\nand water`} {
		if !strings.Contains(string(r.Data), want) {
			t.Errorf("stored object lacks %q:\n%s", want, r.Data)
		}
	}
	page := alice.get(t, res.loc)
	if page.code != http.StatusOK || !strings.Contains(page.body, "Canvassing Trastevere") || !strings.Contains(page.body, "The event is created.") || !strings.Contains(page.body, "June 2026") {
		t.Fatalf("month page: %d\n%s", page.code, page.body)
	}
	if !strings.Contains(page.body, `<span class="when">18:00</span>`) {
		t.Errorf("month page does not show the time in Rome")
	}
	if again := alice.get(t, "/mail/calendar?m=2026-06"); strings.Contains(again.body, "The event is created.") {
		t.Errorf("the notice shows without the redirect's mark")
	}
	ag := alice.get(t, "/mail/calendar/agenda")
	if ag.code != http.StatusOK || !strings.Contains(ag.body, "Canvassing Trastevere") || !strings.Contains(ag.body, "5 Jun 2026") || !strings.Contains(ag.body, "18:00–19:30") {
		t.Fatalf("agenda: %d\n%s", ag.code, ag.body)
	}
	if later := alice.get(t, "/mail/calendar/agenda?from=2026-07-01"); strings.Contains(later.body, "Canvassing Trastevere") || !strings.Contains(later.body, `id="noevents"`) {
		t.Errorf("the agenda from July shows the June event")
	}
}

// TestAllDayEvent: a whole-day event is stored as DATE values, its end
// the day after its last (RFC 5545 section 3.6.1), and shown on each of
// its days.
func TestAllDayEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	f := eventForm(calendar.PersonalSlug, "Congress")
	f.Set("allday", "1")
	f.Set("enddate", "2026-06-06")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.code, res.body)
	}
	r := alice.only(t, calendar.PersonalSlug)
	if !strings.Contains(string(r.Data), "DTSTART;VALUE=DATE:20260605") || !strings.Contains(string(r.Data), "DTEND;VALUE=DATE:20260607") {
		t.Fatalf("stored:\n%s", r.Data)
	}
	page := alice.get(t, "/mail/calendar?m=2026-06")
	if n := strings.Count(page.body, "Congress"); n != 2 {
		t.Errorf("the two-day event shows %d times in the month, want 2", n)
	}
}

// TestRecurringExpanded: a weekly series from a CalDAV client shows once
// per week in the days shown, in every calendar's colour, with the group
// calendar in the legend.
func TestRecurringExpanded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	slug := e.group(t, "press", alice)
	alice.putEvent(t, slug, "standup", "20260101T080000Z", "20260101T083000Z", "RRULE:FREQ=WEEKLY\r\n")
	alice.putEvent(t, calendar.PersonalSlug, "dentist", "20260610T120000Z", "20260610T130000Z", "")
	page := alice.get(t, "/mail/calendar?m=2026-06")
	// June 2026 shown from Monday 1 June to Sunday 5 July: 5 Thursdays.
	if n := strings.Count(page.body, ">standup<"); n != 5 {
		t.Errorf("weekly series shows %d times, want 5", n)
	}
	if !strings.Contains(page.body, `class="ev cal1"`) || !strings.Contains(page.body, `class="ev cal0"`) || !strings.Contains(page.body, "press") {
		t.Errorf("calendars not told apart:\n%s", page.body)
	}
	// The agenda: 1 to 30 June, 4 Thursdays.
	if ag := alice.get(t, "/mail/calendar/agenda"); strings.Count(ag.body, ">standup<") != 4 {
		t.Errorf("agenda of 30 days shows the series %d times, want 4", strings.Count(ag.body, ">standup<"))
	}
}

// TestOthersEventsNotFound: another member's event or calendar named in a
// URL answers 404 to every method, and nothing of it changes.
func TestOthersEventsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	slug := e.group(t, "board", alice)
	mine := alice.putEvent(t, calendar.PersonalSlug, "secret", "20260605T080000Z", "20260605T090000Z", "")
	theirs := alice.putEvent(t, slug, "boardmeeting", "20260605T100000Z", "20260605T110000Z", "")
	for _, path := range []string{"/mail/calendar/event/personal/secret.ics", "/mail/calendar/event/" + slug + "/boardmeeting.ics", "/mail/calendar/event/..%2Fpersonal/secret.ics", "/mail/calendar/event/group-999/x.ics"} {
		if res := bob.get(t, path); res.code != http.StatusNotFound || strings.Contains(res.body, "secret") || strings.Contains(res.body, "boardmeeting") {
			t.Errorf("GET %s: %d", path, res.code)
		}
		f := eventForm("", "Hijacked")
		f.Set("etag", mine.ETag)
		if res := bob.post(t, path, f); res.code != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, res.code)
		}
		if res := bob.post(t, path+"/delete", url.Values{"etag": {mine.ETag}}); res.code != http.StatusNotFound {
			t.Errorf("delete %s: %d", path, res.code)
		}
	}
	if res := bob.post(t, "/mail/calendar/new", eventForm(slug, "Planted")); res.code != http.StatusNotFound {
		t.Errorf("bob creates in a group calendar he is not in: %d", res.code)
	}
	if r := alice.only(t, calendar.PersonalSlug); r.ETag != mine.ETag {
		t.Errorf("alice's event changed")
	}
	if r := alice.only(t, slug); r.ETag != theirs.ETag {
		t.Errorf("the group's event changed")
	}
	if page := bob.get(t, "/mail/calendar?m=2026-06"); strings.Contains(page.body, "secret") || strings.Contains(page.body, "boardmeeting") {
		t.Errorf("bob's month shows alice's events")
	}
}

// TestReadOnlyGroupCalendar: the events of a read-only group calendar
// show without a form or buttons, the calendar is not offered for a new
// event, and every write to it is refused with 403.
func TestReadOnlyGroupCalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	slug := e.group(t, "staff", alice)
	r := alice.putEvent(t, slug, "townhall", "20260605T160000Z", "20260605T170000Z", "")
	gid, err := e.a.Auth.GroupID(t.Context(), "staff")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGroupReadOnly(t.Context(), "admin", auth.Group{ID: gid, Name: "staff"}, true); err != nil {
		t.Fatal(err)
	}
	page := alice.get(t, "/mail/calendar/event/"+slug+"/townhall.ics")
	if page.code != http.StatusOK || !strings.Contains(page.body, `id="readonly"`) || strings.Contains(page.body, "<form method=\"post\" action=\"/mail/calendar") || strings.Contains(page.body, `id="delete"`) {
		t.Fatalf("read-only event page: %d\n%s", page.code, page.body)
	}
	if nf := alice.get(t, "/mail/calendar/new"); strings.Contains(nf.body, `value="`+slug+`"`) {
		t.Errorf("the new-event form offers the read-only calendar")
	}
	f := eventForm(slug, "Changed")
	f.Set("etag", r.ETag)
	if res := alice.post(t, "/mail/calendar/event/"+slug+"/townhall.ics", f); res.code != http.StatusForbidden {
		t.Errorf("change: %d, want 403", res.code)
	}
	if res := alice.post(t, "/mail/calendar/event/"+slug+"/townhall.ics/delete", url.Values{"etag": {r.ETag}}); res.code != http.StatusForbidden {
		t.Errorf("delete: %d, want 403", res.code)
	}
	if res := alice.post(t, "/mail/calendar/new", eventForm(slug, "Added")); res.code != http.StatusForbidden {
		t.Errorf("create: %d, want 403", res.code)
	}
	if got := alice.only(t, slug); got.ETag != r.ETag {
		t.Errorf("the read-only calendar changed")
	}
}

// TestBadInput: a form with bad dates or text answers 400 with a clear
// message and the member's input, and stores nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	for _, tc := range []struct {
		name, field, value, msg string
	}{
		{"no title", "title", "  ", "Give the event a title."},
		{"bad date", "startdate", "2026-02-30", "A date or time is missing or not valid."},
		{"no date", "enddate", "", "A date or time is missing or not valid."},
		{"bad time", "starttime", "25:00", "A date or time is missing or not valid."},
		{"text date", "startdate", "tomorrow", "A date or time is missing or not valid."},
		{"year 10000", "enddate", "10000-01-01", "A date or time is missing or not valid."},
		{"year 1", "startdate", "0001-01-01", "A date or time is missing or not valid."},
		{"ends before", "endtime", "17:00", "The event ends before it starts."},
		{"long title", "title", strings.Repeat("x", MaxTitle+1), "The title, place or description is too long."},
		{"not UTF-8", "place", "\xff\xfe", "The text contains characters that cannot be stored."},
	} {
		f := eventForm(calendar.PersonalSlug, "Leafleting")
		f.Set(tc.field, tc.value)
		res := alice.post(t, "/mail/calendar/new", f)
		if res.code != http.StatusBadRequest || !strings.Contains(res.body, tc.msg) {
			t.Errorf("%s: %d, want 400 with %q\n%s", tc.name, res.code, tc.msg, res.body)
		}
		if tc.field != "title" && !strings.Contains(res.body, `value="Leafleting"`) {
			t.Errorf("%s: the member's input is lost", tc.name)
		}
	}
	if rs, err := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); err != nil || len(rs) != 0 {
		t.Errorf("stored %d events, %v", len(rs), err)
	}
	for _, path := range []string{"/mail/calendar?m=2026-13", "/mail/calendar?m=99999-01", "/mail/calendar/agenda?from=x"} {
		if res := alice.get(t, path); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.code)
		}
	}
}

// TestCSRFRefused: a form without the session's token changes nothing.
func TestCSRFRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	r := alice.putEvent(t, calendar.PersonalSlug, "rally", "20260605T160000Z", "20260605T170000Z", "")
	for _, tok := range []string{"", "forged"} {
		f := eventForm(calendar.PersonalSlug, "Forged")
		f.Set("csrf", tok)
		if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusForbidden {
			t.Errorf("create with token %q: %d", tok, res.code)
		}
		f.Set("etag", r.ETag)
		if res := alice.post(t, "/mail/calendar/event/personal/rally.ics", f); res.code != http.StatusForbidden {
			t.Errorf("change with token %q: %d", tok, res.code)
		}
		if res := alice.post(t, "/mail/calendar/event/personal/rally.ics/delete", url.Values{"csrf": {tok}, "etag": {r.ETag}}); res.code != http.StatusForbidden {
			t.Errorf("delete with token %q: %d", tok, res.code)
		}
	}
	if got := alice.only(t, calendar.PersonalSlug); got.ETag != r.ETag {
		t.Errorf("the event changed")
	}
}

// TestConflictingEdit: a change or deletion of a version that changed
// since the form showed it is refused with a message and a link to the
// current version; nothing is overwritten. With the current version's
// tag it goes through, keeping what the form does not show.
func TestConflictingEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	old := alice.putEvent(t, calendar.PersonalSlug, "debate", "20260605T160000Z", "20260605T170000Z", "RRULE:FREQ=DAILY;COUNT=3\r\n")
	page := alice.get(t, "/mail/calendar/event/personal/debate.ics")
	if page.code != http.StatusOK || !strings.Contains(page.body, `value="`+old.ETag+`"`) || !strings.Contains(page.body, `value="2026-06-05"`) || !strings.Contains(page.body, `value="18:00"`) {
		t.Fatalf("event page: %d\n%s", page.code, page.body)
	}
	// A phone changes the event meanwhile.
	cur := alice.putEvent(t, calendar.PersonalSlug, "debate", "20260605T170000Z", "20260605T180000Z", "RRULE:FREQ=DAILY;COUNT=3\r\n")
	f := eventForm("", "Debate (browser)")
	f.Set("etag", old.ETag)
	res := alice.post(t, "/mail/calendar/event/personal/debate.ics", f)
	if res.code != http.StatusConflict || !strings.Contains(res.body, "Someone changed or deleted this event") || !strings.Contains(res.body, `id="current"`) || !strings.Contains(res.body, "Debate (browser)") {
		t.Fatalf("stale change: %d\n%s", res.code, res.body)
	}
	if res := alice.post(t, "/mail/calendar/event/personal/debate.ics/delete", url.Values{"etag": {old.ETag}}); res.code != http.StatusConflict {
		t.Errorf("stale delete: %d", res.code)
	}
	if res := alice.post(t, "/mail/calendar/event/personal/debate.ics/delete", url.Values{}); res.code != http.StatusConflict {
		t.Errorf("delete without a tag: %d", res.code)
	}
	if got := alice.only(t, calendar.PersonalSlug); got.ETag != cur.ETag {
		t.Fatalf("the phone's version was overwritten")
	}
	f.Set("etag", cur.ETag)
	if res := alice.post(t, "/mail/calendar/event/personal/debate.ics", f); res.code != http.StatusSeeOther || res.loc != "/mail/calendar?m=2026-06&n=saved" {
		t.Fatalf("change: %d %q\n%s", res.code, res.loc, res.body)
	}
	got := alice.only(t, calendar.PersonalSlug)
	for _, want := range []string{"SUMMARY:Debate (browser)", "RRULE:FREQ=DAILY;COUNT=3", "SEQUENCE:1", "UID:debate"} {
		if !strings.Contains(string(got.Data), want) {
			t.Errorf("changed event lacks %q:\n%s", want, got.Data)
		}
	}
	if res := alice.post(t, "/mail/calendar/event/personal/debate.ics/delete", url.Values{"etag": {got.ETag}}); res.code != http.StatusSeeOther || res.loc != "/mail/calendar?n=deleted" {
		t.Fatalf("delete: %d %q", res.code, res.loc)
	}
	if rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); len(rs) != 0 {
		t.Errorf("deleted event still stored")
	}
}

// TestManyEventsBounded: a page shows at most maxShown instances and
// says that there are more.
func TestManyEventsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	for _, uid := range []string{"a", "b", "c"} {
		alice.putEvent(t, calendar.PersonalSlug, uid, "20260101T080000Z", "20260101T083000Z", "RRULE:FREQ=DAILY\r\n")
	}
	e.h.maxShown = 50
	for _, path := range []string{"/mail/calendar?m=2026-06", "/mail/calendar/agenda"} {
		page := alice.get(t, path)
		n := strings.Count(page.body, `class="ev cal0"`)
		if page.code != http.StatusOK || n != 50 || !strings.Contains(page.body, "only 50 are shown") {
			t.Errorf("%s: %d, %d events shown, want 50 and the warning", path, page.code, n)
		}
	}
	e.h.maxShown = MaxShown
	if page := alice.get(t, "/mail/calendar/agenda"); strings.Count(page.body, `class="ev cal0"`) != 90 || strings.Contains(page.body, "are shown") {
		t.Errorf("agenda of 30 days with three daily series: %d events shown, want 90", strings.Count(page.body, `class="ev cal0"`))
	}
}

// TestHostileTextEscaped: what a CalDAV client wrote is shown as text,
// never as markup, in the month, the agenda and the event's page.
func TestHostileTextEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	alice.putEvent(t, calendar.PersonalSlug, "x", "20260605T080000Z", "20260605T090000Z",
		"LOCATION:<img src=x onerror=alert(1)>\r\nDESCRIPTION:<script>alert(2)</script>\r\n")
	for _, path := range []string{"/mail/calendar?m=2026-06", "/mail/calendar/agenda", "/mail/calendar/event/personal/x.ics"} {
		page := alice.get(t, path)
		if page.code != http.StatusOK || strings.Contains(page.body, "<img src=x") || strings.Contains(page.body, "<script>alert") {
			t.Errorf("%s: %d, markup from the event:\n%s", path, page.code, page.body)
		}
	}
	if page := alice.get(t, "/mail/calendar/event/personal/x.ics"); !strings.Contains(page.body, "&lt;script&gt;alert(2)&lt;/script&gt;") {
		t.Errorf("the description is not shown as text")
	}
}

// TestItalianPages: the pages are in the reader's language: month names,
// weekdays and dates from the Italian catalogue.
func TestItalianPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	alice.putEvent(t, calendar.PersonalSlug, "comizio", "20260605T160000Z", "20260605T170000Z", "")
	get := func(path string) response {
		req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Language", "it")
		return alice.do(t, req)
	}
	if page := get("/mail/calendar?m=2026-06"); !strings.Contains(page.body, "giugno 2026") || !strings.Contains(page.body, ">lun<") || !strings.Contains(page.body, `lang="it"`) {
		t.Errorf("month in Italian:\n%s", page.body)
	}
	if page := get("/mail/calendar/agenda"); !strings.Contains(page.body, "5 giu 2026") || !strings.Contains(page.body, "18:00–19:00") {
		t.Errorf("agenda in Italian:\n%s", page.body)
	}
}

// TestMoveEvent: the form moves an event to another calendar the member
// writes (the group's), under the same name and UID; to a read-only
// calendar it is refused and nothing changes.
func TestMoveEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	press := e.group(t, "press", alice)
	staff := e.group(t, "staff", alice)
	gid, err := e.a.Auth.GroupID(t.Context(), "staff")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGroupReadOnly(t.Context(), "admin", auth.Group{ID: gid, Name: "staff"}, true); err != nil {
		t.Fatal(err)
	}
	r := alice.putEvent(t, calendar.PersonalSlug, "briefing", "20260605T160000Z", "20260605T170000Z", "")
	page := alice.get(t, "/mail/calendar/event/personal/briefing.ics")
	if !strings.Contains(page.body, `value="`+press+`"`) || strings.Contains(page.body, `value="`+staff+`"`) {
		t.Errorf("the form offers %s and not %s?\n%s", press, staff, page.body)
	}
	f := eventForm(staff, "Briefing")
	f.Set("etag", r.ETag)
	if res := alice.post(t, "/mail/calendar/event/personal/briefing.ics", f); res.code != http.StatusForbidden {
		t.Errorf("move to the read-only calendar: %d", res.code)
	}
	if got := alice.only(t, calendar.PersonalSlug); got.ETag != r.ETag {
		t.Errorf("the event changed")
	}
	f.Set("calendar", press)
	if res := alice.post(t, "/mail/calendar/event/personal/briefing.ics", f); res.code != http.StatusSeeOther {
		t.Fatalf("move: %d\n%s", res.code, res.body)
	}
	if rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); len(rs) != 0 {
		t.Errorf("the event stays in the personal calendar")
	}
	if got := alice.only(t, press); got.UID != "briefing" || !strings.Contains(string(got.Data), "SUMMARY:Briefing") {
		t.Errorf("moved event: %+v", got)
	}
}
