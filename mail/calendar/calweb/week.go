package calweb

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/caucus-org/caucus/auth"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// The week view: the days side by side, a row for the all-day events and
// a column of hours in which each timed event is a block placed by its
// start and length, events at the same time side by side. Blocks are
// placed by class names (at*, len*, lanes*, lane*: the stylesheet's
// half-hour grid), since the pages' Content-Security-Policy allows no
// style attribute. Seven days from Monday; three days or one (?n=3,
// ?n=1, from ?d=) suit a phone.

// Limits of the week view's grid.
const (
	slotMinutes = 30 // one row of the grid
	maxLanes    = 4  // events side by side; more overlap
	dayStart    = 7  // the first hour shown unless an event is earlier
	dayEnd      = 21 // the last hour shown unless an event is later
)

// weekPage is the week view's data.
type weekPage struct {
	rangePage
	Days  []weekDay
	Hours []string // the hours of the grid's rows, "07:00" …
	Span  int      // days shown: 7, 3 or 1
}

// weekDay is one column of the week view.
type weekDay struct {
	Date   time.Time
	Name   string // the weekday
	Today  bool
	URL    string // the day alone
	NewURL string
	AllDay []eventView
	Timed  []placed
}

// placed is a timed event on the grid: from half-hour row At, Len rows
// long, in lane Lane of Lanes.
type placed struct {
	eventView
	At, Len, Lane, Lanes int
}

// weekURL is the week view of span days from day.
func weekURL(day time.Time, span int) string {
	return "/mail/calendar/week?d=" + day.Format("2006-01-02") + "&n=" + strconv.Itoa(span)
}

// weekRange reads ?d= and ?n=: the first day shown and how many; a week
// starts on Monday (ISO 8601).
func weekRange(r *http.Request, today time.Time, loc *time.Location) (time.Time, int, bool) {
	span := 7
	switch r.URL.Query().Get("n") {
	case "", "7":
	case "3":
		span = 3
	case "1":
		span = 1
	default:
		return time.Time{}, 0, false
	}
	from := today
	if v := r.URL.Query().Get("d"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil || t.Year() < minYear || t.Year() > maxYear {
			return time.Time{}, 0, false
		}
		from = t
	}
	if span == 7 {
		from = from.AddDate(0, 0, -((int(from.Weekday()) + 6) % 7))
	}
	return from, span, true
}

// week serves the week view.
func (h *Handler) week(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	loc := l.Location()
	today := dayOf(h.d.Now(), loc)
	from, span, ok := weekRange(r, today, loc)
	if !ok {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	to := from.AddDate(0, 0, span)
	cals, err := h.calendars(r, sess)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	evs, truncated, err := h.events(r, sess, cals, from, to, loc)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := weekPage{Span: span, rangePage: rangePage{
		Base: h.base(r, sess, l, l.T("calweb.title")), Calendars: cals, View: "week",
		Heading: l.T("calweb.agenda_heading", "from", l.Date(from), "to", l.Date(to.AddDate(0, 0, -1))),
		Prev:    weekURL(from.AddDate(0, 0, -span), span), Next: weekURL(to, span),
		Today: weekURL(today, span), NewURL: "/mail/calendar/new?date=" + pick7(today, from, span).Format("2006-01-02"),
	}}
	if span == 1 {
		p.Heading = l.Date(from)
	}
	if truncated {
		p.Error = l.T("calweb.truncated", "n", h.maxShown)
	}
	names := weekdays(l)
	first, last := hoursShown(evs, from, to)
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		wd := weekDay{Date: d, Name: names[(int(d.Weekday())+6)%7], Today: d.Equal(today), URL: weekURL(d, 1), NewURL: "/mail/calendar/new?date=" + d.Format("2006-01-02")}
		wd.AllDay, wd.Timed = layDay(onDay(evs, d), d, first, last)
		p.Days = append(p.Days, wd)
	}
	for hr := first; hr < last; hr++ {
		p.Hours = append(p.Hours, fmt.Sprintf("%02d:00", hr))
	}
	h.render(w, r, http.StatusOK, "week", p)
}

// pick7 is today when it is among the span days from from, else from.
func pick7(today, from time.Time, span int) time.Time {
	if !today.Before(from) && today.Before(from.AddDate(0, 0, span)) {
		return today
	}
	return from
}

// hoursShown are the hours the grid shows: dayStart to dayEnd, widened
// to the earliest start and the latest end of the timed events shown.
func hoursShown(evs []eventView, from, to time.Time) (first, last int) {
	first, last = dayStart, dayEnd
	for _, e := range evs {
		if e.AllDay {
			continue
		}
		d := dayOf(e.Start, from.Location())
		if d.Before(from) { // an event begun before the days shown
			d = from
		}
		for ; d.Before(to) && d.Before(e.End); d = d.AddDate(0, 0, 1) {
			s, end := clip(e, d)
			first = min(first, s/60)
			last = max(last, (end+59)/60)
		}
	}
	return first, last
}

// clip is the part of e on day d, in minutes from its midnight (the
// wall clock: a day of a clock change is still 24 hours of rows).
func clip(e eventView, d time.Time) (start, end int) {
	next := d.AddDate(0, 0, 1)
	start, end = 0, 24*60
	if e.Start.After(d) {
		start = e.Start.Hour()*60 + e.Start.Minute()
	}
	if e.End.Before(next) {
		end = e.End.Hour()*60 + e.End.Minute()
	}
	return start, max(end, start)
}

// layDay parts a day's events into the all-day row and blocks on the
// grid of hours [first, last): each block in the first lane free at its
// start, and every block of a group of overlapping ones told how many
// lanes the group takes.
func layDay(evs []eventView, d time.Time, first, last int) (allDay []eventView, timed []placed) {
	rows := (last - first) * 60 / slotMinutes
	for _, e := range evs {
		if e.AllDay {
			allDay = append(allDay, e)
			continue
		}
		s, end := clip(e, d)
		at := min(max(s-first*60, 0)/slotMinutes, rows-1)
		stop := min((end-first*60+slotMinutes-1)/slotMinutes, rows)
		timed = append(timed, placed{eventView: e, At: at, Len: max(stop-at, 1)})
	}
	slices.SortStableFunc(timed, func(a, b placed) int { return a.At - b.At })
	var ends []int // per lane, the row where its last block ends
	group := 0     // where the current group of overlapping blocks begins
	groupEnd := 0
	for i := range timed {
		p := &timed[i]
		if p.At >= groupEnd { // a new group: the lanes before are free
			setLanes(timed[group:i], len(ends))
			group, ends = i, ends[:0]
		}
		lane := slices.IndexFunc(ends, func(e int) bool { return e <= p.At })
		if lane < 0 {
			lane = len(ends)
			if lane < maxLanes {
				ends = append(ends, 0)
			} else {
				lane = maxLanes - 1
			}
		}
		p.Lane, ends[lane] = lane, max(ends[lane], p.At+p.Len)
		groupEnd = max(groupEnd, p.At+p.Len)
	}
	setLanes(timed[group:], len(ends))
	return allDay, timed
}

func setLanes(ps []placed, n int) {
	for i := range ps {
		ps[i].Lanes = max(n, 1)
	}
}
