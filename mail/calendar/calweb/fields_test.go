package calweb

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/mail/calendar"
)

// stored is the one event of alice's personal calendar, unfolded (RFC
// 5545 section 3.1), for matching its lines.
func (m *member) stored(t testing.TB) (calendar.Resource, string) {
	t.Helper()
	r := m.only(t, calendar.PersonalSlug)
	return r, strings.ReplaceAll(string(r.Data), "\r\n ", "")
}

func wantLines(t testing.TB, data string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(data, w) {
			t.Errorf("stored object lacks %q:\n%s", w, data)
		}
	}
}

func wantNo(t testing.TB, data string, not ...string) {
	t.Helper()
	for _, w := range not {
		if strings.Contains(data, w) {
			t.Errorf("stored object still has %q:\n%s", w, data)
		}
	}
}

// edit opens the event's page, lets change alter what a browser would
// send of its form, and posts it; it fails unless the post redirects.
func (m *member) edit(t testing.TB, path string, change func(f url.Values)) response {
	t.Helper()
	page := m.get(t, path)
	if page.code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, page.code)
	}
	f := pageForm(t, page.body, "eventform")
	change(f)
	action := path
	if i := strings.IndexByte(action, '?'); i >= 0 {
		action = action[:i]
	}
	res := m.post(t, action, f)
	if res.code != http.StatusSeeOther {
		t.Fatalf("POST %s: %d\n%s", action, res.code, res.body)
	}
	return res
}

// TestAttendeesRoundTrip: attendees typed one per line become ATTENDEE
// lines that ask for an answer, with the member as ORGANIZER (RFC 5545
// sections 3.8.4.1, 3.8.4.3); the page shows them back; an edit keeps
// the answer of one still listed, adds and removes the others; none left
// takes the organizer away too; a bad address is refused.
func TestAttendeesRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	f := eventForm(calendar.PersonalSlug, "Press briefing")
	f.Set("attendees", "Anna Rossi <anna@example.org>\r\nbob@example.net, BOB@example.net")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.code, res.body)
	}
	r, data := alice.stored(t)
	wantLines(t, data,
		"ATTENDEE;CN=Anna Rossi;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:anna@example.org",
		"ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:bob@example.net",
		"ORGANIZER;CN=Test member:mailto:alice@example.org")
	if n := strings.Count(data, "ATTENDEE"); n != 2 {
		t.Errorf("%d attendees stored, want 2 (bob once)", n)
	}
	path := "/mail/calendar/event/personal/" + r.Name
	page := alice.get(t, path)
	if got := pageForm(t, page.body, "eventform").Get("attendees"); got != "Anna Rossi <anna@example.org>\nbob@example.net" {
		t.Errorf("the page shows the attendees as %q", got)
	}
	// Anna accepts (her answer arrives through another client).
	accepted := strings.Replace(string(r.Data), "PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:anna", "PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:anna", 1)
	o, err := calendar.Parse([]byte(accepted))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Put(t.Context(), alice.cal(), calendar.PersonalSlug, r.Name, o, calendar.Cond{IfMatch: r.ETag}); err != nil {
		t.Fatal(err)
	}
	alice.edit(t, path, func(f url.Values) {
		f["attendees"] = []string{"\"Anna Rossi\" <anna@example.org>\ncarla@example.com"}
	})
	_, data = alice.stored(t)
	wantLines(t, data, "PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:anna@example.org", "mailto:carla@example.com", "ORGANIZER")
	wantNo(t, data, "bob@example.net")
	alice.edit(t, path, func(f url.Values) { f["attendees"] = []string{""} })
	_, data = alice.stored(t)
	wantNo(t, data, "ATTENDEE", "ORGANIZER")

	f = eventForm(calendar.PersonalSlug, "Bad")
	f.Set("attendees", "Caf\xe9 <cafe@example.org>")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusBadRequest || !strings.Contains(res.body, "cannot be stored") {
		t.Errorf("an attendee's name not UTF-8: %d", res.code)
	}
	if rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); len(rs) != 1 {
		t.Errorf("%d events stored, want the one", len(rs))
	}
	for _, bad := range []string{"not an address", "a@b.example\nx <y", manyAddresses(MaxAttendees + 1)} {
		f := eventForm(calendar.PersonalSlug, "Bad")
		f.Set("attendees", bad)
		if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusBadRequest || !strings.Contains(res.body, "attendee") {
			t.Errorf("attendees %.40q: %d, want 400", bad, res.code)
		}
	}
}

