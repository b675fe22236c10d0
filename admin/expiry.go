package admin

import (
	"cmp"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
)

// An account's access end is given as a date, the last day of access: the
// person may sign in through the whole of that day, in the party's time
// zone (OpsDeps.TimeZone, the zone the console shows dates in). It is
// stored as the instant access ends, the start of the next day
// (auth.Account.ExpiresAt), and shown again as the date given (LastDay).

// ParseLastDay reads a last day of access written YYYY-MM-DD and returns
// the instant access ends: the start of the following day in loc, the
// party's time zone (nil: the server's, as for ui.Party and config).
func ParseLastDay(s string, loc *time.Location) (time.Time, error) {
	return parseLastDay(s, cmp.Or(loc, time.Local))
}

// parseLastDay is ParseLastDay in loc. The last day is a calendar date:
// the day after is found in dates, then its start in loc, which is not
// always midnight nor 24 hours after the last day's start.
func parseLastDay(s string, loc *time.Location) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, problem(auth.ErrInvalid, i18n.Key("admin.err.last_day_format"), "text", s)
	}
	return dayStart(d.AddDate(0, 0, 1), loc), nil
}

// dayStart returns the first instant at which the date in loc is the date
// of day (a midnight in UTC) or later. That is the day's midnight, unless
// a change of the zone's offset skips or repeats it (a DST change at
// 00:00, as in Asia/Beirut or America/Santiago, or Samoa skipping 30
// December 2011), where time.Date's answer is not guaranteed: the periods
// of one offset are walked from before the day can have begun anywhere,
// and in each the instant its clock reads the day's midnight is found.
func dayStart(day time.Time, loc *time.Location) time.Time {
	t := day.Add(-30 * time.Hour) // every UTC offset has been under 30 h
	for {
		lt := t.In(loc)
		_, offset := lt.Zone()
		start := day.Add(-time.Duration(offset) * time.Second)
		if start.Before(t) {
			start = t // the period began after the day's midnight on its clock
		}
		// The period ends at end, or never (the zero time). Past the
		// zone's table Go computes bounds from its TZ rule, and there
		// an end can come out before t (Europe/Dublin at the end of
		// 6000): such a period is taken to go on, so the walk ends.
		_, end := lt.ZoneBounds()
		if !end.After(t) || start.Before(end) {
			return start
		}
		t = end
	}
}

// LastDay is the last day of access of an account whose access ends at
// expires (see ParseLastDay), in loc, the party's time zone (nil: the
// server's):
// an instant of that day, whose date is the day; the zero time for none.
func LastDay(expires time.Time, loc *time.Location) time.Time {
	return lastDay(expires, cmp.Or(loc, time.Local))
}

func lastDay(expires time.Time, loc *time.Location) time.Time {
	if expires.IsZero() {
		return time.Time{}
	}
	return expires.Add(-time.Second).In(loc)
}

// The methods below give an instant of the last day without a zone of
// their own: a page shows it through its localizer's date, in the party's
// zone, which is the zone the day was parsed in.

// LastDay is the last day of the person's access; zero for none.
func (p PersonSummary) LastDay() time.Time { return lastDay(p.ExpiresAt, time.UTC) }

// LastDay is the last day of the invited person's access; zero for none.
func (in InviteRequest) LastDay() time.Time { return lastDay(in.Expires, time.UTC) }
