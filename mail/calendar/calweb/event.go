package calweb

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/msgview"
)

// The years a date of the form or a URL may name.
const (
	minYear = 1900
	maxYear = 2200
)

// form is what the event form shows and sends.
type form struct {
	Calendar    string // slug
	UID         string // an existing event's, to tell whether it came by mail
	Title       string
	Place       string
	Description string
	AllDay      bool
	StartDate   string // 2006-01-02
	StartTime   string // 15:04
	EndDate     string
	EndTime     string
	ETag        string // of the version the form showed; "" for a new event
	Attendees   string // mail addresses, one per line
	// HiddenAttendees is how many attendees with a mail address the
	// event has past the MaxAttendees the form shows (kept).
	HiddenAttendees int
	Reminder        string // a key of reminders, "" for none
	OtherAlarms     bool   // the event has alarms the form does not show (kept)
	repeat
	// Instance names the one instance of a series the form shows: its
	// RECURRENCE-ID as UTC (20060102T150405Z); "" for the whole event.
	Instance string

	attendees []*mail.Address // Attendees, read
	// sent says which of attendees, reminder and repeat the post had: a
	// field a form did not send (an older page) leaves the event's as it
	// is.
	sent map[string]bool
}

// eventPage is the event form's data.
type eventPage struct {
	ui.Base
	Form      form
	Calendars []calView // the writable ones, for a new event
	Cal       calView   // the event's calendar, for an existing one
	Action    string    // where the form posts; "" when read-only
	Delete    string    // where deletion posts; "" for a new event
	Current   string    // after a conflict: the page of the current version
	New       bool
	Zone      string      // the time zone the times are in
	Weekdays  []dayChoice // a weekly recurrence's days
	// InstanceDay is the day of the one instance of a series the form
	// shows.
	InstanceDay time.Time
	// Banner is what the MX found about the sender of an event that came
	// by mail (an invitation from outside): webmail's warning.
	Banner *msgview.Banner
}

// dayChoice is a weekday of a weekly recurrence: its RFC 5545 name and
// its name in the reader's language.
type dayChoice struct{ Code, Name string }

// errForm is an error of the member's input: its message key.
type errForm string

func (e errForm) Error() string { return string(e) }

// newEvent serves the empty form: ?date=2026-12-06 is its day.
func (h *Handler) newEvent(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	day := dayOf(h.d.Now(), l.Location())
	if t, err := time.ParseInLocation("2006-01-02", r.URL.Query().Get("date"), l.Location()); err == nil && t.Year() >= minYear && t.Year() <= maxYear {
		day = t
	}
	f := form{StartDate: day.Format("2006-01-02"), EndDate: day.Format("2006-01-02"), StartTime: "09:00", EndTime: "10:00"}
	h.renderForm(w, r, sess, l, http.StatusOK, f, "", nil)
}

// renderForm writes the form for a new event (slug "") or an event of
// calendar slug, with the error err (an errForm, or a conflict).
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, sess auth.Session, l *i18n.Localizer, code int, f form, name string, ferr error) {
	cals, err := h.calendars(r, sess)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := eventPage{Form: f, New: name == "", Zone: l.Location().String()}
	for i, n := range weekdays(l) {
		p.Weekdays = append(p.Weekdays, dayChoice{Code: byDays[i], Name: n})
	}
	if f.Instance != "" {
		p.InstanceDay, _ = time.ParseInLocation("2006-01-02", f.StartDate, l.Location())
	}
	if p.New {
		p.Base = h.base(r, sess, l, l.T("calweb.event.new"))
		p.Action = "/mail/calendar/new"
		p.Calendars = writable(cals)
	} else {
		p.Base = h.base(r, sess, l, l.T("calweb.event.edit"))
		p.Banner = h.receivedBanner(r, sess, l, f.Calendar, f.UID)
		for _, c := range cals {
			if c.Slug == f.Calendar {
				p.Cal = c
			}
		}
		if p.Cal.Writable {
			p.Action, p.Delete = eventURL(f.Calendar, name), eventURL(f.Calendar, name)+"/delete"
			p.Calendars = writable(cals)
		}
	}
	var fe errForm
	switch {
	case errors.As(ferr, &fe):
		p.Error = l.T(string(fe)) // i18n:keyed
	case errors.Is(ferr, calendar.ErrPrecondition):
		p.Error = l.T("calweb.err.conflict")
		p.Current = eventURL(f.Calendar, name)
	}
	h.render(w, r, code, "event", p)
}

