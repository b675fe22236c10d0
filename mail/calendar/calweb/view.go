package calweb

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

// calView is a calendar in the legend and on its events.
type calView struct {
	Slug, Name string
	Colour     int // index into the stylesheet's colours
	Writable   bool
	Group      bool
	New        bool // just imported: the legend marks it
}

// eventView is one instance of an event on a page.
type eventView struct {
	Cal        calView
	Title      string
	Place      string
	AllDay     bool
	Start, End time.Time // in the page's zone; End exclusive
	Time       string    // "09:30–10:30", "" for all day
	URL        string    // the event's page
}

// dayView is a day of the month grid or of the agenda.
type dayView struct {
	Date           time.Time
	Day            int
	InMonth, Today bool
	Events         []eventView
}

// rangePage is the month view's and the agenda's data.
type rangePage struct {
	ui.Base
	Calendars []calView
	Heading   string
	Weekdays  []string
	Weeks     [][]dayView // month view
	Days      []dayView   // agenda: only days with events
	Prev      string
	Next      string
	Today     string
	NewURL    string
	Agenda    bool
	View      string // "month", "week" or "agenda": the navigation marks it
}

// calendars lists the calendars the member sees, each with its colour.
func (h *Handler) calendars(r *http.Request, sess auth.Session) ([]calView, error) {
	cs, err := h.d.Store.Calendars(r.Context(), memberOf(sess))
	if err != nil {
		return nil, err
	}
	out := make([]calView, len(cs))
	for i, c := range cs {
		out[i] = calView{Slug: c.Slug, Name: c.Name, Colour: i % colours, Writable: c.Writable, Group: c.Group != ""}
	}
	return out, nil
}

// events returns the instances of the events of cals in [start, end),
// sorted by start, read in loc: every one, or, past h.maxShown, that
// many and true.
func (h *Handler) events(r *http.Request, sess auth.Session, cals []calView, start, end time.Time, loc *time.Location) (out []eventView, truncated bool, err error) {
	defer func() {
		slices.SortFunc(out, func(a, b eventView) int {
			if c := a.Start.Compare(b.Start); c != 0 {
				return c
			}
			return strings.Compare(a.Title, b.Title)
		})
	}()
	tzs := calendar.NewZoneCache() // the page's events are mostly in one zone or a few
	for _, c := range cals {
		rs, err := h.d.Store.InRange(r.Context(), memberOf(sess), c.Slug, start, end)
		if err != nil {
			return nil, false, err
		}
		for _, res := range rs {
			ic, err := calendar.Decode(res.Data)
			if err != nil {
				h.log.Warn("calendar page: stored object does not decode", "calendar", c.Slug, "name", res.Name, "err", err)
				continue
			}
			for _, in := range tzs.Instances(ic, start, end) {
				ev := instanceView(in, c, res.Name, loc)
				if len(out) == h.maxShown {
					return out, true, nil
				}
				if ev.End.After(start) || !ev.Start.Before(start) {
					out = append(out, ev)
				}
			}
		}
	}
	return out, false, nil
}

// instanceView is an instance as a page shows it: all-day and floating
// times read as wall clock in loc (RFC 5545 sections 3.3.4 and 3.3.5).
func instanceView(in calendar.Instance, c calView, name string, loc *time.Location) eventView {
	ev := eventView{Cal: c, AllDay: in.AllDay, Start: in.Start.In(loc), End: in.End.In(loc), URL: eventURL(c.Slug, name)}
	if !in.RecurrenceID.IsZero() {
		ev.URL += "?r=" + ridString(in.RecurrenceID)
	}
	if in.AllDay || in.Floating {
		ev.Start, ev.End = wallClock(in.Start, loc), wallClock(in.End, loc)
	}
	ev.Title, _ = in.Event.Props.Text(ical.PropSummary)
	ev.Place, _ = in.Event.Props.Text(ical.PropLocation)
	if !ev.AllDay {
		ev.Time = ev.Start.Format("15:04") + "–" + ev.End.Format("15:04")
	}
	return ev
}

func wallClock(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
}

func eventURL(slug, name string) string {
	return "/mail/calendar/event/" + url.PathEscape(slug) + "/" + url.PathEscape(name)
}

// onDay returns the events that meet the day beginning at day.
func onDay(evs []eventView, day time.Time) []eventView {
	next := day.AddDate(0, 0, 1)
	var out []eventView
	for _, e := range evs {
		if e.Start.Before(next) && (e.End.After(day) || !e.Start.Before(day)) {
			out = append(out, e)
		}
	}
	return out
}

