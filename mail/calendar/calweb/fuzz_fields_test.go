package calweb

import (
	"fmt"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
)

// FuzzEventExtras: whatever the attendees, reminder and recurrence
// fields carry, reading them never panics, and what is accepted makes an
// event the store accepts, whose attendees, reminder and recurrence the
// form reads back as they were sent, with a recurrence rule written as RFC
// 5545 spells it.
func FuzzEventExtras(f *testing.F) {
	f.Add("Anna <anna@example.org>\nbob@example.net", "10m", "weekly", "FR,MO", "until", "2026-07-31", "", false)
	f.Add("a@b, c@d; e@f", "1d", "daily", "", "count", "", "10", true)
	f.Add("\"x\\\"y\" <a@b>", "", "monthly", "XX", "never", "", "", false)
	f.Add("=?utf-8?q?=C3=A9?= <a@b>", "1h", "yearly", "", "until", "2026-06-04", "", true)
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	me := organizer(auth.Session{Account: auth.Account{Login: "alice@example.org", DisplayName: "Alice, \"the\" organiser"}})
	f.Fuzz(func(t *testing.T, attendees, reminder, rep, days, ends, until, count string, allDay bool) {
		v := url.Values{"title": {"T"}, "startdate": {"2026-06-05"}, "starttime": {"18:00"}, "enddate": {"2026-06-05"}, "endtime": {"19:00"},
			"attendees": {attendees}, "reminder": {reminder}, "repeat": {rep}, "ends": {ends}, "until": {until}, "count": {count}}
		for d := range strings.SplitSeq(days, ",") {
			v.Add("days", d)
		}
		if allDay {
			v.Set("allday", "1")
		}
		r := httptest.NewRequest("POST", "/mail/calendar/new", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fm, start, end, err := readForm(r, rome)
		if err != nil {
			return
		}
		ev := ical.NewComponent(ical.CompEvent)
		ev.Props.SetText(ical.PropUID, "fuzz")
		fm.apply(ev, form{}, start, end, now, me, rome, true)
		ic := ical.NewCalendar()
		ic.Props.SetText(ical.PropVersion, "2.0")
		ic.Props.SetText(ical.PropProductID, "-//caucus//calendar//EN")
		ic.Children = append(ic.Children, ev)
		o, err := calendar.Analyse(ic)
		if err != nil {
			t.Fatalf("the store refuses an accepted form: %v", err)
		}
		back, err := calendar.Parse(o.Data)
		if err != nil {
			t.Fatalf("the stored event does not parse again: %v\n%s", err, o.Data)
		}
		got := formOf(back.Cal, master(back.Cal), rome)
		again, err := parseAttendees(got.Attendees)
		if err != nil || len(again) != len(fm.attendees) {
			t.Fatalf("attendees %q came back as %q (%v)", fm.Attendees, got.Attendees, err)
		}
		for i := range again {
			if again[i].Address != fm.attendees[i].Address || again[i].Name != fm.attendees[i].Name {
				t.Fatalf("attendee %v came back as %v", fm.attendees[i], again[i])
			}
		}
		if got.Reminder != fm.Reminder {
			t.Fatalf("reminder %q came back as %q", fm.Reminder, got.Reminder)
		}
		if fm.Repeat != repeatCustom && !got.repeat.equal(fm.repeat) {
			t.Fatalf("recurrence %+v came back as %+v", fm.repeat, got.repeat)
		}
		if fm.Repeat != "" && fm.Repeat != repeatCustom {
			if rule := master(back.Cal).Props.Get(ical.PropRecurrenceRule); rule == nil || !formRule.MatchString(rule.Value) {
				t.Fatalf("recurrence %+v written as %+v", fm.repeat, rule)
			}
		}
	})
}

// formRule matches the RRULE values the form writes, as RFC 5545 section
// 3.3.10 spells their parts (COUNT is 1*DIGIT, UNTIL a DATE or a UTC
// DATE-TIME).
var formRule = regexp.MustCompile(`^FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)(;BYDAY=(MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU))*)?(;UNTIL=[0-9]{8}(T[0-9]{6}Z)?|;COUNT=[0-9]+)?$`)

// FuzzRepeatOf: any rule the store accepts is read by the form without
// a panic, and one the form shows (not "custom") it takes back when sent
// unchanged and writes back as the same recurrence.
func FuzzRepeatOf(f *testing.F) {
	for _, s := range []string{"FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20260731T215959Z", "FREQ=DAILY;COUNT=3", "FREQ=MONTHLY;BYDAY=2TU", "FREQ=YEARLY;UNTIL=20300605", "FREQ=WEEKLY;INTERVAL=2", "FREQ=DAILY;WKST=SU;UNTIL=20260701T000000"} {
		f.Add(s, false)
	}
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rule string, allDay bool) {
		start := "DTSTART;TZID=Europe/Rome:20260605T180000\r\n"
		if allDay {
			start = "DTSTART;VALUE=DATE:20260605\r\n"
		}
		o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n" + start + "RRULE:" + rule + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
		if err != nil {
			return
		}
		ev := master(o.Cal)
		r := repeatOf(o.Cal, ev, rome)
		if r.Repeat == "" || r.Repeat == repeatCustom {
			return
		}
		// What the form shows, it takes back when sent unchanged: an
		// event is saved again whatever its recurrence.
		form := url.Values{"repeat": {r.Repeat}, "ends": {r.Ends}, "until": {r.Until}, "count": {r.Count}}
		first := time.Date(2026, 6, 5, 18, 0, 0, 0, rome)
		if allDay {
			first = time.Date(2026, 6, 5, 0, 0, 0, 0, rome)
		}
		shown := r
		if shown.Repeat == "weekly" && len(shown.Days) == 0 { // as formOf shows it: BYDAY is DTSTART's day
			shown.Days = []string{byDays[(int(first.Weekday())+6)%7]}
		}
		if sent, err := readRepeat(form.Get, shown.Days, first, rome); err != nil || !sent.equal(shown) {
			t.Fatalf("rule %q shown as %+v, sent back as %+v: %v", rule, shown, sent, err)
		}
		ev.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: r.rule(allDay, rome)})
		if again := repeatOf(o.Cal, ev, rome); !again.equal(r) {
			t.Fatalf("rule %q read as %+v, written as %q, read again as %+v", rule, r, ev.Props.Get(ical.PropRecurrenceRule).Value, again)
		}
	})
}

