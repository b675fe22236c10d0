package calendar

import (
	"strings"
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
	set, err := recurrence(c, tzs, start.Add(-dur))
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

// Period is a span of busy time.
type Period struct{ Start, End time.Time }

// Busy returns the busy time of an object in [start, end) (RFC 4791
// section 7.10): its events' instances, clipped to the range, but for
// events marked TRANSP:TRANSPARENT or STATUS:CANCELLED; floating times
// are read as UTC. At most MaxExpand instances of a component are
// computed.
func Busy(cal *ical.Calendar, start, end time.Time) []Period {
	tzs := newZones(cal)
	var out []Period
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent || propIs(c, ical.PropTransparency, "TRANSPARENT") || propIs(c, ical.PropStatus, "CANCELLED") {
			continue
		}
		first, dur, _, ok, err := firstInstance(c, tzs)
		if err != nil || !ok || dur <= 0 {
			continue
		}
		add := func(s time.Time) {
			if instanceOverlaps(s, dur, start, end) {
				out = append(out, Period{Start: maxTime(s, start), End: minTime(s.Add(dur), end)})
			}
		}
		if c.Props.Get(ical.PropRecurrenceRule) == nil && c.Props.Get(ical.PropRecurrenceDates) == nil {
			add(first)
			continue
		}
		set, err := recurrence(c, tzs, start.Add(-dur))
		if err != nil {
			continue
		}
		n := 0
		next := set.Iterator()
		for t, more := next(); more && t.Before(end) && n < MaxExpand; t, more = next() {
			add(t)
			n++
		}
	}
	return out
}

func propIs(c *ical.Component, name, value string) bool {
	p := c.Props.Get(name)
	return p != nil && strings.EqualFold(strings.TrimSpace(p.Value), value)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
