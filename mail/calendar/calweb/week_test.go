package calweb

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

// TestWeekView: the week of 3 June 2026 shows Monday to Sunday; each
// timed event is a block on its day at its hour, two at the same time
// side by side in their calendars' colours, a group calendar's among
// them; an all-day event is in the all-day row; an event past midnight
// is on both days, and the hours shown widen to hold it; a series shows
// on its day; the links go a week back and on; three days and one day
// are views too; a bad day or span is 404.
func TestWeekView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	press := e.group(t, "press", alice)
	// Rome is UTC+2 in June.
	alice.putEvent(t, calendar.PersonalSlug, "dentist", "20260603T070000Z", "20260603T083000Z", "")
	alice.putEvent(t, press, "interview", "20260603T073000Z", "20260603T080000Z", "")
	alice.putEvent(t, calendar.PersonalSlug, "standup", "20260101T080000Z", "20260101T083000Z", "RRULE:FREQ=WEEKLY;BYDAY=TH\r\n")
	alice.putEvent(t, calendar.PersonalSlug, "vigil", "20260605T210000Z", "20260605T230000Z", "")
	o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:congress\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART;VALUE=DATE:20260604\r\nDTEND;VALUE=DATE:20260605\r\nSUMMARY:congress\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Put(t.Context(), alice.cal(), calendar.PersonalSlug, "congress.ics", o, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	page := alice.get(t, "/mail/calendar/week?d=2026-06-03")
	if page.code != http.StatusOK {
		t.Fatalf("week: %d\n%s", page.code, page.body)
	}
	days := regexp.MustCompile(`<section class="wk-col[^"]*" data-date="([0-9-]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(days) != 7 || days[0][1] != "2026-06-01" || days[6][1] != "2026-06-07" {
		t.Fatalf("the week's days: %v", days)
	}
	// The vigil ends at 01:00 on Saturday: the hours shown start at 00:00.
	for _, want := range []string{
		`class="ev cal0 at18 len3 lanes2 lane0" href="/mail/calendar/event/personal/dentist.ics"><span class="when">09:00–10:30</span> <span class="what">dentist</span>`,
		`class="ev cal1 at19 len1 lanes2 lane1" href="/mail/calendar/event/` + press + `/interview.ics"><span class="when">09:30–10:00</span>`,
		`class="ev cal0 at20 len1 lanes1 lane0" href="/mail/calendar/event/personal/standup.ics?r=20260604T080000Z"`,
		`class="ev cal0 at46 len2 lanes1 lane0" href="/mail/calendar/event/personal/vigil.ics"`,
		`class="ev cal0 at0 len2 lanes1 lane0" href="/mail/calendar/event/personal/vigil.ics"`,
		`<div class="hour">00:00</div>`, `<div class="hour">23:00</div>`,
		`href="/mail/calendar/week?d=2026-05-25&amp;n=7" id="prev"`, `href="/mail/calendar/week?d=2026-06-08&amp;n=7" id="next"`,
		`id="weekview" aria-current="page"`, "press",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the week lacks %s", want)
		}
	}
	allDay := page.body[strings.Index(page.body, `class="wk-row wk-allday"`):strings.Index(page.body, `class="wk-row wk-body"`)]
	if !strings.Contains(allDay, `data-date="2026-06-04"><a class="ev cal0" href="/mail/calendar/event/personal/congress.ics">`) || strings.Count(allDay, ">congress<") != 1 {
		t.Errorf("the all-day row: %s", allDay)
	}
	// Without events before 07:00 or after 21:00, those are the hours.
	if next := alice.get(t, "/mail/calendar/week?d=2026-06-10"); !strings.Contains(next.body, `<div class="hour">07:00</div>`) || strings.Contains(next.body, `<div class="hour">06:00</div>`) ||
		!strings.Contains(next.body, `<div class="hour">20:00</div>`) || strings.Contains(next.body, `<div class="hour">21:00</div>`) || strings.Count(next.body, ">standup<") != 1 {
		t.Errorf("the next week's hours or series:\n%s", next.body)
	}
	three := alice.get(t, "/mail/calendar/week?d=2026-06-03&n=3")
	if d := regexp.MustCompile(`<section class="wk-col[^"]*" data-date="([0-9-]+)"`).FindAllStringSubmatch(three.body, -1); len(d) != 3 || d[0][1] != "2026-06-03" ||
		!strings.Contains(three.body, `href="/mail/calendar/week?d=2026-05-31&amp;n=3" id="prev"`) || !strings.Contains(three.body, `class="week days3"`) {
		t.Errorf("three days: %v\n%s", d, three.body)
	}
	if one := alice.get(t, "/mail/calendar/week?d=2026-06-04&n=1"); strings.Count(one.body, `class="wk-col`) != 1 || !strings.Contains(one.body, ">standup<") || !strings.Contains(one.body, ">congress<") {
		t.Errorf("one day:\n%s", one.body)
	}
	if cur := alice.get(t, "/mail/calendar/week"); !strings.Contains(cur.body, `<section class="wk-col today" data-date="2026-06-01"`) {
		t.Errorf("this week does not mark today")
	}
	// The month's days open the day alone.
	if month := alice.get(t, "/mail/calendar?m=2026-06"); !strings.Contains(month.body, `<a class="day" href="/mail/calendar/week?d=2026-06-03&amp;n=1" aria-label="3 Jun 2026">3</a>`) {
		t.Errorf("the month's 3 June does not open the day:\n%s", month.body)
	}
	for _, bad := range []string{"?n=5", "?d=2026-13-01", "?d=99999-01-01", "?n=7&d=x"} {
		if res := alice.get(t, "/mail/calendar/week"+bad); res.code != http.StatusNotFound {
			t.Errorf("week%s: %d, want 404", bad, res.code)
		}
	}
}

// TestWeekLanes: blocks that overlap share the width, those that do not
// take all of it; more than maxLanes at once overlap in the last lane.
func TestWeekLanes(t *testing.T) {
	t.Parallel()
	day := mustDay(t, "2026-06-03")
	ev := func(title, from, to string) eventView {
		return eventView{Title: title, Start: mustTime(t, "2026-06-03 "+from), End: mustTime(t, "2026-06-03 "+to)}
	}
	_, got := layDay([]eventView{ev("a", "09:00", "11:00"), ev("b", "09:30", "10:00"), ev("c", "10:00", "10:30"), ev("d", "12:00", "13:00"),
		ev("e", "14:00", "15:00"), ev("f", "14:00", "15:00"), ev("g", "14:00", "15:00"), ev("h", "14:00", "15:00"), ev("i", "14:00", "15:00")}, day, 7, 21)
	want := map[string][4]int{ // At, Len, Lane, Lanes
		"a": {4, 4, 0, 2}, "b": {5, 1, 1, 2}, "c": {6, 1, 1, 2}, "d": {10, 2, 0, 1},
		"e": {14, 2, 0, 4}, "f": {14, 2, 1, 4}, "g": {14, 2, 2, 4}, "h": {14, 2, 3, 4}, "i": {14, 2, 3, 4},
	}
	for _, p := range got {
		if w := want[p.Title]; w != [4]int{p.At, p.Len, p.Lane, p.Lanes} {
			t.Errorf("%s: at %d len %d lane %d of %d, want %v", p.Title, p.At, p.Len, p.Lane, p.Lanes, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d blocks, want %d", len(got), len(want))
	}
}