// writable are the calendars of cals the member writes in.
func writable(cals []calView) []calView {
	var out []calView
	for _, c := range cals {
		if c.Writable {
			out = append(out, c)
		}
	}
	return out
}

// event serves an event's page: its form, or its details alone in a
// read-only calendar.
func (h *Handler) event(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	slug, name := r.PathValue("cal"), r.PathValue("name")
	res, err := h.d.Store.Get(r.Context(), memberOf(sess), slug, name)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	ic, ev, ok := h.decodeEvent(w, r, res.Data)
	if !ok {
		return
	}
	f := formOf(ic, ev, l.Location())
	if v := r.URL.Query().Get("r"); v != "" {
		rid, ok := instanceOf(ic, ev, v)
		if !ok {
			iweb.Error(w, r, http.StatusNotFound)
			return
		}
		f = instanceForm(ic, ev, rid, l.Location())
	}
	f.Calendar, f.ETag = slug, res.ETag
	h.renderForm(w, r, sess, l, http.StatusOK, f, name, nil)
}

// decodeEvent decodes a stored event and finds its master; a failure is
// answered (the store's error, or 404 for an object with no event).
func (h *Handler) decodeEvent(w http.ResponseWriter, r *http.Request, data []byte) (*ical.Calendar, *ical.Component, bool) {
	ic, err := calendar.Decode(data)
	if err != nil {
		h.storeError(w, r, err)
		return nil, nil, false
	}
	ev := master(ic)
	if ev == nil {
		iweb.Error(w, r, http.StatusNotFound)
		return nil, nil, false
	}
	return ic, ev, true
}

// master is the object's event without RECURRENCE-ID: the event, or the
// series its changed instances belong to.
func master(ic *ical.Calendar) *ical.Component {
	for _, c := range ic.Children {
		if c.Name == ical.CompEvent && c.Props.Get(ical.PropRecurrenceID) == nil {
			return c
		}
	}
	return nil
}

// formOf fills the form from event ev of ic, its times in loc.
func formOf(ic *ical.Calendar, ev *ical.Component, loc *time.Location) form {
	var f form
	f.UID, _ = ev.Props.Text(ical.PropUID)
	f.Title, _ = ev.Props.Text(ical.PropSummary)
	f.Place, _ = ev.Props.Text(ical.PropLocation)
	f.Description, _ = ev.Props.Text(ical.PropDescription)
	f.Attendees, f.HiddenAttendees = attendeesOf(ev)
	f.Reminder, f.OtherAlarms = reminderOf(ev)
	f.repeat = repeatOf(ic, ev, loc)
	first, ok := calendar.FirstInstance(ic, ev)
	if !ok {
		return f
	}
	f.setTimes(first, loc)
	if f.Repeat == "weekly" && len(f.Days) == 0 { // BYDAY is DTSTART's day (RFC 5545 section 3.3.10)
		if d, err := time.Parse("2006-01-02", f.StartDate); err == nil {
			f.Days = []string{byDays[(int(d.Weekday())+6)%7]}
		}
	}
	return f
}

// setTimes shows the times of instance in in the form, read in loc.
func (f *form) setTimes(first calendar.Instance, loc *time.Location) {
	in := instanceView(first, calView{}, "", loc)
	f.AllDay = in.AllDay
	end := in.End
	if in.AllDay {
		end = end.AddDate(0, 0, -1) // DTEND of a day is the next day (RFC 5545 section 3.6.1)
		if end.Before(in.Start) {
			end = in.Start
		}
	}
	f.StartDate, f.StartTime = in.Start.Format("2006-01-02"), in.Start.Format("15:04")
	f.EndDate, f.EndTime = end.Format("2006-01-02"), end.Format("15:04")
}

