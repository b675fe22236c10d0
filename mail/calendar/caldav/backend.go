package caldav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"github.com/caucus-org/caucus/mail/calendar"
)

// backend is go-webdav's caldav.Backend for one request of one member.
type backend struct {
	store *calendar.Store
	auth  Auth
	m     calendar.Member
	log   *slog.Logger

	// Set by prepare.
	put  *calendar.Object // a PUT's body, parsed and checked
	raw  []byte           // and as it came
	cond calendar.Cond    // a PUT's or DELETE's conditions
}

var (
	_ caldav.SyncBackend                = (*backend)(nil)
	_ caldav.FreeBusyBackend            = (*backend)(nil)
	_ caldav.CalendarUserAddressBackend = (*backend)(nil)
)

func (b *backend) principal() string { return Prefix + "/" + b.m.Login + "/" }
func (b *backend) home() string      { return b.principal() + "calendars/" }

// CurrentUserPrincipal is the member's principal URL (RFC 5397).
func (b *backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return b.principal(), nil
}

// CalendarHomeSetPath is the member's calendar home (RFC 4791 section
// 6.2.1).
func (b *backend) CalendarHomeSetPath(ctx context.Context) (string, error) {
	return b.home(), nil
}

// CalendarUserAddressSet is the member's calendar user address (RFC
// 6638 section 2.4.1): their login address, by which the store's
// scheduling knows them as ORGANIZER or ATTENDEE, and by which Apple
// Calendar tells which attendee of an event is the member.
func (b *backend) CalendarUserAddressSet(ctx context.Context) ([]string, error) {
	return []string{"mailto:" + b.m.Login}, nil
}

