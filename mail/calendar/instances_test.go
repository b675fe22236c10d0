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
