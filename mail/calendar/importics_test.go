package calendar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	im, err := e.store.ImportICS(ctx, anna, "Campaign 2027", []byte(googleExport))
	if err != nil || im.Slug != "campaign-2027" || im.Objects != 2 || im.Name != "Campaign 2027" {
		t.Fatalf("ImportICS = %+v, %v; want campaign-2027, 2", im, err)
	}
	slug := im.Slug
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
	im2, err := e.store.ImportICS(ctx, anna, "Campaign 2027", []byte(googleExport))
	if err != nil || im2.Slug != "campaign-2027-2" {
		t.Errorf("second import = %+v, %v", im2, err)
	}
	bad := strings.Replace(googleExport, "UID:debate@google.com\r\n", "", 1)
	before, _ := e.store.Calendars(ctx, anna)
	if _, err := e.store.ImportICS(ctx, anna, "Broken", []byte(bad)); !errors.Is(err, calendar.ErrInvalid) {
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
	if _, err := e.store.ImportICS(t.Context(), e.member(t, "anna"), "Deep", data); !errors.Is(err, calendar.ErrInvalid) {
		t.Fatalf("ImportICS of %d nested components: %v, want ErrInvalid", bytes.Count(data, []byte("BEGIN")), err)
	}
}

// boardExport is a second calendar as Outlook exports it, with a time
// zone of its own, an event of its own and the debate of googleExport
// (the same UID and content: an invitation both calendars hold).
const boardExport = "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Board\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nDTSTART;TZID=W. Europe Standard Time:20270201T180000\r\nDTEND;TZID=W. Europe Standard Time:20270201T200000\r\nDTSTAMP:20261201T000000Z\r\nUID:board@outlook\r\nSUMMARY:Board meeting\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\nDTSTAMP:20261201T000000Z\r\nUID:debate@google.com\r\nSUMMARY:Debate\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// TestImportICSSeveral: a file of two calendars one after the other (two
// exports joined) imports the events of both into one calendar, named by
// the first's X-WR-CALNAME; the event both hold comes in once; each
// object keeps its own calendar's time zones. A UID the two hold with
// different content is refused with its UID; so is a file of more than
// MaxImportCalendars calendars, and a component at the top that is no
// calendar. Before, the decoder's one-calendar rule (right for a CalDAV
// PUT) refused every such file.
func TestImportICSSeveral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	im, err := e.store.ImportICS(ctx, anna, "joined", []byte(googleExport+"\r\n"+boardExport))
	if err != nil || im.Objects != 3 || im.Name != "Campaign 2027" {
		t.Fatalf("ImportICS of two calendars = %+v, %v; want 3 objects in Campaign 2027", im, err)
	}
	rs, err := e.store.List(ctx, anna, im.Slug)
	if err != nil || len(rs) != 3 {
		t.Fatalf("List = %d, %v", len(rs), err)
	}
	for _, r := range rs {
		board := strings.Contains(string(r.Data), "UID:board@outlook")
		if board != strings.Contains(string(r.Data), "W. Europe Standard Time") || board == strings.Contains(string(r.Data), "Europe/Rome") {
			t.Errorf("an object with another calendar's time zones:\n%s", r.Data)
		}
	}
	if im.Start.IsZero() || !im.End.IsZero() && !im.End.After(im.Start) {
		t.Errorf("span %v – %v", im.Start, im.End)
	}

	before, _ := e.store.Calendars(ctx, anna)
	other := strings.Replace(boardExport, "SUMMARY:Debate", "SUMMARY:Debate (moved)", 1)
	_, err = e.store.ImportICS(ctx, anna, "joined", []byte(googleExport+other))
	var ie *calendar.ImportError
	if !errors.Is(err, calendar.ErrDuplicate) || !errors.As(err, &ie) || ie.UID != "debate@google.com" || !strings.Contains(err.Error(), "debate@google.com") {
		t.Errorf("one UID, two contents: %v; want ErrDuplicate naming debate@google.com", err)
	}
	empty := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n"
	for name, data := range map[string]string{
		"too many calendars":       strings.Repeat(empty, calendar.MaxImportCalendars+1),
		"an event after the first": googleExport + "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20270301T090000Z\r\nEND:VEVENT\r\n",
		"garbage between":          googleExport + "garbage\r\n" + boardExport,
		"the second cut off":       googleExport + boardExport[:200],
	} {
		if _, err := e.store.ImportICS(ctx, anna, name, []byte(data)); !errors.Is(err, calendar.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if after, _ := e.store.Calendars(ctx, anna); len(after) != len(before) {
		t.Errorf("a refused import left a calendar: %d calendars, had %d", len(after), len(before))
	}
	if _, err := e.store.ImportICS(ctx, anna, "many", []byte(strings.Repeat(empty, calendar.MaxImportCalendars))); err != nil {
		t.Errorf("%d calendars: %v", calendar.MaxImportCalendars, err)
	}
}

// TestImportICSRefusals: a refused event is named (by UID, or by SUMMARY
// when it has no UID) and its kind of fault is one a page can say in a
// person's words.
func TestImportICSRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	ev := func(uid, props string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n" + uid + "DTSTAMP:20261201T000000Z\r\nSUMMARY:Rally\r\n" + props + "END:VEVENT\r\nEND:VCALENDAR\r\n"
	}
	for _, c := range []struct {
		name, data string
		uid        string
		kind       error
	}{
		{"no UID", ev("", "DTSTART:20270301T090000Z\r\n"), "", calendar.ErrNoUID},
		{"unknown time zone", ev("UID:a\r\n", "DTSTART;TZID=Mars/Olympus:20270301T090000\r\n"), "a", calendar.ErrTimeZone},
		{"ends before it starts", ev("UID:a\r\n", "DTSTART:20270301T090000Z\r\nDTEND:20270301T080000Z\r\n"), "a", calendar.ErrDate},
		{"bad date", ev("UID:a\r\n", "DTSTART:2027-03-01\r\n"), "a", calendar.ErrDate},
		{"bad rule", ev("UID:a\r\n", "DTSTART:20270301T090000Z\r\nRRULE:FREQ=OFTEN\r\n"), "a", calendar.ErrRecurrence},
		{"too dense", ev("UID:a\r\n", "DTSTART:20270301T090000Z\r\nRRULE:FREQ=HOURLY\r\n"), "a", calendar.ErrMaxInstances},
		{"too large", ev("UID:a\r\n", "DTSTART:20270301T090000Z\r\nDESCRIPTION:"+strings.Repeat("a", calendar.MaxObjectSize)+"\r\n"), "a", calendar.ErrTooLarge},
	} {
		_, err := e.store.ImportICS(t.Context(), anna, c.name, []byte(c.data))
		var ie *calendar.ImportError
		if !errors.Is(err, c.kind) || !errors.As(err, &ie) || ie.UID != c.uid || ie.Summary != "Rally" {
			t.Errorf("%s: %v (%+v), want %v naming UID %q, SUMMARY Rally", c.name, err, ie, c.kind, c.uid)
		}
	}
}