// readForm reads the posted form and checks it; the times are read in
// loc.
func readForm(r *http.Request, loc *time.Location) (f form, start, end time.Time, err error) {
	f = form{
		Calendar: r.PostFormValue("calendar"), Title: oneLine(r.PostFormValue("title")),
		Place: oneLine(r.PostFormValue("place")), Description: lines(r.PostFormValue("description")),
		AllDay: r.PostFormValue("allday") != "", StartDate: r.PostFormValue("startdate"), StartTime: r.PostFormValue("starttime"),
		EndDate: r.PostFormValue("enddate"), EndTime: r.PostFormValue("endtime"), ETag: r.PostFormValue("etag"),
		Attendees: r.PostFormValue("attendees"), Reminder: r.PostFormValue("reminder"), Instance: r.PostFormValue("instance"),
		repeat: repeat{Repeat: r.PostFormValue("repeat"), Days: r.PostForm["days"], Ends: r.PostFormValue("ends"), Until: r.PostFormValue("until"), Count: r.PostFormValue("count")},
	}
	if !utf8.ValidString(r.PostFormValue("title") + r.PostFormValue("place") + r.PostFormValue("description") + r.PostFormValue("attendees") + r.PostFormValue("addattendee")) {
		return f, start, end, errForm(i18n.Key("calweb.err.text"))
	}
	switch {
	case f.Title == "":
		return f, start, end, errForm(i18n.Key("calweb.err.title"))
	case len(f.Title) > MaxTitle || len(f.Place) > MaxTitle || len(f.Description) > MaxDescription:
		return f, start, end, errForm(i18n.Key("calweb.err.long"))
	}
	f.sent = map[string]bool{}
	for _, k := range []string{"attendees", "reminder", "repeat"} {
		_, f.sent[k] = r.PostForm[k]
	}
	if add := strings.TrimSpace(r.PostFormValue("addattendee")); add != "" { // typed without the script
		f.Attendees, f.sent["attendees"] = strings.TrimRight(f.Attendees, "\r\n")+"\n"+add, true
	}
	if start, end, err = f.times(loc); err != nil {
		return f, start, end, err
	}
	if _, ok := reminders[f.Reminder]; !ok && f.Reminder != "" {
		return f, start, end, errForm(i18n.Key("calweb.err.reminder"))
	}
	if f.attendees, err = parseAttendees(f.Attendees); err != nil {
		return f, start, end, err
	}
	f.repeat, err = readRepeat(r.PostFormValue, r.PostForm["days"], start, loc)
	return f, start, end, err
}

// oneLine is a title or place as stored: control characters (a pasted
// line break) as spaces, trimmed.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s))
}

// lines is a description as stored: the line breaks a browser sends
// (CRLF, HTML's textarea) as LF, which iCalendar escapes as "\n" (RFC
// 5545 section 3.3.11), other control characters but tabs dropped.
func lines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
}

// times are the start and end the form names: for a whole day, the
// first day and the day after the last (DATE values, RFC 5545 section
// 3.6.1), else two times in loc.
func (f form) times(loc *time.Location) (start, end time.Time, err error) {
	if f.AllDay {
		s, err1 := parseDate(f.StartDate, "", loc)
		e, err2 := parseDate(f.EndDate, "", loc)
		if err1 != nil || err2 != nil {
			return start, end, errForm(i18n.Key("calweb.err.date"))
		}
		if e.Before(s) {
			return start, end, errForm(i18n.Key("calweb.err.order"))
		}
		return s, e.AddDate(0, 0, 1), nil
	}
	s, err1 := parseDate(f.StartDate, f.StartTime, loc)
	e, err2 := parseDate(f.EndDate, f.EndTime, loc)
	if err1 != nil || err2 != nil {
		return start, end, errForm(i18n.Key("calweb.err.date"))
	}
	if e.Before(s) {
		return start, end, errForm(i18n.Key("calweb.err.order"))
	}
	return s, e, nil
}

func parseDate(date, clock string, loc *time.Location) (time.Time, error) {
	var t time.Time
	var err error
	if clock == "" {
		t, err = time.ParseInLocation("2006-01-02", date, loc)
	} else {
		t, err = time.ParseInLocation("2006-01-02 15:04", date+" "+clock, loc)
	}
	if err == nil && (t.Year() < minYear || t.Year() > maxYear) {
		err = errors.New("year out of range")
	}
	return t, err
}