func manyAddresses(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("m")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("y", i/26))
		b.WriteString("@example.org\n")
	}
	return b.String()
}

// TestReminderRoundTrip: each reminder of the form is a DISPLAY alarm
// with a TRIGGER before the start and a DESCRIPTION (RFC 5545 section
// 3.6.6), shown back selected; choosing another replaces it, "none"
// removes it, and an alarm the form does not offer stays through it all.
func TestReminderRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	f := eventForm(calendar.PersonalSlug, "Phone bank")
	f.Set("reminder", "10m")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.code, res.body)
	}
	r, data := alice.stored(t)
	wantLines(t, data, "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Phone bank\r\nTRIGGER:-PT10M\r\nEND:VALARM")
	path := "/mail/calendar/event/personal/" + r.Name
	for _, tc := range []struct{ choice, trigger string }{{"1h", "TRIGGER:-PT1H"}, {"1d", "TRIGGER:-P1D"}, {"10m", "TRIGGER:-PT10M"}} {
		alice.edit(t, path, func(f url.Values) { f["reminder"] = []string{tc.choice} })
		_, data = alice.stored(t)
		if strings.Count(data, "BEGIN:VALARM") != 1 || !strings.Contains(data, tc.trigger) {
			t.Errorf("reminder %s stored as:\n%s", tc.choice, data)
		}
		if got := pageForm(t, alice.get(t, path).body, "eventform").Get("reminder"); got != tc.choice {
			t.Errorf("the page shows reminder %q, want %s", got, tc.choice)
		}
	}
	// A phone adds a mail alarm half an hour before.
	r, data = alice.stored(t)
	withMail := strings.Replace(data, "END:VEVENT", "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT30M\r\nSUMMARY:Soon\r\nDESCRIPTION:Soon\r\nATTENDEE:mailto:alice@example.org\r\nEND:VALARM\r\nEND:VEVENT", 1)
	o, err := calendar.Parse([]byte(withMail))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Put(t.Context(), alice.cal(), calendar.PersonalSlug, r.Name, o, calendar.Cond{IfMatch: r.ETag}); err != nil {
		t.Fatal(err)
	}
	if page := alice.get(t, path); !strings.Contains(page.body, `id="otheralarms"`) {
		t.Errorf("the page does not say that other reminders are kept")
	}
	alice.edit(t, path, func(f url.Values) { f["reminder"] = []string{""} })
	_, data = alice.stored(t)
	wantLines(t, data, "ACTION:EMAIL", "TRIGGER:-PT30M")
	wantNo(t, data, "-PT10M", "ACTION:DISPLAY")
	f = eventForm(calendar.PersonalSlug, "Bad")
	f.Set("reminder", "5y")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusBadRequest || !strings.Contains(res.body, "Choose a reminder") {
		t.Errorf("an unknown reminder: %d", res.code)
	}
}

