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
	return (*ZoneCache)(nil).Overlaps(cal, start, end)
}

// Overlaps is [Overlaps], its time zones read through zc.
func (zc *ZoneCache) Overlaps(cal *ical.Calendar, start, end time.Time) bool {
	tzs := zc.zones(cal)
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
	return (*ZoneCache)(nil).Busy(cal, start, end)
}

// Busy is [Busy], its time zones read through zc.
func (zc *ZoneCache) Busy(cal *ical.Calendar, start, end time.Time) []Period {
	tzs := zc.zones(cal)
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

// Instance is one occurrence of an event, for a page that shows a range
// of days.
type Instance struct {
	Event      *ical.Component // the VEVENT (the override, for a changed instance)
	Start, End time.Time
	// AllDay: DTSTART is a DATE (RFC 5545 section 3.3.4); Floating: a
	// local time without zone (section 3.3.5). Both are read as UTC: the
	// caller reads their wall clock in the zone it shows.
	AllDay, Floating bool
	// RecurrenceID names the instance within its series (RFC 5545
	// section 3.8.4.4): the start the recurrence set gives it, or the
	// RECURRENCE-ID of a changed instance; zero for an event that does
	// not recur.
	RecurrenceID time.Time
}

// Instances returns the instances of an object's events that overlap
// [start, end) (a zero end is no end), at most MaxExpand of each
// component, in no particular order. An instance changed by a component
// with a RECURRENCE-ID (RFC 5545 section 3.8.4.4) is given as changed.
// Components that cannot be read are left out.
func Instances(cal *ical.Calendar, start, end time.Time) []Instance {
	return (*ZoneCache)(nil).Instances(cal, start, end)
}

// Instances is [Instances], its time zones read through zc.
func (zc *ZoneCache) Instances(cal *ical.Calendar, start, end time.Time) []Instance {
	tzs := zc.zones(cal)
	overridden := map[int64]bool{}
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent || c.Props.Get(ical.PropRecurrenceID) == nil {
			continue
		}
		if t, _, err := tzs.dateTime(c.Props.Get(ical.PropRecurrenceID)); err == nil {
			overridden[t.Unix()] = true
		}
	}
	var out []Instance
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		first, dur, floating, ok, err := firstInstance(c, tzs)
		if err != nil || !ok {
			continue
		}
		in := Instance{Event: c, Floating: floating, AllDay: c.Props.Get(ical.PropDateTimeStart).ValueType() == ical.ValueDate || len(c.Props.Get(ical.PropDateTimeStart).Value) == len("20060102")}
		s, e := start, end
		if floating {
			s, e = s.Add(-floatSlack), addIfSet(e, floatSlack)
		}
		add := func(t, rid time.Time) {
			if instanceOverlaps(t, dur, s, e) {
				in.Start, in.End, in.RecurrenceID = t, t.Add(dur), rid
				out = append(out, in)
			}
		}
		if rp := c.Props.Get(ical.PropRecurrenceID); rp != nil {
			rid, _, _ := tzs.dateTime(rp)
			add(first, rid)
			continue
		}
		if c.Props.Get(ical.PropRecurrenceRule) == nil && c.Props.Get(ical.PropRecurrenceDates) == nil {
			add(first, time.Time{})
			continue
		}
		set, err := recurrence(c, tzs, s.Add(-dur))
		if err != nil {
			continue
		}
		n := 0
		next := set.Iterator()
		for t, more := next(); more && (e.IsZero() || t.Before(e)) && n < MaxExpand; t, more = next() {
			if !overridden[t.Unix()] {
				add(t, t)
			}
			n++
		}
	}
	return out
}

// FirstInstance returns the first instance of event ev (its DTSTART and
// length, RFC 5545 section 3.6.1), in calendar cal for its time zones;
// false if it has no start or cannot be read.
func FirstInstance(cal *ical.Calendar, ev *ical.Component) (Instance, bool) {
	first, dur, floating, ok, err := firstInstance(ev, newZones(cal))
	if err != nil || !ok {
		return Instance{}, false
	}
	sp := ev.Props.Get(ical.PropDateTimeStart)
	allDay := sp != nil && (sp.ValueType() == ical.ValueDate || len(sp.Value) == len("20060102"))
	return Instance{Event: ev, Start: first, End: first.Add(dur), AllDay: allDay, Floating: floating}, true
}