// setEvent writes the form's fields into ev, keeping what the form does
// not show (recurrence, attendees, alarms).
func setEvent(ev *ical.Component, f form, start, end, now time.Time) {
	setText(ev, ical.PropSummary, f.Title)
	setText(ev, ical.PropLocation, f.Place)
	setText(ev, ical.PropDescription, f.Description)
	ev.Props.Del(ical.PropDuration)
	ds, de := ical.NewProp(ical.PropDateTimeStart), ical.NewProp(ical.PropDateTimeEnd)
	if f.AllDay {
		ds.SetDate(start)
		de.SetDate(end)
	} else {
		ds.SetDateTime(zoned(start))
		de.SetDateTime(zoned(end))
	}
	ev.Props.Set(ds)
	ev.Props.Set(de)
	ev.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
	ev.Props.SetDateTime(ical.PropLastModified, now.UTC())
}

// zoned is t with a TZID that every client knows (an IANA name), else in
// UTC: the server's "Local" zone names nothing a client could read.
func zoned(t time.Time) time.Time {
	if n := t.Location().String(); n == "Local" || n == "UTC" || n == "" {
		return t.UTC()
	}
	return t
}

func setText(ev *ical.Component, name, v string) {
	if v == "" {
		ev.Props.Del(name)
		return
	}
	ev.Props.SetText(name, v)
}

// create stores a new event and redirects to its month.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	f, start, end, err := readForm(r, l.Location())
	f.Instance = ""
	if err != nil {
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, "", err)
		return
	}
	uid := newUID()
	ev := ical.NewComponent(ical.CompEvent)
	ev.Props.SetText(ical.PropUID, uid)
	f.apply(ev, form{}, start, end, h.d.Now(), organizer(sess), l.Location(), true)
	ic := ical.NewCalendar()
	ic.Props.SetText(ical.PropVersion, "2.0")
	ic.Props.SetText(ical.PropProductID, "-//caucus//calendar//EN")
	ic.Children = append(ic.Children, ev)
	if !h.put(w, r, sess, l, f, "", uid+".ics", ic, calendar.Cond{IfNoneMatch: "*"}) {
		return
	}
	http.Redirect(w, r, monthURL(start)+"&n=created", http.StatusSeeOther)
}

// update changes an event, if it is still the version the form showed:
// the whole event, or with scope "this" the one instance the form names.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	slug, name := r.PathValue("cal"), r.PathValue("name")
	res, err := h.d.Store.Get(r.Context(), memberOf(sess), slug, name)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	f, start, end, err := readForm(r, l.Location())
	target := f.Calendar
	if target == "" {
		target = slug
	}
	f.Calendar = slug
	if err != nil {
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, name, err)
		return
	}
	if f.ETag == "" || f.ETag != res.ETag {
		h.renderForm(w, r, sess, l, http.StatusConflict, f, name, calendar.ErrPrecondition)
		return
	}
	ic, master, ok := h.decodeEvent(w, r, res.Data)
	if !ok {
		return
	}
	var rid time.Time
	if f.Instance != "" {
		if rid, ok = instanceOf(ic, master, f.Instance); !ok {
			iweb.Error(w, r, http.StatusNotFound)
			return
		}
	}
	if f.Instance != "" && r.PostFormValue("scope") == "this" {
		ov := override(ic, master, rid)
		f.apply(ov, formOf(ic, ov, l.Location()), start, end, h.d.Now(), organizer(sess), l.Location(), false)
		bumpSequence(ov)
		target = slug // one instance stays with its series
	} else {
		if f.Instance != "" {
			start, end = shiftSeries(ic, master, rid, start, end, f.AllDay, l.Location())
			if f.repeat, err = readRepeat(r.PostFormValue, r.PostForm["days"], start, l.Location()); err != nil {
				h.renderForm(w, r, sess, l, http.StatusBadRequest, f, name, err)
				return
			}
		}
		old := formOf(ic, master, l.Location())
		f.apply(master, old, start, end, h.d.Now(), organizer(sess), l.Location(), true)
		if old.Repeat != "" && f.Repeat == "" {
			dropInstances(ic)
		}
		bumpSequence(master)
	}
	if target != slug {
		if h.move(w, r, sess, l, f, name, ic, target) {
			http.Redirect(w, r, monthURL(start)+"&n=saved", http.StatusSeeOther)
		}
		return
	}
	if !h.put(w, r, sess, l, f, name, name, ic, calendar.Cond{IfMatch: f.ETag}) {
		return
	}
	http.Redirect(w, r, monthURL(start)+"&n=saved", http.StatusSeeOther)
}

