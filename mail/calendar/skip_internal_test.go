package calendar

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
)

// instances lists a component's instances in [from, to), expanded from
// its start (skip false) or with skipAhead (skip true).
func instances(t *testing.T, c *ical.Component, tzs *zones, from, to time.Time, skip bool) []time.Time {
	t.Helper()
	var at time.Time
	if skip {
		at = from
	}
	set, err := recurrence(c, tzs, at)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	next := set.Iterator()
	for i, more := next(); more && i.Before(to); i, more = next() {
		if !i.Before(from) {
			out = append(out, i)
		}
	}
	return out
}

// TestSkipAheadKeepsInstances compares, for rules that skipAhead moves,
// the instances in windows far from the start with and without the move:
// they must be the same.
func TestSkipAheadKeepsInstances(t *testing.T) {
	t.Parallel()
	rules := []string{
		"FREQ=DAILY", "FREQ=DAILY;INTERVAL=3", "FREQ=DAILY;BYDAY=MO,WE,FR", "FREQ=DAILY;INTERVAL=2;BYMONTH=2,3",
		"FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", "FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,SA",
		"FREQ=DAILY;UNTIL=20300101T000000Z", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,17", "FREQ=DAILY;BYMONTHDAY=1,15,31",
	}
	starts := []string{"DTSTART:20100104T093000Z", "DTSTART;TZID=Europe/Berlin:20150329T013000", "DTSTART;TZID=America/New_York:20191103T013000"}
	for _, r := range rules {
		for _, st := range starts {
			data := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\n" + st + "\r\nRRULE:" + r + "\r\nEXDATE:20260302T093000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
			o, err := Parse([]byte(data))
			if err != nil {
				t.Fatalf("%s %s: %v", r, st, err)
			}
			c := o.Cal.Children[0]
			tzs := newZones(o.Cal)
			for _, w := range []string{"2010-01-05", "2012-06-30", "2026-03-01", "2026-10-25", "2029-12-25"} {
				from, _ := time.Parse(time.DateOnly, w)
				to := from.AddDate(0, 0, 40)
				a, b := instances(t, c, tzs, from, to, false), instances(t, c, tzs, from, to, true)
				if !slices.EqualFunc(a, b, time.Time.Equal) {
					t.Errorf("%s %s from %s: %d instances, %d after the skip\n%v\n%v", r, strings.TrimPrefix(st, "DTSTART"), w, len(a), len(b), fmt.Sprint(a), fmt.Sprint(b))
				}
			}
		}
	}
}
