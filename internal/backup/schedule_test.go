package backup

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	at := 3*time.Hour + 30*time.Minute
	for _, c := range []struct{ now, want time.Time }{
		{time.Date(2026, 11, 24, 1, 0, 0, 0, berlin), time.Date(2026, 11, 24, 3, 30, 0, 0, berlin)},
		{time.Date(2026, 11, 24, 3, 30, 0, 0, berlin), time.Date(2026, 11, 25, 3, 30, 0, 0, berlin)},
		{time.Date(2026, 11, 24, 18, 0, 0, 0, berlin), time.Date(2026, 11, 25, 3, 30, 0, 0, berlin)},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, berlin), time.Date(2027, 1, 1, 3, 30, 0, 0, berlin)},
		// Summer time begins at 02:00 on 29 March 2026: still 03:30 local.
		{time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
	} {
		if got := next(c.now, at); !got.Equal(c.want) {
			t.Errorf("next(%v) = %v, want %v", c.now, got, c.want)
		}
	}
	for s, ok := range map[string]bool{"03:30": true, "00:00": true, "23:59": true, "3:30": false, "24:00": false, "03:60": false, "0330": false, "": false} {
		if _, err := ParseTimeOfDay(s); (err == nil) != ok {
			t.Errorf("ParseTimeOfDay(%q): %v", s, err)
		}
	}
}

func TestMissed(t *testing.T) {
	t.Parallel()
	at := 3*time.Hour + 30*time.Minute
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		now, last time.Time
		want      bool
	}{
		{day(24, 18, 0), time.Time{}, true},     // never backed up
		{day(24, 18, 0), day(24, 3, 31), false}, // today's ran
		{day(24, 18, 0), day(23, 3, 31), true},  // server was down at 03:30 today
		{day(24, 3, 0), day(23, 3, 31), false},  // today's is still to come
		{day(24, 3, 30), day(23, 3, 31), true},  // due this minute
		{day(26, 12, 0), day(23, 3, 31), true},  // off for days
		{day(24, 18, 0), day(24, 3, 29), true},  // the last one finished before the slot
	} {
		if got := missed(c.now, c.last, at); got != c.want {
			t.Errorf("missed(now %v, last %v) = %v, want %v", c.now, c.last, got, c.want)
		}
	}
}
