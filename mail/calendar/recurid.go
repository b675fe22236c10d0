package calendar

import (
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// Single instances of a recurring event (RFC 5545 section 3.8.4.4): an
// instance is named by its RECURRENCE-ID, the start the recurrence set
// gives it; a changed instance is a VEVENT of the same UID carrying that
// RECURRENCE-ID, a removed one an EXDATE of the series (section 3.8.5.1).
// Times here are compared as instants; floating times and dates are read
// as UTC, as everywhere in this package.

// Override returns the component of cal that changes the instance rid
// (its RECURRENCE-ID is rid), or nil.
func Override(cal *ical.Calendar, rid time.Time) *ical.Component {
	tzs := newZones(cal)
	for _, c := range cal.Children {
		p := c.Props.Get(ical.PropRecurrenceID)
		if c.Name != ical.CompEvent || p == nil {
			continue
		}
		if t, _, err := tzs.dateTime(p); err == nil && t.Equal(rid) {
			return c
		}
	}
	return nil
}

// IsInstance reports whether rid is an instance of the series master of
// cal: a start its recurrence set gives (EXDATEs taken out), or the
// RECURRENCE-ID of a changed instance.
func IsInstance(cal *ical.Calendar, master *ical.Component, rid time.Time) bool {
	if Override(cal, rid) != nil {
		return true
	}
	if master.Props.Get(ical.PropRecurrenceRule) == nil && master.Props.Get(ical.PropRecurrenceDates) == nil {
		return false
	}
	set, err := recurrence(master, newZones(cal), rid.Add(-time.Second))
	if err != nil {
		return false
	}
	n := 0
	next := set.Iterator()
	for t, more := next(); more && !t.After(rid) && n < MaxExpand; t, more = next() {
		if t.Equal(rid) {
			return true
		}
		n++
	}
	return false
}

// DateLike returns a property name (RECURRENCE-ID, EXDATE) holding time
// t in the form of master's DTSTART, as RFC 5545 sections 3.8.4.4 and
// 3.8.5.1 ask: a DATE for an all-day series, a local time with the same
// TZID, UTC, or a floating time.
func DateLike(cal *ical.Calendar, master *ical.Component, name string, t time.Time) *ical.Prop {
	p := ical.NewProp(name)
	sp := master.Props.Get(ical.PropDateTimeStart)
	switch {
	case sp == nil:
		p.SetDateTime(t.UTC())
	case sp.ValueType() == ical.ValueDate || len(sp.Value) == len("20060102"):
		p.SetDate(t.UTC())
	case strings.HasSuffix(sp.Value, "Z"):
		p.SetDateTime(t.UTC())
	case sp.Params.Get(ical.PropTimezoneID) != "":
		tzid := sp.Params.Get(ical.PropTimezoneID)
		loc, err := newZones(cal).location(tzid)
		if err != nil || loc == nil {
			// A zone only the object defines: its wall clock, as read.
			loc = time.UTC
		}
		p.Value = t.In(loc).Format("20060102T150405")
		p.Params.Set(ical.PropTimezoneID, tzid)
	default: // floating
		p.Value = t.UTC().Format("20060102T150405")
	}
	return p
}
