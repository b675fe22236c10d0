package calweb

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/mail/calendar"
)

// FuzzEventForm: whatever a form carries, reading it never panics, and a
// form it accepts makes an event the store accepts, ending no earlier
// than it starts, that the form shows again with the texts as they were
// typed and the same start and end.
func FuzzEventForm(f *testing.F) {
	f.Add("Canvassing", "Piazza", "Bring leaflets", false, "2026-06-05", "18:00", "2026-06-05", "19:30")
	f.Add("Congress", "", "", true, "2026-06-05", "", "2026-06-06", "")
	f.Add("x\r\nDTSTART:19700101T000000Z", "a;b,c\\", "line\nline", false, "2026-03-29", "02:30", "2026-03-29", "03:30")
	f.Add("", "", "", false, "2026-02-30", "25:00", "x", "")
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, title, place, desc string, allDay bool, sd, st, ed, et string) {
		v := url.Values{"title": {title}, "place": {place}, "description": {desc}, "startdate": {sd}, "starttime": {st}, "enddate": {ed}, "endtime": {et}}
		if allDay {
			v.Set("allday", "1")
		}
		r := httptest.NewRequest("POST", "/mail/calendar/new", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fm, start, end, err := readForm(r, rome)
		if err != nil {
			return
		}
		if end.Before(start) {
			t.Fatalf("accepted an event ending %v before its start %v", end, start)
		}
		ev := ical.NewComponent(ical.CompEvent)
		ev.Props.SetText(ical.PropUID, "fuzz")
		setEvent(ev, fm, start, end, now)
		ic := ical.NewCalendar()
		ic.Props.SetText(ical.PropVersion, "2.0")
		ic.Props.SetText(ical.PropProductID, "-//caucus//calendar//EN")
		ic.Children = append(ic.Children, ev)
		o, err := calendar.Analyse(ic)
		if err != nil {
			t.Fatalf("the store refuses an accepted form: %v", err)
		}
		back, err := calendar.Parse(o.Data)
		if err != nil {
			t.Fatalf("the stored event does not parse again: %v", err)
		}
		got := formOf(back.Cal, master(back.Cal), rome)
		if got.Title != fm.Title || got.Place != fm.Place || got.Description != fm.Description {
			t.Fatalf("texts %q, %q, %q came back as %q, %q, %q", fm.Title, fm.Place, fm.Description, got.Title, got.Place, got.Description)
		}
		// The form shows the event again as the times it was made with.
		gs, ge, err := got.times(rome)
		if err != nil || got.AllDay != fm.AllDay || !gs.Equal(start) || !ge.Equal(end) {
			t.Fatalf("event %v to %v (all day %v) shows as %s %s to %s %s (all day %v): %v",
				start, end, fm.AllDay, got.StartDate, got.StartTime, got.EndDate, got.EndTime, got.AllDay, err)
		}
	})
}