// TestRecurrenceRoundTrip: each recurrence of the form is stored as the
// RRULE RFC 5545 section 3.3.10 gives it (UNTIL in UTC at the end of the
// last day in the party's zone, or a DATE for an all-day event) and
// shown back as chosen; bad choices are refused with a message.
func TestRecurrenceRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	// 5 June 2026 is a Friday.
	for _, tc := range []struct {
		name   string
		set    map[string][]string
		allDay bool
		rule   string
	}{
		{"daily 10 times", map[string][]string{"repeat": {"daily"}, "ends": {"count"}, "count": {"10"}}, false, "RRULE:FREQ=DAILY;COUNT=10"},
		{"weekly", map[string][]string{"repeat": {"weekly"}, "days": {"FR", "MO"}, "ends": {"until"}, "until": {"2026-07-31"}}, false, "RRULE:FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20260731T215959Z"},
		{"weekly, day of start", map[string][]string{"repeat": {"weekly"}}, false, "RRULE:FREQ=WEEKLY;BYDAY=FR"},
		{"monthly", map[string][]string{"repeat": {"monthly"}, "ends": {"never"}}, false, "RRULE:FREQ=MONTHLY\r\n"},
		{"yearly all day", map[string][]string{"repeat": {"yearly"}, "ends": {"until"}, "until": {"2030-06-05"}}, true, "RRULE:FREQ=YEARLY;UNTIL=20300605\r\n"},
	} {
		f := eventForm(calendar.PersonalSlug, tc.name)
		for k, v := range tc.set {
			f[k] = v
		}
		if tc.allDay {
			f.Set("allday", "1")
		}
		res := alice.post(t, "/mail/calendar/new", f)
		if res.code != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", tc.name, res.code, res.body)
		}
		r := alice.only(t, calendar.PersonalSlug)
		if !strings.Contains(string(r.Data), tc.rule) {
			t.Errorf("%s: stored\n%s\nwant %q", tc.name, r.Data, tc.rule)
		}
		shown := pageForm(t, alice.get(t, "/mail/calendar/event/personal/"+r.Name).body, "eventform")
		for k, v := range tc.set {
			if k == "days" {
				v = []string{"MO", "FR"}
			}
			if got := shown[k]; strings.Join(got, ",") != strings.Join(v, ",") {
				t.Errorf("%s: the page shows %s %q, want %q", tc.name, k, got, v)
			}
		}
		if err := e.store.Delete(t.Context(), alice.cal(), calendar.PersonalSlug, r.Name, calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		set map[string][]string
		msg string
	}{
		{map[string][]string{"repeat": {"weekly"}, "days": {"MO"}}, "tick that day too"},
		{map[string][]string{"repeat": {"daily"}, "ends": {"until"}, "until": {"2026-06-04"}}, "last day of the series"},
		{map[string][]string{"repeat": {"daily"}, "ends": {"until"}, "until": {""}}, "last day of the series"},
		{map[string][]string{"repeat": {"daily"}, "ends": {"count"}, "count": {"0"}}, "from 1 to 1000"},
		{map[string][]string{"repeat": {"daily"}, "ends": {"count"}, "count": {"1001"}}, "from 1 to 1000"},
		{map[string][]string{"repeat": {"hourly"}}, "how the event repeats"},
		{map[string][]string{"repeat": {"daily"}, "ends": {"sometime"}}, "how the event repeats"},
	} {
		f := eventForm(calendar.PersonalSlug, "Bad")
		for k, v := range tc.set {
			f[k] = v
		}
		if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusBadRequest || !strings.Contains(res.body, tc.msg) {
			t.Errorf("%v: %d, want 400 with %q", tc.set, res.code, tc.msg)
		}
	}
	if rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); len(rs) != 0 {
		t.Errorf("refused forms stored %d events", len(rs))
	}
}

// TestRecurrenceChanged: an edit that changes the rule writes the new
// one; one that takes it away removes the series' exceptions and
// changed instances too.
func TestRecurrenceChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	alice.putEvent(t, calendar.PersonalSlug, "s", "20260605T160000Z", "20260605T170000Z", "RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE:20260607T160000Z\r\n")
	path := "/mail/calendar/event/personal/s.ics"
	alice.edit(t, path, func(f url.Values) { f["ends"], f["count"] = []string{"count"}, []string{"7"} })
	_, data := alice.stored(t)
	wantLines(t, data, "RRULE:FREQ=DAILY;COUNT=7", "EXDATE:20260607T160000Z")
	alice.edit(t, path, func(f url.Values) { f["repeat"] = []string{""} })
	_, data = alice.stored(t)
	wantNo(t, data, "RRULE", "EXDATE")
}