// FuzzSetAttendees: whatever ATTENDEEs an event holds (pad generated
// ones first, to pass the form's MaxAttendees, then those of stored, one
// a line), saving the form's attendees unchanged keeps them all, in
// their order (review18a: the hidden ones moved to the front); then,
// with typed added to the form, every address listed is an attendee,
// every line not shown is kept, and a shown address no longer listed is
// gone.
func FuzzSetAttendees(f *testing.F) {
	f.Add("mailto:a@example.org\nurn:uuid:1\nmailto:B@example.org", uint8(99), "b@example.org")
	f.Add("mailto:p3@example.org\nmailto:z@example.org", uint8(120), "z@example.org, p120@example.org")
	f.Add("", uint8(0), "Anna <anna@example.org>")
	me := &mail.Address{Address: "me@example.org"}
	f.Fuzz(func(t *testing.T, stored string, pad uint8, typed string) {
		ev := ical.NewComponent(ical.CompEvent)
		add := func(v string) {
			p := ical.NewProp(ical.PropAttendee)
			p.Value = v
			ev.Props.Add(p)
		}
		for i := range int(pad) {
			add(fmt.Sprintf("mailto:p%d@example.org", i))
		}
		for line := range strings.SplitSeq(stored, "\n") {
			if line != "" {
				add(line)
			}
		}
		all, shown, _ := splitAttendees(ev)
		text, _ := attendeesOf(ev)
		list, err := parseAttendees(text)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		n := 0
		for i, p := range all {
			if !shown[i] {
				continue
			}
			addr, _ := mailto(p.Value)
			if n >= len(list) || list[n].Address != addr || seen[strings.ToLower(addr)] {
				return // an address the form does not give back as it is, or one twice
			}
			seen[strings.ToLower(addr)] = true
			n++
		}
		if n != len(list) {
			return
		}
		setAttendees(ev, list, me)
		if got := ev.Props.Values(ical.PropAttendee); !slices.EqualFunc(got, all, func(a, b ical.Prop) bool { return a.Value == b.Value }) {
			t.Fatalf("saved unchanged, the attendees became\n%v\nfrom\n%v", values(got), values(all))
		}
		edited, err := parseAttendees(text + "\n" + typed)
		if err != nil {
			return
		}
		setAttendees(ev, edited, me)
		now := map[string]int{}
		for _, p := range ev.Props.Values(ical.PropAttendee) {
			addr, _ := mailto(p.Value)
			now[strings.ToLower(addr)]++
		}
		listed := map[string]bool{}
		for _, a := range edited {
			listed[strings.ToLower(a.Address)] = true
			if now[strings.ToLower(a.Address)] == 0 {
				t.Fatalf("%s listed and no attendee", a.Address)
			}
		}
		for i, p := range all {
			addr, ok := mailto(p.Value)
			switch key := strings.ToLower(addr); {
			case ok && seen[key] && !listed[key] && now[key] > 0:
				t.Fatalf("%s taken off the form and still an attendee", addr)
			case !shown[i] && !(ok && seen[key] && !listed[key]) && !slices.ContainsFunc(ev.Props.Values(ical.PropAttendee), func(q ical.Prop) bool { return q.Value == p.Value }):
				t.Fatalf("%s, not shown, was dropped", p.Value)
			}
		}
	})
}

func values(ps []ical.Prop) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}
