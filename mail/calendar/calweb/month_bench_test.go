package calweb

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

// BenchmarkMonthPage300 is one month page over HTTPS of a member with
// 300 events that month, as a CalDAV client in Rome writes them (each
// DTSTART and DTEND with TZID=Europe/Rome, a VTIMEZONE beside them), 30
// of them weekly series: the page's CPU, which reading the time zone
// once per event instead of once per page made mostly the zone file's
// (cpu-ms/op: the process's user and system CPU, client included).
func BenchmarkMonthPage300(b *testing.B) {
	e := newEnv(b)
	alice := e.member(b, "alice")
	vtz := "BEGIN:VTIMEZONE\r\nTZID:Europe/Rome\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n" +
		"BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
	for i := range 300 {
		day, hour := 1+i%30, 8+i%12
		rule := ""
		if i%10 == 0 {
			rule = "RRULE:FREQ=WEEKLY;COUNT=20\r\n"
		}
		o, err := calendar.Parse(fmt.Appendf(nil, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n%sBEGIN:VEVENT\r\nUID:e%d\r\nDTSTAMP:20260101T000000Z\r\n"+
			"DTSTART;TZID=Europe/Rome:202606%02dT%02d0000\r\nDTEND;TZID=Europe/Rome:202606%02dT%02d3000\r\nSUMMARY:Event %d\r\n%sEND:VEVENT\r\nEND:VCALENDAR\r\n",
			vtz, i, day, hour, day, hour, i, rule))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := e.store.Put(b.Context(), alice.cal(), calendar.PersonalSlug, fmt.Sprintf("e%d.ics", i), o, calendar.Cond{}); err != nil {
			b.Fatal(err)
		}
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		if res := alice.get(b, "/mail/calendar?m=2026-06"); res.code != http.StatusOK {
			b.Fatal(res.code)
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
}
