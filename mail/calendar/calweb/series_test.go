package calweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

// TestSingleInstanceEdit: in a weekly series (Fridays 18:00 in Rome),
// the month links each instance by its RECURRENCE-ID; "this event"
// writes a changed instance beside the series (RFC 5545 section
// 3.8.4.4) that the month shows in its place, the others unchanged;
// editing it again changes that one; "all events" from a later instance
// moves the whole series by as much, keeping its first day.
func TestSingleInstanceEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	alice.putEvent(t, calendar.PersonalSlug, "canvass", "20260605T160000Z", "20260605T170000Z", "RRULE:FREQ=WEEKLY;COUNT=4\r\n")
	month := alice.get(t, "/mail/calendar?m=2026-06")
	inst := "/mail/calendar/event/personal/canvass.ics?r=20260612T160000Z"
	if !strings.Contains(month.body, `href="`+strings.ReplaceAll(inst, "&", "&amp;")+`"`) {
		t.Fatalf("the month does not link the instance of 12 June:\n%s", month.body)
	}
	page := alice.get(t, inst)
	shown := pageForm(t, page.body, "eventform")
	if page.code != http.StatusOK || shown.Get("startdate") != "2026-06-12" || shown.Get("starttime") != "18:00" || shown.Get("instance") != "20260612T160000Z" ||
		!strings.Contains(page.body, `id="savethis"`) || !strings.Contains(page.body, "12 Jun 2026") {
		t.Fatalf("instance page: %d %v\n%s", page.code, shown, page.body)
	}
	alice.edit(t, inst, func(f url.Values) {
		f["title"], f["starttime"], f["endtime"], f["scope"] = []string{"Canvass (moved)"}, []string{"19:00"}, []string{"20:30"}, []string{"this"}
	})
	_, data := alice.stored(t)
	wantLines(t, data, "RECURRENCE-ID:20260612T160000Z", "SUMMARY:Canvass (moved)", "DTSTART;TZID=Europe/Rome:20260612T190000", "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:canvass")
	if strings.Count(data, "RRULE") != 1 || strings.Count(data, "BEGIN:VEVENT") != 2 {
		t.Errorf("the changed instance is not one VEVENT beside the series:\n%s", data)
	}
	month = alice.get(t, "/mail/calendar?m=2026-06")
	if strings.Count(month.body, ">canvass<") != 3 || strings.Count(month.body, ">Canvass (moved)<") != 1 || !strings.Contains(month.body, `<span class="when">19:00</span> <span class="what">Canvass (moved)`) {
		t.Errorf("the month shows the series as:\n%s", month.body)
	}
	// Again: the changed instance is the one changed.
	alice.edit(t, inst, func(f url.Values) {
		if f.Get("title") != "Canvass (moved)" || f.Get("starttime") != "19:00" {
			t.Errorf("the changed instance's page shows %v", f)
		}
		f["place"], f["scope"] = []string{"Pigneto"}, []string{"this"}
	})
	_, data = alice.stored(t)
	if strings.Count(data, "BEGIN:VEVENT") != 2 || !strings.Contains(data, "LOCATION:Pigneto") {
		t.Errorf("second change of the instance:\n%s", data)
	}
	// All events, from the instance of 19 June, an hour earlier.
	alice.edit(t, "/mail/calendar/event/personal/canvass.ics?r=20260619T160000Z", func(f url.Values) {
		f["title"], f["starttime"], f["endtime"], f["scope"] = []string{"Canvass"}, []string{"17:00"}, []string{"18:00"}, []string{"all"}
	})
	_, data = alice.stored(t)
	wantLines(t, data, "DTSTART;TZID=Europe/Rome:20260605T170000", "DTEND;TZID=Europe/Rome:20260605T180000", "SUMMARY:Canvass\r\n", "RRULE:FREQ=WEEKLY;COUNT=4")
	for _, bad := range []string{"?r=20260613T160000Z", "?r=yesterday", "?r=20260703T160000Z"} {
		if res := alice.get(t, "/mail/calendar/event/personal/canvass.ics"+bad); res.code != http.StatusNotFound {
			t.Errorf("instance %s: %d, want 404", bad, res.code)
		}
	}
}

// TestSingleInstanceDelete: "delete this event only" adds an EXDATE in
// the form of DTSTART (RFC 5545 section 3.8.5.1) and takes a changed
// instance away with it; the month no longer shows it; the series'
// last instance cannot be deleted alone; "all events" deletes the
// series.
func TestSingleInstanceDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:rally\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART;VALUE=DATE:20260605\r\nDTEND;VALUE=DATE:20260606\r\nSUMMARY:rally\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Put(t.Context(), alice.cal(), calendar.PersonalSlug, "rally.ics", o, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	r, _ := alice.stored(t)
	del := func(rid, scope, etag string) response {
		return alice.post(t, "/mail/calendar/event/personal/rally.ics/delete", url.Values{"etag": {etag}, "instance": {rid}, "scope": {scope}})
	}
	if res := del("20260606T000000Z", "this", "\"stale\""); res.code != http.StatusConflict {
		t.Errorf("stale delete of one instance: %d", res.code)
	}
	if res := del("20260606T000000Z", "this", r.ETag); res.code != http.StatusSeeOther || res.loc != "/mail/calendar?m=2026-06&n=deleted" {
		t.Fatalf("delete one: %d %q\n%s", res.code, res.loc, res.body)
	}
	r, data := alice.stored(t)
	wantLines(t, data, "EXDATE;VALUE=DATE:20260606")
	if month := alice.get(t, "/mail/calendar?m=2026-06"); strings.Count(month.body, ">rally<") != 2 || strings.Contains(month.body, "rally.ics?r=20260606T000000Z") {
		t.Errorf("the month after deleting 6 June:\n%s", month.body)
	}
	// A changed instance, deleted alone, goes with its changes.
	alice.edit(t, "/mail/calendar/event/personal/rally.ics?r=20260607T000000Z", func(f url.Values) {
		f["title"], f["scope"] = []string{"Rally (last day)"}, []string{"this"}
	})
	r, _ = alice.stored(t)
	if res := del("20260607T000000Z", "this", r.ETag); res.code != http.StatusSeeOther {
		t.Fatalf("delete the changed one: %d\n%s", res.code, res.body)
	}
	r, data = alice.stored(t)
	wantLines(t, data, "EXDATE;VALUE=DATE:20260606", "EXDATE;VALUE=DATE:20260607")
	wantNo(t, data, "RECURRENCE-ID", "Rally (last day)")
	if res := del("20260605T000000Z", "this", r.ETag); res.code != http.StatusBadRequest || !strings.Contains(res.body, "only event left") {
		t.Errorf("delete the last one alone: %d", res.code)
	}
	if res := del("20260605T000000Z", "all", r.ETag); res.code != http.StatusSeeOther {
		t.Fatalf("delete all: %d", res.code)
	}
	if rs, _ := e.store.List(t.Context(), alice.cal(), calendar.PersonalSlug); len(rs) != 0 {
		t.Errorf("the series is still stored")
	}
}