// TestImportICSName: the file's X-WR-CALNAME names the calendar, before
// the name given; a name too long for a calendar is cut, control
// characters become spaces; a file with neither gets its slug.
func TestImportICSName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	noName := strings.Replace(googleExport, "X-WR-CALNAME:Campaign 2027\r\n", "", 1)
	long := strings.Repeat("é", calendar.MaxNameBytes)
	for _, c := range []struct{ given, data, want string }{
		{"export", googleExport, "Campaign 2027"},
		{"Canvass rota", noName, "Canvass rota"},
		{long, noName, strings.Repeat("é", calendar.MaxNameBytes/2)},
		{"a\x07b", noName, "a b"},
		{"", noName, "import"},
	} {
		im, err := e.store.ImportICS(t.Context(), anna, c.given, []byte(c.data))
		if err != nil || !strings.HasPrefix(im.Name, c.want) {
			t.Errorf("given %q: %+v, %v; want named %q", c.given, im, err, c.want)
		}
		if got, err := e.store.Calendar(t.Context(), anna, im.Slug); err != nil || got.Name != im.Name {
			t.Errorf("given %q: stored %+v, %v", c.given, got, err)
		}
	}
}

// TestImportICSTooMany: a file of more UIDs than a calendar holds
// (MaxObjectsPerCalendar) is refused before a calendar is made. Before,
// the calendar was made and the import's transaction then refused the
// objects (ErrFull), leaving the member an empty calendar.
func TestImportICSTooMany(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n")
	for i := range calendar.MaxObjectsPerCalendar + 1 {
		fmt.Fprintf(&b, "BEGIN:VTODO\r\nUID:%d\r\nDTSTAMP:20260101T000000Z\r\nEND:VTODO\r\n", i)
	}
	b.WriteString("END:VCALENDAR\r\n")
	before, _ := e.store.Calendars(t.Context(), anna)
	if _, err := e.store.ImportICS(t.Context(), anna, "many", []byte(b.String())); !errors.Is(err, calendar.ErrTooMany) || !errors.Is(err, calendar.ErrTooLarge) {
		t.Errorf("%d to-dos: %v, want ErrTooMany", calendar.MaxObjectsPerCalendar+1, err)
	}
	if after, _ := e.store.Calendars(t.Context(), anna); len(after) != len(before) {
		t.Errorf("a refused import left a calendar: %d calendars, had %d", len(after), len(before))
	}
}