// split parses a calendar or object URL of the member: its calendar's
// slug and the object's name ("" for a calendar's URL). Anything else,
// another member's URLs included, is not found.
func (b *backend) split(p string) (slug, name string, err error) {
	rest, ok := strings.CutPrefix(p, b.home())
	if !ok || rest == "" || path.Clean("/"+rest) != "/"+strings.TrimSuffix(rest, "/") {
		return "", "", webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	slug, name, _ = strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	if strings.Contains(name, "/") || (name != "" && strings.HasSuffix(rest, "/")) {
		return "", "", webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	return slug, name, nil
}

func (b *backend) calendarOf(c calendar.Calendar) caldav.Calendar {
	return caldav.Calendar{
		Path:                  b.home() + c.Slug + "/",
		Name:                  c.Name,
		Description:           c.Description,
		MaxResourceSize:       calendar.MaxObjectSize,
		SupportedComponentSet: []string{ical.CompEvent, ical.CompToDo, ical.CompJournal},
		SyncToken:             syncToken(c.ID, c.Seq),
		ReadOnly:              !c.Writable,
	}
}

// syncToken names a calendar's state (RFC 6578 section 3.2: a URI):
// its id and its change number.
func syncToken(id, seq int64) string {
	return fmt.Sprintf("data:,caucus-calendar-%d-%d", id, seq)
}

// parseSyncToken returns the change number of a token of calendar id;
// false for a token of another calendar or no token of caucus's.
func parseSyncToken(tok string, id int64) (int64, bool) {
	var tid, seq int64
	if _, err := fmt.Sscanf(tok, "data:,caucus-calendar-%d-%d", &tid, &seq); err != nil || tid != id || syncToken(tid, seq) != tok {
		return 0, false
	}
	return seq, true
}

// CreateCalendar makes a personal calendar (MKCOL, RFC 5689).
func (b *backend) CreateCalendar(ctx context.Context, cal *caldav.Calendar) error {
	slug, name, err := b.split(cal.Path)
	if err != nil || name != "" {
		return webdav.NewHTTPError(http.StatusForbidden, errors.New("caldav: calendars are made in the calendar home only"))
	}
	_, err = b.store.CreateCalendar(ctx, b.m, slug, cal.Name)
	return b.httpError(err)
}

// ListCalendars lists the member's calendars and its groups'.
func (b *backend) ListCalendars(ctx context.Context) ([]caldav.Calendar, error) {
	cs, err := b.store.Calendars(ctx, b.m)
	if err != nil {
		return nil, b.httpError(err)
	}
	out := make([]caldav.Calendar, 0, len(cs))
	for _, c := range cs {
		out = append(out, b.calendarOf(c))
	}
	return out, nil
}

// GetCalendar returns one calendar the member sees.
func (b *backend) GetCalendar(ctx context.Context, p string) (*caldav.Calendar, error) {
	slug, name, err := b.split(p)
	if err != nil || name != "" {
		return nil, webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	c, err := b.store.Calendar(ctx, b.m, slug)
	if err != nil {
		return nil, b.httpError(err)
	}
	cal := b.calendarOf(c)
	return &cal, nil
}

// object is a stored resource for go-webdav, served as stored (Raw); it
// is decoded only for a filter that reads it.
func (b *backend) object(slug string, r calendar.Resource) caldav.CalendarObject {
	return caldav.CalendarObject{
		Path: b.home() + slug + "/" + r.Name, ModTime: r.Modified, ContentLength: int64(len(r.Data)), ETag: r.ETag, Raw: r.Data,
	}
}

// decoded is object with its Data.
func (b *backend) decoded(slug string, r calendar.Resource) (caldav.CalendarObject, error) {
	o := b.object(slug, r)
	cal, err := calendar.Decode(r.Data)
	if err != nil {
		b.log.Error("caldav: stored object does not decode", "calendar", slug, "name", r.Name, "err", err)
		return caldav.CalendarObject{}, webdav.NewHTTPError(http.StatusInternalServerError, errors.New("caldav: internal error"))
	}
	o.Data = cal
	return o, nil
}

func (b *backend) objects(slug string, rs []calendar.Resource) []caldav.CalendarObject {
	out := make([]caldav.CalendarObject, 0, len(rs))
	for _, r := range rs {
		out = append(out, b.object(slug, r))
	}
	return out
}

// GetCalendarObject returns one resource (GET, and each href of a
// calendar-multiget).
func (b *backend) GetCalendarObject(ctx context.Context, p string, req *caldav.CalendarCompRequest) (*caldav.CalendarObject, error) {
	slug, name, err := b.split(p)
	if err != nil || name == "" {
		return nil, webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	r, err := b.store.Get(ctx, b.m, slug, name)
	if err != nil {
		return nil, b.httpError(err)
	}
	o := b.object(slug, r)
	return &o, nil
}

// ListCalendarObjects lists a calendar's resources (PROPFIND, Depth: 1).
func (b *backend) ListCalendarObjects(ctx context.Context, p string, req *caldav.CalendarCompRequest) ([]caldav.CalendarObject, error) {
	slug, name, err := b.split(p)
	if err != nil || name != "" {
		return nil, webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	rs, err := b.store.List(ctx, b.m, slug)
	if err != nil {
		return nil, b.httpError(err)
	}
	return b.objects(slug, rs), nil
}

// QueryCalendarObjects answers a calendar-query (RFC 4791 section 7.8):
// the time range of the query's component filter selects the candidates
// by the store's index and then by calendar.Overlaps, whose expansion of
// recurrences is bounded; the rest of the filter is go-webdav's Match,
// without time ranges (its own expands recurrences without bound). An
// object whose indexed range is exact (calendar.Object.Simple), asked
// for by a filter of component names and a time range only (what clients
// send), is answered without being decoded.
func (b *backend) QueryCalendarObjects(ctx context.Context, p string, q *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	slug, name, err := b.split(p)
	if err != nil || name != "" {
		return nil, webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	start, end, ranged := timeRange(q.CompFilter)
	var rs []calendar.Resource
	if ranged {
		rs, err = b.store.InRange(ctx, b.m, slug, start, end)
	} else {
		rs, err = b.store.List(ctx, b.m, slug)
	}
	if err != nil {
		return nil, b.httpError(err)
	}
	filter := withoutTimeRanges(q.CompFilter)
	comp, plain := plainFilter(filter)
	var out []caldav.CalendarObject
	tzs := calendar.NewZoneCache()
	for _, r := range rs {
		if comp != "" && r.Component != comp {
			continue
		}
		if plain && (!ranged || r.Simple) {
			out = append(out, b.object(slug, r))
			continue
		}
		o, err := b.decoded(slug, r)
		if err != nil {
			return nil, err
		}
		if ranged && !tzs.Overlaps(o.Data, start, end) {
			continue
		}
		if ok, err := caldav.Match(filter, &o); err != nil || !ok {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// plainFilter reports whether a filter (its time ranges taken out) names
// components only: VCALENDAR, and at most one component in it, returned.
func plainFilter(f caldav.CompFilter) (comp string, plain bool) {
	if f.Name != ical.CompCalendar || f.IsNotDefined || len(f.Props) > 0 || len(f.Comps) > 1 {
		return "", false
	}
	if len(f.Comps) == 0 {
		return "", true
	}
	c := f.Comps[0]
	if c.IsNotDefined || len(c.Props) > 0 || len(c.Comps) > 0 {
		return "", false
	}
	return c.Name, true
}

// timeRange returns the time range of the query's filter on VCALENDAR's
// components (VEVENT, VTODO): the one clients send.
func timeRange(f caldav.CompFilter) (start, end time.Time, ok bool) {
	for _, c := range f.Comps {
		if !c.Start.IsZero() || !c.End.IsZero() {
			return c.Start, c.End, true
		}
	}
	return time.Time{}, time.Time{}, false
}

func withoutTimeRanges(f caldav.CompFilter) caldav.CompFilter {
	f.Start, f.End = time.Time{}, time.Time{}
	comps := make([]caldav.CompFilter, len(f.Comps))
	for i, c := range f.Comps {
		comps[i] = withoutTimeRanges(c)
	}
	f.Comps = comps
	return f
}

// SyncCalendar answers a sync-collection REPORT (RFC 6578): what changed
// since the token's change number. The store keeps a tombstone of every
// deletion, so every token the calendar gave stays valid.
func (b *backend) SyncCalendar(ctx context.Context, p, token string, limit int) (*caldav.SyncResponse, error) {
	slug, name, err := b.split(p)
	if err != nil || name != "" {
		return nil, webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	}
	c, err := b.store.Calendar(ctx, b.m, slug)
	if err != nil {
		return nil, b.httpError(err)
	}
	var since int64
	if token != "" {
		var ok bool
		if since, ok = parseSyncToken(token, c.ID); !ok {
			return nil, caldav.NewValidSyncTokenError()
		}
	}
	ch, err := b.store.ChangesSince(ctx, b.m, slug, since)
	if errors.Is(err, calendar.ErrBadToken) {
		return nil, caldav.NewValidSyncTokenError()
	} else if err != nil {
		return nil, b.httpError(err)
	}
	if limit > 0 && len(ch.Updated)+len(ch.Deleted) > limit {
		return nil, caldav.NewNumberOfMatchesError()
	}
	res := &caldav.SyncResponse{SyncToken: syncToken(c.ID, ch.Seq), Updated: b.objects(slug, ch.Updated)}
	for _, n := range ch.Deleted {
		res.Deleted = append(res.Deleted, b.home()+slug+"/"+n)
	}
	return res, nil
}

// FreeBusy answers a free-busy-query (RFC 4791 section 7.10) on one of
// the member's calendars, or on the personal calendar of a member who
// shares a group with it (/caldav/<login>/calendars/personal/): busy
// periods only, no summary, place or attendee.
func (b *backend) FreeBusy(ctx context.Context, p string, start, end time.Time) (*ical.Calendar, error) {
	notFound := webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	rest, ok := strings.CutPrefix(p, Prefix+"/")
	login, rest, ok2 := strings.Cut(rest, "/calendars/")
	slug, tail, _ := strings.Cut(rest, "/")
	if !ok || !ok2 || login == "" || strings.Contains(login, "/") || tail != "" {
		return nil, notFound
	}
	owner := b.m.ID
	if login != b.m.Login {
		a, err := b.auth.AccountByLogin(ctx, login)
		if err != nil {
			return nil, notFound
		}
		owner = a.ID
	}
	periods, err := b.store.BusyIn(ctx, b.m, owner, slug, start, end)
	if err != nil {
		return nil, b.httpError(err)
	}
	return freeBusyCalendar(periods, start, end, time.Now()), nil
}

// freeBusyCalendar is the VCALENDAR of a free-busy answer: one
// VFREEBUSY with a FREEBUSY period per busy span (RFC 5545 section
// 3.6.4).
func freeBusyCalendar(periods []calendar.Period, start, end, now time.Time) *ical.Calendar {
	const utc = "20060102T150405Z"
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//caucus//calendar//EN")
	fb := ical.NewComponent(ical.CompFreeBusy)
	fb.Props.SetText(ical.PropUID, fmt.Sprintf("freebusy-%d-%d", start.Unix(), end.Unix()))
	fb.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
	fb.Props.SetDateTime(ical.PropDateTimeStart, start.UTC())
	if !end.IsZero() {
		fb.Props.SetDateTime(ical.PropDateTimeEnd, end.UTC())
	}
	for _, p := range periods {
		prop := ical.NewProp(ical.PropFreeBusy)
		prop.Params.Set(ical.ParamFreeBusyType, "BUSY")
		prop.Value = p.Start.UTC().Format(utc) + "/" + p.End.UTC().Format(utc)
		fb.Props.Add(prop)
	}
	cal.Children = append(cal.Children, fb)
	return cal
}

// PutCalendarObject stores the body prepare parsed. The ETag is returned
// only when the stored form is the body byte for byte (RFC 4791 section
// 5.3.4): otherwise the client must fetch what was stored.
func (b *backend) PutCalendarObject(ctx context.Context, p string, _ *ical.Calendar, _ *caldav.PutCalendarObjectOptions) (*caldav.CalendarObject, error) {
	slug, name, err := b.split(p)
	if err != nil || name == "" || b.put == nil {
		return nil, webdav.NewHTTPError(http.StatusForbidden, errors.New("caldav: objects are stored in a calendar"))
	}
	r, _, err := b.store.Put(ctx, b.m, slug, name, b.put, b.cond)
	if err != nil {
		return nil, b.httpError(err)
	}
	co := &caldav.CalendarObject{Path: b.home() + slug + "/" + name, ModTime: r.Modified, ContentLength: int64(len(r.Data))}
	if bytes.Equal(r.Data, b.raw) {
		co.ETag = r.ETag
	}
	return co, nil
}

// DeleteCalendarObject deletes one resource under the request's
// conditions.
func (b *backend) DeleteCalendarObject(ctx context.Context, p string) error {
	slug, name, err := b.split(p)
	if err != nil || name == "" {
		return webdav.NewHTTPError(http.StatusForbidden, errors.New("caldav: calendars are not deleted over CalDAV"))
	}
	return b.httpError(b.store.Delete(ctx, b.m, slug, name, b.cond))
}

// httpError maps the store's and the parser's errors to HTTP statuses
// and CalDAV preconditions (RFC 4791 section 5.3.2.1); the client gets a
// generic text, the log the detail of a server-side failure.
func (b *backend) httpError(err error) error {
	var pre caldav.PreconditionType
	switch {
	case err == nil:
		return nil
	case errors.Is(err, calendar.ErrNotFound):
		return webdav.NewHTTPError(http.StatusNotFound, errors.New("caldav: not found"))
	case errors.Is(err, calendar.ErrReadOnly):
		return webdav.NewHTTPError(http.StatusForbidden, errors.New("caldav: this calendar is read-only"))
	case errors.Is(err, calendar.ErrPrecondition):
		return webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("caldav: precondition failed"))
	case errors.Is(err, calendar.ErrExists):
		return webdav.NewHTTPError(http.StatusMethodNotAllowed, errors.New("caldav: a calendar with this name exists"))
	case errors.Is(err, calendar.ErrBadName):
		return webdav.NewHTTPError(http.StatusForbidden, errors.New("caldav: invalid name"))
	case errors.Is(err, calendar.ErrFull):
		return webdav.NewHTTPError(http.StatusInsufficientStorage, errors.New("caldav: too many calendars or objects"))
	case errors.Is(err, calendar.ErrTooLarge):
		return webdav.NewHTTPError(http.StatusRequestEntityTooLarge, errors.New("caldav: object too large"))
	case errors.Is(err, calendar.ErrUIDConflict):
		pre = caldav.PreconditionNoUIDConflict
	case errors.Is(err, calendar.ErrMaxInstances):
		pre = caldav.PreconditionMaxInstances
	case errors.Is(err, calendar.ErrInvalid):
		pre = caldav.PreconditionValidCalendarData
	default:
		b.log.Error("caldav: store", "err", err)
		return webdav.NewHTTPError(http.StatusInternalServerError, errors.New("caldav: internal error"))
	}
	b.log.Debug("caldav: refused", "precondition", pre, "err", err)
	return caldav.NewPreconditionError(pre)
}