// TestForeignPropertiesKept: an event another client wrote, with what
// the form does not show (its own properties and parameters, a rule the
// form cannot show, an attendee that is not a mail address, a mail
// alarm, categories, an attachment), keeps all of it when
// the page changes its title; the page says the rule is kept.
func TestForeignPropertiesKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	foreign := "RRULE:FREQ=MONTHLY;BYDAY=2TU\r\n" +
		"X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n" +
		"CATEGORIES:Campaign,Press\r\n" +
		"ATTACH;FMTTYPE=application/pdf:https://files.example.org/agenda.pdf\r\n" +
		"ATTENDEE;CUTYPE=ROOM;X-RESOURCE=1:urn:uuid:3d1c1a4e-room-12\r\n" +
		"ATTENDEE;CN=Bob;PARTSTAT=TENTATIVE;X-NUM-GUESTS=2:mailto:bob@example.net\r\n" +
		"ORGANIZER;CN=Alice;SENT-BY=\"mailto:office@example.org\":mailto:alice@example.org\r\n" +
		"CLASS:CONFIDENTIAL\r\nTRANSP:TRANSPARENT\r\nPRIORITY:1\r\nURL:https://example.org/briefing\r\nGEO:41.9;12.5\r\n" +
		"BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER;RELATED=END:PT0M\r\nEND:VALARM\r\n"
	alice.putEvent(t, calendar.PersonalSlug, "foreign", "20260609T160000Z", "20260609T170000Z", foreign)
	path := "/mail/calendar/event/personal/foreign.ics"
	page := alice.get(t, path)
	if !strings.Contains(page.body, `<option value="custom" selected>`) || !strings.Contains(page.body, `id="otheralarms"`) {
		t.Errorf("the page does not say the rule and the alarm are kept:\n%s", page.body)
	}
	alice.edit(t, path, func(f url.Values) { f["title"] = []string{"Renamed in the browser"} })
	_, data := alice.stored(t)
	wantLines(t, data, "SUMMARY:Renamed in the browser", "RRULE:FREQ=MONTHLY;BYDAY=2TU", "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
		"CATEGORIES:Campaign,Press", "ATTACH;FMTTYPE=application/pdf:https://files.example.org/agenda.pdf",
		"ATTENDEE;CUTYPE=ROOM;X-RESOURCE=1:urn:uuid:3d1c1a4e-room-12", "ATTENDEE;CN=Bob;PARTSTAT=TENTATIVE;X-NUM-GUESTS=2:mailto:bob@example.net",
		`ORGANIZER;CN=Alice;SENT-BY="mailto:office@example.org":mailto:alice@example.org`, "CLASS:CONFIDENTIAL", "TRANSP:TRANSPARENT",
		"PRIORITY:1", "URL:https://example.org/briefing", "GEO:41.9;12.5", "ACTION:AUDIO", "TRIGGER;RELATED=END:PT0M", "SEQUENCE:1")
	if n := len(regexp.MustCompile(`(?m)^ATTENDEE`).FindAllString(data, -1)); n != 2 {
		t.Errorf("%d attendees after the edit, want 2", n)
	}
}

