package calweb

import (
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

// One instance of a recurring event, changed or deleted alone (RFC 5545
// section 3.8.4.4): the page names it by its RECURRENCE-ID (?r= in an
// event's URL, the form's "instance"), as UTC. "This event" writes a
// VEVENT with that RECURRENCE-ID beside the series (or changes the one
// there); deleting it adds an EXDATE to the series (section 3.8.5.1).
// "All events" changes the series, moved by as much as the instance was.

const ridLayout = "20060102T150405Z"

func ridString(t time.Time) string { return t.UTC().Format(ridLayout) }

// parseRID reads an instance's name; false if it is none.
func parseRID(s string) (time.Time, bool) {
	t, err := time.Parse(ridLayout, s)
	return t, err == nil && t.Year() >= minYear && t.Year() <= maxYear
}

// instanceOf is the instance s names of the series master of ic, if it is
// one.
func instanceOf(ic *ical.Calendar, master *ical.Component, s string) (time.Time, bool) {
	rid, ok := parseRID(s)
	return rid, ok && calendar.IsInstance(ic, master, rid)
}

// instanceForm is the form of instance rid of the series master: the
// changed instance's fields if there is one, else the series' at the
// instance's times; the recurrence is the series'.
func instanceForm(ic *ical.Calendar, master *ical.Component, rid time.Time, loc *time.Location) form {
	series := formOf(ic, master, loc)
	f := series
	if ov := calendar.Override(ic, rid); ov != nil {
		f = formOf(ic, ov, loc)
	} else if first, ok := calendar.FirstInstance(ic, master); ok {
		first.Start, first.End = rid, rid.Add(first.End.Sub(first.Start))
		f.setTimes(first, loc)
	}
	f.repeat = series.repeat
	f.Instance = ridString(rid)
	return f
}

// override returns the component that changes instance rid: the one
// there, else a new copy of the series master without its recurrence,
// with RECURRENCE-ID rid in the form of the master's DTSTART, added to
// ic.
func override(ic *ical.Calendar, master *ical.Component, rid time.Time) *ical.Component {
	if ov := calendar.Override(ic, rid); ov != nil {
		return ov
	}
	ov := clone(master)
	for _, name := range []string{ical.PropRecurrenceRule, ical.PropRecurrenceDates, ical.PropExceptionDates} {
		ov.Props.Del(name)
	}
	ov.Props.Set(calendar.DateLike(ic, master, ical.PropRecurrenceID, rid))
	ic.Children = append(ic.Children, ov)
	return ov
}

// clone is a deep copy of c.
func clone(c *ical.Component) *ical.Component {
	out := ical.NewComponent(c.Name)
	for name, ps := range c.Props {
		for _, p := range ps {
			q := ical.Prop{Name: p.Name, Value: p.Value, Params: ical.Params{}}
			for k, v := range p.Params {
				q.Params[k] = append([]string(nil), v...)
			}
			out.Props[name] = append(out.Props[name], q)
		}
	}
	for _, ch := range c.Children {
		out.Children = append(out.Children, clone(ch))
	}
	return out
}

// dropInstance takes the changed instance rid, if any, out of ic.
func dropInstance(ic *ical.Calendar, rid time.Time) {
	ov := calendar.Override(ic, rid)
	for i, c := range ic.Children {
		if c == ov {
			ic.Children = append(ic.Children[:i], ic.Children[i+1:]...)
			return
		}
	}
}

// dropInstances takes every changed instance out of ic: an event that no
// longer recurs has none.
func dropInstances(ic *ical.Calendar) {
	out := ic.Children[:0]
	for _, c := range ic.Children {
		if c.Name != ical.CompEvent || c.Props.Get(ical.PropRecurrenceID) == nil {
			out = append(out, c)
		}
	}
	ic.Children = out
}

// shiftSeries is the series' new start and end when the form of
// instance rid, which now starts at start and ends at end (in loc), is
// saved for all events: the series' first instance moved by as many days
// as the instance was, at the instance's new time of day, as long.
func shiftSeries(ic *ical.Calendar, master *ical.Component, rid, start, end time.Time, allDay bool, loc *time.Location) (time.Time, time.Time) {
	first, ok := calendar.FirstInstance(ic, master)
	if !ok {
		return start, end
	}
	was := first
	was.Start, was.End = rid, rid
	inst := instanceView(was, calView{}, "", loc).Start
	ms := instanceView(first, calView{}, "", loc).Start
	days := daysBetween(inst, start)
	if allDay {
		ns := time.Date(ms.Year(), ms.Month(), ms.Day()+days, 0, 0, 0, 0, loc)
		return ns, ns.AddDate(0, 0, daysBetween(start, end))
	}
	ns := time.Date(ms.Year(), ms.Month(), ms.Day()+days, start.Hour(), start.Minute(), 0, 0, loc)
	return ns, ns.Add(end.Sub(start))
}

// daysBetween counts the calendar days from a's date to b's.
func daysBetween(a, b time.Time) int {
	da := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	db := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

// bumpSequence counts a change of ev (RFC 5545 section 3.8.7.4).
func bumpSequence(ev *ical.Component) {
	seq := 0
	if p := ev.Props.Get(ical.PropSequence); p != nil {
		seq, _ = p.Int()
	}
	ev.Props.Set(&ical.Prop{Name: ical.PropSequence, Params: ical.Params{}, Value: strconv.Itoa(seq + 1)})
}

// apply writes the form into ev: its title, place, description and
// times, and of its attendees, reminder and (for a series, not one
// instance) recurrence what changed from old, the form as ev showed it.
func (f form) apply(ev *ical.Component, old form, start, end, now time.Time, me *mail.Address, loc *time.Location, series bool) {
	setEvent(ev, f, start, end, now)
	if f.sent["attendees"] {
		setAttendees(ev, f.attendees, me)
	}
	if f.sent["reminder"] {
		setReminder(ev, old.Reminder, f.Reminder, f.Title)
	}
	if !series || !f.sent["repeat"] {
		return
	}
	if old.AllDay != f.AllDay {
		old.Repeat = "" // an UNTIL follows DTSTART's value type: written again
		old.Ends = "changed"
	}
	setRepeat(ev, old.repeat, f.repeat, f.AllDay, loc)
}

func organizer(sess auth.Session) *mail.Address {
	return &mail.Address{Name: sess.Account.DisplayName, Address: sess.Account.Login}
}

// removeInstance deletes one instance of a series (an EXDATE), if the
// event is still the version the page showed.
func (h *Handler) removeInstance(w http.ResponseWriter, r *http.Request, sess auth.Session, slug, name, etag, instance string) {
	l := h.d.Login.Localizer(r)
	res, err := h.d.Store.Get(r.Context(), memberOf(sess), slug, name)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	ic, master, ok := h.decodeEvent(w, r, res.Data)
	if !ok {
		return
	}
	rid, ok := instanceOf(ic, master, instance)
	if !ok {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	f := instanceForm(ic, master, rid, l.Location())
	f.Calendar, f.ETag = slug, etag
	if etag == "" || etag != res.ETag {
		h.renderForm(w, r, sess, l, http.StatusConflict, f, name, calendar.ErrPrecondition)
		return
	}
	dropInstance(ic, rid)
	master.Props.Add(calendar.DateLike(ic, master, ical.PropExceptionDates, rid))
	master.Props.SetDateTime(ical.PropDateTimeStamp, h.d.Now().UTC())
	bumpSequence(master)
	o, err := calendar.Analyse(ic)
	if errors.Is(err, calendar.ErrInvalid) { // the series' last instance: delete the event instead
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, name, errForm(i18n.Key("calweb.err.last")))
		return
	}
	if err == nil {
		_, _, err = h.d.Store.Put(r.Context(), memberOf(sess), slug, name, o, calendar.Cond{IfMatch: etag})
	}
	if errors.Is(err, calendar.ErrPrecondition) {
		h.renderForm(w, r, sess, l, http.StatusConflict, f, name, err)
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	http.Redirect(w, r, monthURL(dayOf(rid, l.Location()))+"&n=deleted", http.StatusSeeOther)
}
