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
