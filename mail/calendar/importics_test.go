package calendar_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

// googleExport is a calendar as Google Calendar exports it (Takeout): one
// VCALENDAR with a METHOD, a time zone, a weekly series with one moved
// instance (the same UID) and a single event.
const googleExport = "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n" +
	"X-WR-CALNAME:Campaign 2027\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Rome\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Rome:20270104T180000\r\nDTEND;TZID=Europe/Rome:20270104T190000\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nDTSTAMP:20261201T000000Z\r\nUID:canvass@google.com\r\nSUMMARY:Canvassing\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Rome:20270112T180000\r\nDTEND;TZID=Europe/Rome:20270112T190000\r\nRECURRENCE-ID;TZID=Europe/Rome:20270111T180000\r\nDTSTAMP:20261201T000000Z\r\nUID:canvass@google.com\r\nSUMMARY:Canvassing (moved)\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\nDTSTAMP:20261201T000000Z\r\nUID:debate@google.com\r\nSUMMARY:Debate\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// TestImportICS: a Google export becomes a new calendar of the member,
// named as it was, one resource per UID (the moved instance with its
// series), found by time range; a second import of the same name gets
// its own calendar; a file with a refused event imports nothing.
func TestImportICS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	slug, n, err := e.store.ImportICS(ctx, anna, "Campaign 2027", []byte(googleExport))
	if err != nil || slug != "campaign-2027" || n != 2 {
		t.Fatalf("ImportICS = %q, %d, %v; want campaign-2027, 2", slug, n, err)
	}
	c, err := e.store.Calendar(ctx, anna, slug)
	if err != nil || c.Name != "Campaign 2027" {
		t.Fatalf("calendar %+v %v", c, err)
	}
	rs, err := e.store.List(ctx, anna, slug)
	if err != nil || len(rs) != 2 {
		t.Fatalf("List = %d, %v", len(rs), err)
	}
	for _, r := range rs {
		if strings.Contains(string(r.Data), "METHOD:") {
			t.Errorf("a stored object kept the export's METHOD:\n%s", r.Data)
		}
	}
	slug2, _, err := e.store.ImportICS(ctx, anna, "Campaign 2027", []byte(googleExport))
	if err != nil || slug2 != "campaign-2027-2" {
		t.Errorf("second import = %q, %v", slug2, err)
	}
	bad := strings.Replace(googleExport, "UID:debate@google.com\r\n", "", 1)
	before, _ := e.store.Calendars(ctx, anna)
	if _, _, err := e.store.ImportICS(ctx, anna, "Broken", []byte(bad)); !errors.Is(err, calendar.ErrInvalid) {
		t.Errorf("an event without UID: %v, want ErrInvalid", err)
	}
	if after, _ := e.store.Calendars(ctx, anna); len(after) != len(before) {
		t.Errorf("a refused import left a calendar: %d calendars, had %d", len(after), len(before))
	}
}

// TestGroupReadOnlyState: GroupReadOnly says what SetGroupReadOnly set;
// a group whose calendar was never made is writable.
func TestGroupReadOnlyState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if err := e.Auth.CreateGroup(ctx, "", "press"); err != nil {
		t.Fatal(err)
	}
	gs, err := e.Auth.Groups(ctx)
	if err != nil || len(gs) != 1 {
		t.Fatal(gs, err)
	}
	if ro, err := e.store.GroupReadOnly(ctx, gs[0].ID); err != nil || ro {
		t.Errorf("a new group: %v %v", ro, err)
	}
	for _, want := range []bool{true, false} {
		if err := e.store.SetGroupReadOnly(ctx, "admin", gs[0], want); err != nil {
			t.Fatal(err)
		}
		if ro, err := e.store.GroupReadOnly(ctx, gs[0].ID); err != nil || ro != want {
			t.Errorf("after setting %v: %v %v", want, ro, err)
		}
	}
}

// TestImportICSDeep: a file of nothing but BEGIN lines, within
// MaxImportBytes (and a zip in a Takeout archive makes 63 MB of it from a
// few hundred kB), is refused as invalid. Before, go-ical's decoder
// recursed once per line until the goroutine's stack passed its 1 GB
// limit, which ends the whole process: no recover catches it.
func TestImportICSDeep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := append([]byte("BEGIN:VCALENDAR\r\n"), bytes.Repeat([]byte("BEGIN:X\r\n"), (calendar.MaxImportBytes-64)/9)...)
	if _, _, err := e.store.ImportICS(t.Context(), e.member(t, "anna"), "Deep", data); !errors.Is(err, calendar.ErrInvalid) {
		t.Fatalf("ImportICS of %d nested components: %v, want ErrInvalid", bytes.Count(data, []byte("BEGIN")), err)
	}
}
