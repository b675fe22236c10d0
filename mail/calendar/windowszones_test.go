package calendar

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
)

// TestWindowsZones: every zone of the table loads from the system's
// time zone database (a name that is only a link there would not on
// Debian 13 without tzdata-legacy), and Outlook's TZID, with no
// VTIMEZONE, is read as its zone: 19:00 in Berlin's winter is 18:00 UTC.
func TestWindowsZones(t *testing.T) {
	t.Parallel()
	for win, iana := range windowsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("%s: %s: %v", win, iana, err)
		}
	}
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nBEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20261120T101500Z\r\n" +
		"DTSTART;TZID=W. Europe Standard Time:20270107T190000\r\nDTEND;TZID=\"W. Europe Standard Time\":20270107T203000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	o, err := Parse([]byte(ics))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 1, 7, 18, 0, 0, 0, time.UTC); !o.Start.Equal(want) || !o.End.Equal(want.Add(90*time.Minute)) {
		t.Errorf("read as %v – %v, want %v and 90 minutes", o.Start, o.End, want)
	}
	if _, err := Parse([]byte(strings.ReplaceAll(ics, "W. Europe Standard Time", "Nowhere Standard Time"))); err == nil {
		t.Errorf("a Windows-like name that is none is taken")
	}
}

// TestUTCIsIANA: TZID=UTC, both a Windows name and an IANA one, loads
// as it did before the Windows table (review18a: it became Etc/UTC from
// zoneinfo): time.UTC, named UTC, with UTC's instants.
func TestUTCIsIANA(t *testing.T) {
	t.Parallel()
	loc, err := loadLocation("UTC")
	if err != nil || loc != time.UTC {
		t.Errorf("loadLocation(UTC): %v, %v, want time.UTC", loc, err)
	}
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20261120T101500Z\r\n" +
		"DTSTART;TZID=UTC:20270107T190000\r\nDTEND;TZID=UTC:20270107T203000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	o, err := Parse([]byte(ics))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 1, 7, 19, 0, 0, 0, time.UTC); !o.Start.Equal(want) || !o.End.Equal(want.Add(90*time.Minute)) || !o.Simple {
		t.Errorf("read as %v – %v (simple %v), want %v and 90 minutes, not floating", o.Start, o.End, o.Simple, want)
	}
	start, floating, err := newZones(o.Cal).dateTime(o.Cal.Children[0].Props.Get(ical.PropDateTimeStart))
	if err != nil || floating || start.Location() != time.UTC {
		t.Errorf("DTSTART: %v in %q, floating %v, %v; want in time.UTC", start, start.Location(), floating, err)
	}
}
