package admin

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed
)

// TestLastDayMidnightSkipped: in a zone whose clocks skip midnight (a DST
// change at 00:00) or repeat it, access ends at the first instant of the
// day after the last day, and the last day shown is the one given.
// Asia/Beirut moved from 00:00 EET to 01:00 EEST on 31 March 2019: the last
// day 2019-03-31 was read as ending at 01:00 on 1 April and shown as
// 2019-04-01. America/Santiago went from 00:00 -04 to 01:00 -03 on
// 8 September 2024, Africa/Algiers back from 01:00 to 00:00 WET on
// 19 November 1939.
func TestLastDayMidnightSkipped(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		zone, last, ends string // ends in RFC 3339
	}{
		{"Europe/Berlin", "2026-06-30", "2026-07-01T00:00:00+02:00"},
		{"Asia/Beirut", "2019-03-30", "2019-03-31T01:00:00+03:00"},
		{"Asia/Beirut", "2019-03-31", "2019-04-01T00:00:00+03:00"},
		{"America/Santiago", "2024-09-07", "2024-09-08T01:00:00-03:00"},
		{"America/Santiago", "2024-09-08", "2024-09-09T00:00:00-03:00"},
		{"Africa/Algiers", "1939-11-18", "1939-11-19T00:00:00+01:00"},
		// Samoa skipped 30 December 2011: the day after the 29th began
		// on the 31st.
		{"Pacific/Apia", "2011-12-29", "2011-12-31T00:00:00+14:00"},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		want, err := time.Parse(time.RFC3339, c.ends)
		if err != nil {
			t.Fatal(err)
		}
		ends, err := parseLastDay(c.last, loc)
		if err != nil || !ends.Equal(want) {
			t.Errorf("%s: last day %s ends at %v (%v), want %v", c.zone, c.last, ends.In(loc), err, want.In(loc))
		}
		if got := lastDay(ends, loc).Format(time.DateOnly); got != c.last {
			t.Errorf("%s: last day %s shown as %s", c.zone, c.last, got)
		}
	}
}

// FuzzParseLastDay: a last day read in any of some zones with odd
// histories ends at the first instant of a later date: the second before
// it is still on the last day or before (before only when the zone
// skipped the whole day).
func FuzzParseLastDay(f *testing.F) {
	zones := []string{"UTC", "Asia/Beirut", "America/Santiago", "America/Havana", "Africa/Algiers", "Pacific/Apia", "Pacific/Kiritimati", "Europe/Dublin", "Australia/Lord_Howe"}
	for _, s := range []string{"2019-03-31", "2024-09-07", "2011-12-29", "0001-01-01", "9999-12-31", "2026-02-29", "x"} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, s string, zone uint8) {
		loc, err := time.LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Fatal(err)
		}
		ends, err := parseLastDay(s, loc)
		if _, perr := time.Parse(time.DateOnly, s); (err == nil) != (perr == nil) {
			t.Fatalf("parseLastDay(%q) = %v, time.Parse says %v", s, err, perr)
		}
		if err != nil || s >= "9999-12-31" {
			return
		}
		if got := lastDay(ends, loc).Format(time.DateOnly); got > s {
			t.Errorf("%s: last day %s ends at %v, shown as %s", loc, s, ends.In(loc), got)
		}
		if got := ends.In(loc).Format(time.DateOnly); got <= s {
			t.Errorf("%s: last day %s ends at %v, still that day", loc, s, ends.In(loc))
		}
	})
}
