package server

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// TestTakeoutCalendarsAndContacts: a Takeout archive's calendar (as
// Google exports it: one file, METHOD:PUBLISH, a series with a moved
// instance) becomes a calendar of the member under its name, and its
// address book (no UIDs, as Google exports them) joins the member's own
// book, in the running server.
func TestTakeoutCalendarsAndContacts(t *testing.T) {
	t.Parallel()
	srv, _ := startDev(t, t.TempDir())
	defer srv.Shutdown(t.Context())
	ctx := t.Context()
	id, _ := enrolWithAppPassword(t, srv, "anna@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeMail)
	zpath := filepath.Join(t.TempDir(), "takeout-20261206T000000Z-001.zip")
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, data := range map[string]string{
		"Takeout/Calendar/Campaign 2027.ics":             googleCalendarExport,
		"Takeout/Calendar/Broken.ics":                    strings.Replace(googleCalendarExport, "UID:debate@google.com\r\n", "", 1),
		"Takeout/Contacts/All Contacts/All Contacts.vcf": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Press Office\r\nN:;Press Office;;;\r\nEMAIL;TYPE=INTERNET:press@paper.example\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Maria Bianchi\r\nN:Bianchi;Maria;;;\r\nEND:VCARD\r\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	job, err := srv.imports.Start(ctx, mailimport.Request{AccountID: id, Actor: "admin@localhost", Subject: "anna@localhost",
		Source: mailimport.SourceSpec{Kind: mailimport.KindTakeout, Paths: []string{zpath}}})
	if err != nil {
		t.Fatal(err)
	}
	var cals, cards int
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		srv.db.QueryRowContext(ctx, `SELECT count(*) FROM calendar_objects o JOIN calendar_calendars c ON c.id = o.calendar_id WHERE c.owner_id = ? AND c.name = 'Campaign 2027'`, id).Scan(&cals)
		srv.db.QueryRowContext(ctx, `SELECT count(*) FROM contacts_cards`).Scan(&cards)
		if cals == 2 && cards == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the import: %d events in Campaign 2027 (want 2), %d cards (want 2)", cals, cards)
		}
	}
	// The calendar the store refuses (an event without UID) is reported
	// as not imported, with the store's reason, not left waiting.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		rep, err := srv.imports.Report(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Job.State == mailimport.StateDone {
			if len(rep.EntryProblems) != 1 || !strings.Contains(rep.EntryProblems[0].Name, "Broken.ics") || !strings.Contains(rep.EntryProblems[0].Reason, "UID") || rep.CalendarsWaiting != 0 {
				t.Errorf("report: problems %+v, %d calendars waiting", rep.EntryProblems, rep.CalendarsWaiting)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s", rep.Job.State)
		}
	}
}

// googleCalendarExport is a calendar as Google Calendar exports it.
const googleCalendarExport = "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n" +
	"X-WR-CALNAME:Campaign 2027\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270104T170000Z\r\nDTEND:20270104T180000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nDTSTAMP:20261201T000000Z\r\nUID:canvass@google.com\r\nSUMMARY:Canvassing\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270112T170000Z\r\nDTEND:20270112T180000Z\r\nRECURRENCE-ID:20270111T170000Z\r\nDTSTAMP:20261201T000000Z\r\nUID:canvass@google.com\r\nSUMMARY:Canvassing (moved)\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\nDTSTAMP:20261201T000000Z\r\nUID:debate@google.com\r\nSUMMARY:Debate\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"
