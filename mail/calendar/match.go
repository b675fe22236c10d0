package calendar

import (
	"time"

	"github.com/emersion/go-ical"
)

// Overlaps reports whether some instance of the object's components
// overlaps the time range [start, end) (RFC 4791 section 9.9). A zero
// end is no end. When an answer would take more than MaxExpand instances,
// or the stored object cannot be read, it answers true: a time-range
// query may return more than it must, and clients filter.
func Overlaps(cal *ical.Calendar, start, end time.Time) bool {
	tzs := newZones(cal)
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			continue
		}
		if componentOverlaps(c, tzs, start, end) {
			return true
		}
	}
	return false
}

func componentOverlaps(c *ical.Component, tzs *zones, start, end time.Time) bool {
	first, dur, floating, ok, err := firstInstance(c, tzs)
	if err != nil || !ok {
		return true
	}
	if floating {
		start, end = start.Add(-floatSlack), addIfSet(end, floatSlack)
	}
	if c.Props.Get(ical.PropRecurrenceRule) == nil && c.Props.Get(ical.PropRecurrenceDates) == nil {
		return instanceOverlaps(first, dur, start, end)
	}
	set, err := recurrence(c, tzs)
	if err != nil {
		return true
	}
	n := 0
	next := set.Iterator()
	for t, more := next(); more; t, more = next() {
		if !end.IsZero() && !t.Before(end) {
			return false
		}
		if instanceOverlaps(t, dur, start, end) {
			return true
		}
		if n++; n > MaxExpand {
			return true
		}
	}
	return false
}

// instanceOverlaps is the table of RFC 4791 section 9.9 for one
// instance: a span overlaps when it starts before the range ends and
// ends after it starts; an instance of no length, when it starts in it.
func instanceOverlaps(s time.Time, dur time.Duration, start, end time.Time) bool {
	e := s.Add(dur)
	if end.IsZero() {
		end = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if dur == 0 {
		return !s.Before(start) && s.Before(end)
	}
	return s.Before(end) && e.After(start)
}

func addIfSet(t time.Time, d time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(d)
}