// TestImportICSCancelled: an import whose request ends (the member closed
// the page: its context is cancelled) after its calendar was made and
// before its objects were stored leaves no calendar: all or nothing.
// Before, the member was left an empty calendar.
//
// The request has ended before the import begins: the calendar is made
// all the same (under context.WithoutCancel), and the storing of the
// objects is what the end stops. That the import did make a calendar,
// and took it away, shows in the calendars' ids (AUTOINCREMENT and
// PostgreSQL's sequences never give an id twice): the next one made
// skips the import's. (The test once cancelled at the store's second
// reading of its clock, and so depended on how often the store reads
// it.)
func TestImportICSCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	before, err := e.store.Calendars(t.Context(), anna)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.store.ImportICS(ctx, anna, "Campaign 2027", []byte(googleExport)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ImportICS with the request ended: %v, want context.Canceled", err)
	}
	if after, _ := e.store.Calendars(t.Context(), anna); len(after) != len(before) {
		t.Errorf("an import cut off left a calendar: %+v, had %d", after, len(before))
	}
	next, err := e.store.CreateCalendar(t.Context(), anna, "probe", "Probe")
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, c := range before {
		last = max(last, c.ID)
	}
	if next.ID <= last+1 {
		t.Errorf("the next calendar has id %d, the last before the import %d: the import made none, and the test does not reach the import's undoing", next.ID, last)
	}
}

// TestImportICSUIDSpellings: two events whose UIDs read as one text
// ("evt,1" and "evt,2": an unescaped comma ends a TEXT value as go-ical
// reads it) are one object, or the import is
// refused with a reason; never two objects of one UID, which the store
// refused as a conflict after the calendar was made (a 500 on the
// calendar page). (review17b)
func TestImportICSUIDSpellings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	ev := func(uid, summary string) string {
		return "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\nSUMMARY:" + summary + "\r\nEND:VEVENT\r\n"
	}
	file := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + ev("evt,1", "first") + ev("evt,2", "second") + "END:VCALENDAR\r\n"
	before, _ := e.store.Calendars(ctx, anna)
	im, err := e.store.ImportICS(ctx, anna, "uids", []byte(file))
	var ie *calendar.ImportError
	if err != nil && !errors.As(err, &ie) {
		t.Fatalf("ImportICS = %v; want an import, or a refusal naming the event", err)
	}
	if err == nil && im.Objects != 1 {
		t.Errorf("imported %d objects; want 1 (one UID)", im.Objects)
	}
	if after, _ := e.store.Calendars(ctx, anna); err != nil && len(after) != len(before) {
		t.Errorf("a refused import left a calendar: %d calendars, %d before", len(after), len(before))
	}
}

// TestImportICSTooManyComponents: a file of more components than an
// import decodes is refused as too many before any is decoded, with no
// calendar made. (review17b: a 64 MiB file of the smallest components,
// decoded, took hundreds of MB.)
func TestImportICSTooManyComponents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n")
	for range calendar.MaxImportComponents + 1 {
		b.WriteString("BEGIN:X\r\nEND:X\r\n")
	}
	b.WriteString("END:VCALENDAR\r\n")
	before, _ := e.store.Calendars(ctx, anna)
	if _, err := e.store.ImportICS(ctx, anna, "many", []byte(b.String())); !errors.Is(err, calendar.ErrTooMany) {
		t.Errorf("ImportICS of %d components = %v; want ErrTooMany", calendar.MaxImportComponents+1, err)
	}
	if after, _ := e.store.Calendars(ctx, anna); len(after) != len(before) {
		t.Errorf("%d calendars, %d before", len(after), len(before))
	}
}
