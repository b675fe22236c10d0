package admin

import (
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
)

// An account's access end is given as a date, the last day of access: the
// person may sign in through the whole of that day, in the server's time
// zone. It is stored as the instant access ends, the start of the next day
// (auth.Account.ExpiresAt), and shown again as the date given (LastDay).

// ParseLastDay reads a last day of access written YYYY-MM-DD and returns
// the instant access ends: the start of the following day, local time.
func ParseLastDay(s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, time.Local)
	if err != nil {
		return time.Time{}, problem(auth.ErrInvalid, i18n.Key("admin.err.last_day_format"), "text", s)
	}
	return t.AddDate(0, 0, 1), nil
}

// LastDay is the last day of access of an account whose access ends at
// expires (see ParseLastDay), in the server's time zone; the zero time for
// none.
func LastDay(expires time.Time) time.Time {
	if expires.IsZero() {
		return time.Time{}
	}
	return expires.Add(-time.Second).Local()
}

// LastDay is the last day of the person's access; zero for none.
func (p PersonSummary) LastDay() time.Time { return LastDay(p.ExpiresAt) }

// LastDay is the last day of the invited person's access; zero for none.
func (in InviteRequest) LastDay() time.Time { return LastDay(in.Expires) }