// move stores ic as resource name of calendar target, a new one there,
// and then deletes it from f.Calendar if it is still the version the
// form showed; if not, the copy is taken back and the conflict shown. On
// a refusal it answers and returns false.
func (h *Handler) move(w http.ResponseWriter, r *http.Request, sess auth.Session, l *i18n.Localizer, f form, name string, ic *ical.Calendar, target string) bool {
	o, err := calendar.Analyse(ic)
	if err != nil {
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, name, errForm(i18n.Key("calweb.err.invalid")))
		return false
	}
	m := memberOf(sess)
	moved, _, err := h.d.Store.Put(r.Context(), m, target, name, o, calendar.Cond{IfNoneMatch: "*"})
	switch {
	case errors.Is(err, calendar.ErrPrecondition), errors.Is(err, calendar.ErrUIDConflict), errors.Is(err, calendar.ErrFull):
		h.renderForm(w, r, sess, l, http.StatusConflict, f, name, errForm(i18n.Key("calweb.err.move")))
		return false
	case err != nil:
		h.storeError(w, r, err)
		return false
	}
	if err := h.d.Store.Delete(r.Context(), m, f.Calendar, name, calendar.Cond{IfMatch: f.ETag}); err != nil {
		if uerr := h.d.Store.Delete(r.Context(), m, target, name, calendar.Cond{IfMatch: moved.ETag}); uerr != nil {
			h.log.Error("calendar page: a moved event's copy stays", "calendar", target, "name", name, "err", uerr)
		}
		if errors.Is(err, calendar.ErrPrecondition) {
			h.renderForm(w, r, sess, l, http.StatusConflict, f, name, err)
		} else {
			h.storeError(w, r, err)
		}
		return false
	}
	return true
}

// put checks and stores ic; on a refusal it answers and returns false.
func (h *Handler) put(w http.ResponseWriter, r *http.Request, sess auth.Session, l *i18n.Localizer, f form, formName, name string, ic *ical.Calendar, cond calendar.Cond) bool {
	o, err := calendar.Analyse(ic)
	if err != nil {
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, formName, errForm(i18n.Key("calweb.err.invalid")))
		return false
	}
	_, _, err = h.d.Store.Put(r.Context(), memberOf(sess), f.Calendar, name, o, cond)
	switch {
	case err == nil:
		return true
	case errors.Is(err, calendar.ErrPrecondition):
		h.renderForm(w, r, sess, l, http.StatusConflict, f, formName, err)
	case errors.Is(err, calendar.ErrFull):
		h.renderForm(w, r, sess, l, http.StatusBadRequest, f, formName, errForm(i18n.Key("calweb.err.full")))
	default:
		h.storeError(w, r, err)
	}
	return false
}

// remove deletes an event, if it is still the version the page showed.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	slug, name := r.PathValue("cal"), r.PathValue("name")
	etag := r.PostFormValue("etag")
	if inst := r.PostFormValue("instance"); inst != "" && r.PostFormValue("scope") == "this" {
		h.removeInstance(w, r, sess, slug, name, etag, inst)
		return
	}
	err := calendar.ErrPrecondition // no entity tag: never an unconditional delete
	if etag != "" {
		err = h.d.Store.Delete(r.Context(), memberOf(sess), slug, name, calendar.Cond{IfMatch: etag})
	}
	if errors.Is(err, calendar.ErrPrecondition) {
		res, gerr := h.d.Store.Get(r.Context(), memberOf(sess), slug, name)
		if gerr != nil {
			h.storeError(w, r, gerr)
			return
		}
		ic, derr := calendar.Decode(res.Data)
		if derr != nil || master(ic) == nil {
			h.storeError(w, r, calendar.ErrNotFound)
			return
		}
		f := formOf(ic, master(ic), l.Location())
		f.Calendar, f.ETag = slug, etag
		h.renderForm(w, r, sess, l, http.StatusConflict, f, name, calendar.ErrPrecondition)
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mail/calendar?n=deleted", http.StatusSeeOther)
}

func monthURL(t time.Time) string { return "/mail/calendar?m=" + t.Format("2006-01") }

func newUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
