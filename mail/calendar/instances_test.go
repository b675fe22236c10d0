package calendar_test

import (
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/mail/calendar"
)

// TestInstances: a daily series with one instance moved (RECURRENCE-ID,
// RFC 5545 section 3.8.4.4) and one excluded (EXDATE) gives each day's
// instance once, the moved one at its new time; an all-day event is
// marked so; an endless rule is bounded by the range asked.
func TestInstances(t *testing.T) {
	t.Parallel()
	o := mustParse(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"+
		"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T080000Z\r\nDTEND:20260601T090000Z\r\nSUMMARY:Series\r\n"+
		"RRULE:FREQ=DAILY\r\nEXDATE:20260603T080000Z\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260602T080000Z\r\nDTSTART:20260602T150000Z\r\nDTEND:20260602T160000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"+
		"END:VCALENDAR\r\n")
	got := calendar.Instances(o.Cal, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 5, 0, 0, 0, 0, time.UTC))
	want := map[string]string{"2026-06-01T08:00": "Series", "2026-06-02T15:00": "Moved", "2026-06-04T08:00": "Series"}
	if len(got) != len(want) {
		t.Fatalf("%d instances, want %d: %+v", len(got), len(want), got)
	}
	for _, in := range got {
		title, _ := in.Event.Props.Text(ical.PropSummary)
		if k := in.Start.UTC().Format("2006-01-02T15:04"); want[k] != title || in.End.Sub(in.Start) != time.Hour || in.AllDay {
			t.Errorf("instance %s %q (%v), not wanted", k, title, in.End.Sub(in.Start))
		}
	}
	day := mustParse(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20260101T000000Z\r\n"+
		"DTSTART;VALUE=DATE:20260610\r\nDTEND;VALUE=DATE:20260612\r\nSUMMARY:Congress\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	if in := calendar.Instances(day.Cal, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)); len(in) != 1 || !in[0].AllDay || in[0].End.Sub(in[0].Start) != 48*time.Hour {
		t.Errorf("all-day event: %+v", in)
	}
	if in := calendar.Instances(day.Cal, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)); len(in) != 0 {
		t.Errorf("all-day event outside the range: %+v", in)
	}
	if in, ok := calendar.FirstInstance(day.Cal, day.Cal.Children[0]); !ok || !in.AllDay || !in.Start.Equal(time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)) || in.End.Sub(in.Start) != 48*time.Hour {
		t.Errorf("first instance of the all-day event: %+v, %v", in, ok)
	}
	if in, ok := calendar.FirstInstance(o.Cal, o.Cal.Children[0]); !ok || in.AllDay || !in.Start.Equal(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("first instance of the series: %+v, %v", in, ok)
	}
}

// TestSingleInstances: each instance of a series carries its
// RECURRENCE-ID (a moved one, the one it replaces); IsInstance accepts
// the series' starts and a changed instance and refuses other times and
// an excluded date; DateLike writes a time in the form of DTSTART (RFC
// 5545 sections 3.8.4.4 and 3.8.5.1).
func TestSingleInstances(t *testing.T) {
	t.Parallel()
	o := mustParse(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"+
		"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Rome:20260601T100000\r\nDTEND;TZID=Europe/Rome:20260601T110000\r\nSUMMARY:Series\r\n"+
		"RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE;TZID=Europe/Rome:20260603T100000\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Rome:20260602T100000\r\nDTSTART:20260602T150000Z\r\nDTEND:20260602T160000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"+
		"END:VCALENDAR\r\n")
	at := func(d, h int) time.Time { return time.Date(2026, 6, d, h, 0, 0, 0, time.UTC) }
	master := o.Cal.Children[0]
	got := map[string]string{}
	for _, in := range calendar.Instances(o.Cal, at(1, 0), at(10, 0)) {
		got[in.RecurrenceID.UTC().Format("02T15")] = in.Start.UTC().Format("02T15")
	}
	want := map[string]string{"01T08": "01T08", "02T08": "02T15", "04T08": "04T08", "05T08": "05T08"}
	if len(got) != len(want) {
		t.Fatalf("instances by RECURRENCE-ID %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("instance %s starts %s, want %s", k, got[k], v)
		}
	}
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{{at(1, 8), true}, {at(2, 8), true}, {at(3, 8), false}, {at(4, 8), true}, {at(4, 9), false}, {at(6, 8), false}, {at(2, 15), false}} {
		if got := calendar.IsInstance(o.Cal, master, tc.t); got != tc.want {
			t.Errorf("IsInstance(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
	if c := calendar.Override(o.Cal, at(2, 8)); c == nil || c == master {
		t.Errorf("no override found for 2 June")
	}
	if p := calendar.DateLike(o.Cal, master, ical.PropRecurrenceID, at(4, 8)); p.Value != "20260604T100000" || p.Params.Get(ical.PropTimezoneID) != "Europe/Rome" {
		t.Errorf("RECURRENCE-ID of a zoned series: %+v", p)
	}
	day := mustParse(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20260101T000000Z\r\n"+
		"DTSTART;VALUE=DATE:20260610\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Founding day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	if p := calendar.DateLike(day.Cal, day.Cal.Children[0], ical.PropExceptionDates, time.Date(2027, 6, 10, 0, 0, 0, 0, time.UTC)); p.Value != "20270610" || p.ValueType() != ical.ValueDate {
		t.Errorf("EXDATE of an all-day series: %+v", p)
	}
	if !calendar.IsInstance(day.Cal, day.Cal.Children[0], time.Date(2030, 6, 10, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a yearly date is not an instance")
	}
}