// TestAttendeeNamesKept: attendees another client wrote with names that
// hold a comma (Outlook's "Rossi, Anna") or letters beyond ASCII are
// shown as people write them and come back unchanged through an edit
// in the page.
func TestAttendeeNamesKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	alice.putEvent(t, calendar.PersonalSlug, "meet", "20260609T160000Z", "20260609T170000Z",
		"ORGANIZER:mailto:alice@example.org\r\nATTENDEE;CN=\"Rossi, Anna\";PARTSTAT=ACCEPTED:mailto:anna@example.org\r\nATTENDEE;CN=José Pérez;PARTSTAT=DECLINED:mailto:jose@example.org\r\n")
	path := "/mail/calendar/event/personal/meet.ics"
	if got := pageForm(t, alice.get(t, path).body, "eventform").Get("attendees"); got != "\"Rossi, Anna\" <anna@example.org>\nJosé Pérez <jose@example.org>" {
		t.Errorf("the page shows the attendees as %q", got)
	}
	alice.edit(t, path, func(f url.Values) { f["title"] = []string{"Meeting"} })
	_, data := alice.stored(t)
	wantLines(t, data, `ATTENDEE;CN="Rossi, Anna";PARTSTAT=ACCEPTED:mailto:anna@example.org`, "ATTENDEE;CN=José Pérez;PARTSTAT=DECLINED:mailto:jose@example.org")
	f := eventForm(calendar.PersonalSlug, "Typed")
	f.Set("attendees", "\"Bianchi, Marco\" <marco@example.org>, Zoë <zoe@example.org>; luca@example.org;\r\nnina@example.org,")
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusSeeOther {
		t.Fatalf("attendees typed with commas and semicolons: %d\n%s", res.code, res.body)
	}
	var typed calendar.Resource
	rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug)
	for _, r := range rs {
		if r.Name != "meet.ics" {
			typed = r
		}
	}
	for _, want := range []string{`CN="Bianchi, Marco"`, "mailto:marco@example.org", "CN=Zoë", "mailto:zoe@example.org", "mailto:luca@example.org", "mailto:nina@example.org"} {
		if !strings.Contains(strings.ReplaceAll(string(typed.Data), "\r\n ", ""), want) {
			t.Errorf("typed attendees stored without %q:\n%s", want, typed.Data)
		}
	}
}

// TestImportOneAtATime: a member's second import waits for none: it is
// refused while the first runs, and taken once it ended; another
// member's is taken meanwhile. (review17b: a decoded file of
// MaxImportBytes takes hundreds of MB; several tabs at once could take
// the server's memory.)
func TestImportOneAtATime(t *testing.T) {
	h := &Handler{importing: map[int64]bool{}}
	if !h.startImport(1) {
		t.Fatal("the first import refused")
	}
	if h.startImport(1) {
		t.Error("a second import of the same member taken while the first runs")
	}
	if !h.startImport(2) {
		t.Error("another member's import refused")
	}
	h.endImport(1)
	if !h.startImport(1) {
		t.Error("an import refused after the member's last one ended")
	}
}

// TestRepeatOfZone: a weekly rule is shown as the form's only if the
// start's weekday in the member's zone is among its days, as the form
// checks when the event is saved: a start on Monday 23:30 UTC is a
// Tuesday in Rome, so "weekly on Monday" is custom there (kept as it is
// on save), and weekly in London. (review17b: it was shown as weekly on
// Monday, and the event could not be saved unchanged.)
func TestRepeatOfZone(t *testing.T) {
	o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20270301T233000Z\r\nDTEND:20270302T000000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for zone, want := range map[string]string{"Europe/Rome": repeatCustom, "Europe/London": "weekly"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		if r := repeatOf(o.Cal, master(o.Cal), loc); r.Repeat != want {
			t.Errorf("in %s: shown as %q, want %q", zone, r.Repeat, want)
		}
	}
}