func dayOf(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// weekdays are the column heads, Monday first (ISO 8601).
func weekdays(l *i18n.Localizer) []string {
	return []string{l.T("calweb.wd.mon"), l.T("calweb.wd.tue"), l.T("calweb.wd.wed"), l.T("calweb.wd.thu"), l.T("calweb.wd.fri"), l.T("calweb.wd.sat"), l.T("calweb.wd.sun")}
}

// monthName is the full name of month m in l's language.
func monthName(l *i18n.Localizer, m time.Month) string {
	names := [12]string{
		i18n.Key("calweb.month.m1"), i18n.Key("calweb.month.m2"), i18n.Key("calweb.month.m3"), i18n.Key("calweb.month.m4"),
		i18n.Key("calweb.month.m5"), i18n.Key("calweb.month.m6"), i18n.Key("calweb.month.m7"), i18n.Key("calweb.month.m8"),
		i18n.Key("calweb.month.m9"), i18n.Key("calweb.month.m10"), i18n.Key("calweb.month.m11"), i18n.Key("calweb.month.m12"),
	}
	return l.T(names[m-1]) // i18n:keyed
}

// month serves the month view: ?m=2026-12, else this month.
func (h *Handler) month(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	loc := l.Location()
	today := dayOf(h.d.Now(), loc)
	first := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	if v := r.URL.Query().Get("m"); v != "" {
		t, err := time.ParseInLocation("2006-01", v, loc)
		if err != nil || t.Year() < minYear || t.Year() > maxYear {
			iweb.Error(w, r, http.StatusNotFound)
			return
		}
		first = t
	}
	gridStart := first.AddDate(0, 0, -((int(first.Weekday()) + 6) % 7))
	gridEnd := first.AddDate(0, 1, 0)
	gridEnd = gridEnd.AddDate(0, 0, (7-(int(gridEnd.Weekday())+6)%7)%7)
	cals, err := h.calendars(r, sess)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	evs, truncated, err := h.events(r, sess, cals, gridStart, gridEnd, loc)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := rangePage{
		Base: h.base(r, sess, l, l.T("calweb.title")), Calendars: cals, Weekdays: weekdays(l), View: "month",
		Heading: l.T("calweb.month_heading", "month", monthName(l, first.Month()), "year", fmt.Sprint(first.Year())),
		Prev:    "/mail/calendar?m=" + first.AddDate(0, -1, 0).Format("2006-01"),
		Next:    "/mail/calendar?m=" + first.AddDate(0, 1, 0).Format("2006-01"),
		Today:   "/mail/calendar", NewURL: "/mail/calendar/new?date=" + pick(today, first).Format("2006-01-02"),
	}
	if truncated {
		p.Error = l.T("calweb.truncated", "n", h.maxShown)
	}
	if n := importedNotice(r, sess, l, cals); n != "" {
		p.Notice = n
	}
	var week []dayView
	for d := gridStart; d.Before(gridEnd); d = d.AddDate(0, 0, 1) {
		week = append(week, dayView{Date: d, Day: d.Day(), InMonth: d.Month() == first.Month(), Today: d.Equal(today), Events: onDay(evs, d)})
		if len(week) == 7 {
			p.Weeks, week = append(p.Weeks, week), nil
		}
	}
	h.render(w, r, http.StatusOK, "month", p)
}

// pick is today when it is in first's month, else first.
func pick(today, first time.Time) time.Time {
	if today.Year() == first.Year() && today.Month() == first.Month() {
		return today
	}
	return first
}

// agenda serves the list of the AgendaDays days from ?from=2026-12-06,
// else from today: the view a phone shows best.
func (h *Handler) agenda(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	loc := l.Location()
	today := dayOf(h.d.Now(), loc)
	from := today
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil || t.Year() < minYear || t.Year() > maxYear {
			iweb.Error(w, r, http.StatusNotFound)
			return
		}
		from = t
	}
	to := from.AddDate(0, 0, AgendaDays)
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
	p := rangePage{
		Base: h.base(r, sess, l, l.T("calweb.title")), Calendars: cals, Agenda: true, View: "agenda",
		Heading: l.T("calweb.agenda_heading", "from", l.Date(from), "to", l.Date(to.AddDate(0, 0, -1))),
		Prev:    "/mail/calendar/agenda?from=" + from.AddDate(0, 0, -AgendaDays).Format("2006-01-02"),
		Next:    "/mail/calendar/agenda?from=" + to.Format("2006-01-02"),
		Today:   "/mail/calendar/agenda", NewURL: "/mail/calendar/new?date=" + from.Format("2006-01-02"),
	}
	if truncated {
		p.Error = l.T("calweb.truncated", "n", h.maxShown)
	}
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		if day := onDay(evs, d); len(day) > 0 {
			p.Days = append(p.Days, dayView{Date: d, Day: d.Day(), Today: d.Equal(today), Events: day})
		}
	}
	h.render(w, r, http.StatusOK, "agenda", p)
}