// TestManyAttendeesKept: an event made elsewhere with more attendees
// than the form shows (MaxAttendees) can have its time changed and be
// saved from the form; the attendees past the form's first MaxAttendees
// are not shown and stay as they were, answers, place and all, and the
// page says how many it does not show. Saves that change only the time
// keep the order, so the form shows the same attendees each time
// (review18a: each save moved the hidden ones to the front). The shown
// ones are edited as always: one taken off the list is removed, with its
// hidden second line; one typed again that is among the hidden ones
// (the form holds at most MaxAttendees, so this edit also removes) is
// not added twice; one new comes after the last shown.
func TestManyAttendeesKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	var extra strings.Builder
	extra.WriteString("ORGANIZER:mailto:org@example.net\r\n")
	const n = MaxAttendees + 50
	var order []string
	for i := range n - 1 {
		fmt.Fprintf(&extra, "ATTENDEE;CN=P%d;PARTSTAT=ACCEPTED:mailto:p%d@example.org\r\n", i, i)
		order = append(order, fmt.Sprintf("p%d@example.org", i))
	}
	// The last is p3 again, as another client may write it.
	extra.WriteString("ATTENDEE;CN=P3;PARTSTAT=TENTATIVE:mailto:P3@example.org\r\n")
	order = append(order, "P3@example.org")
	r := alice.putEvent(t, calendar.PersonalSlug, "congress", "20260605T160000Z", "20260605T170000Z", extra.String())
	path := "/mail/calendar/event/personal/" + r.Name
	page := alice.get(t, path)
	if !strings.Contains(page.body, `id="hiddenattendees"`) || !strings.Contains(page.body, "50") {
		t.Errorf("the page does not say it shows only %d attendees", MaxAttendees)
	}
	var first, second string
	alice.edit(t, path, func(f url.Values) {
		first = f.Get("attendees")
		f.Set("starttime", "19:00")
		f.Set("endtime", "20:00")
	})
	_, data := alice.stored(t)
	wantLines(t, data, "DTSTART;TZID=Europe/Rome:20260605T190000", "ATTENDEE;CN=P0;PARTSTAT=ACCEPTED:mailto:p0@example.org",
		"ATTENDEE;CN=P3;PARTSTAT=TENTATIVE:mailto:P3@example.org")
	wantAttendees(t, data, order)
	alice.edit(t, path, func(f url.Values) {
		second = f.Get("attendees")
		f.Set("starttime", "18:00")
		f.Set("endtime", "19:00")
	})
	if second != first {
		t.Errorf("the second form shows other attendees than the first:\n%s\n---\n%s", second, first)
	}
	if want := "P0 <p0@example.org>\n"; !strings.HasPrefix(first, want) || strings.Count(first, "\n") != MaxAttendees-1 ||
		!strings.HasSuffix(first, "P99 <p99@example.org>") {
		t.Errorf("the form does not show p0 to p99:\n%s", first)
	}
	_, data = alice.stored(t)
	wantLines(t, data, "DTSTART;TZID=Europe/Rome:20260605T180000")
	wantAttendees(t, data, order)
	alice.edit(t, path, func(f url.Values) {
		a := f.Get("attendees")
		a = strings.Replace(a, "P0 <p0@example.org>\n", "", 1)
		a = strings.Replace(a, "P3 <p3@example.org>\n", "", 1)
		f.Set("attendees", a+"\np120@example.org\nnew@example.org") // p120: hidden, already an attendee
	})
	_, data = alice.stored(t)
	if got := strings.Count(data, "mailto:p120@example.org"); got != 1 {
		t.Errorf("p120 is %d times an attendee, want once", got)
	}
	want := slices.Concat(order[1:3], order[4:100], []string{"new@example.org"}, order[100:n-1])
	wantAttendees(t, data, want)
	wantNo(t, data, "mailto:p0@example.org", "mailto:P3@example.org", "mailto:p3@example.org")
}

// wantAttendees checks that data's ATTENDEEs are the mail addresses
// want, in that order.
func wantAttendees(t testing.TB, data string, want []string) {
	t.Helper()
	var got []string
	for line := range strings.SplitSeq(data, "\r\n") {
		if strings.HasPrefix(line, "ATTENDEE") {
			_, addr, _ := strings.Cut(line, ":mailto:")
			got = append(got, addr)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("attendees stored:\n%v\nwant:\n%v", got, want)
	}
}
