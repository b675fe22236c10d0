// Package calweb serves the calendars in the browser under
// /mail/calendar: a month view (the default), a week view with the hours
// of each day (seven days, or three or one on a phone), and an agenda of
// the next 30 days, with the member's own calendars and every group
// calendar the member sees, each in its colour, recurring events expanded
// within the days shown (mail/calendar's bounded expansion, RFC 5545
// section 3.8.5); and a form to create, change and delete an event (RFC
// 5545 section 3.6.1) in a calendar the member writes: title, times,
// place, description, attendees (ATTENDEE, ORGANIZER, section 3.8.4), a
// reminder (VALARM, section 3.6.6) and a recurrence (RRULE, section
// 3.3.10). One instance of a series is changed alone as a RECURRENCE-ID
// override (section 3.8.4.4) or deleted alone as an EXDATE (section
// 3.8.5.1). What the form does not show stays as another client wrote it.
// An .ics file a member uploads becomes a new calendar of theirs
// (importics.go).
//
// Safety: every page needs a full session (login.Handler.Require); every
// read and write goes through mail/calendar's member-scoped calls, so a
// calendar or an event of someone else answers 404, as a missing one
// does, and a read-only group calendar refuses writes (403). Every change
// is a POST carrying the session's CSRF token, answered by a redirect
// with a one-time notice (Post/Redirect/Get). A change or a deletion
// names the entity tag of the version the form showed and is refused
// when the event changed since (the store's If-Match, RFC 9110 section
// 13.1.1): nothing is overwritten unseen. The pages load nothing from
// outside; their one script (static/calendar.js) completes the attendee
// field from the member's address books (GET /mail/calendar/people), and
// the form works without it.
package calweb

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits.
const (
	AgendaDays     = 30       // days the agenda shows
	MaxForm        = 64 << 10 // request body of the event form
	MaxTitle       = 500      // bytes of a title or a place
	MaxDescription = 8000     // bytes of a description
	MaxShown       = 3000     // event instances one page shows
	colours        = 8        // calendar colours in the stylesheet
)

// Store is what the pages read and change of the calendars
// (*calendar.Store); every call is scoped to the member who asks.
type Store interface {
	Calendars(ctx context.Context, m calendar.Member) ([]calendar.Calendar, error)
	Calendar(ctx context.Context, m calendar.Member, slug string) (calendar.Calendar, error)
	Get(ctx context.Context, m calendar.Member, slug, name string) (calendar.Resource, error)
	InRange(ctx context.Context, m calendar.Member, slug string, start, end time.Time) ([]calendar.Resource, error)
	Put(ctx context.Context, m calendar.Member, slug, name string, o *calendar.Object, cond calendar.Cond) (calendar.Resource, bool, error)
	Delete(ctx context.Context, m calendar.Member, slug, name string, cond calendar.Cond) error
}

// Guard lets through requests with a full session and says which
// language and time zone a request's pages are written in
// (*login.Handler).
type Guard interface {
	Require(next http.Handler) http.Handler
	Localizer(r *http.Request) *i18n.Localizer
	Party() ui.Party
}

// Deps are what the pages work with.
type Deps struct {
	Store Store
	// People, if set, completes the attendee field from the member's
	// address books.
	People People
	Login  Guard
	Log    *slog.Logger
	Now    func() time.Time

	// Invites, if set, serves the invitations page (invite.go).
	Invites Invites
	// Import, if set, serves the import page (importics.go); Store's,
	// when it has one and Import is nil.
	Import Importer
}

// Handler serves the calendar pages.
type Handler struct {
	d     Deps
	log   *slog.Logger
	pages *ui.Pages
	// maxShown is MaxShown, lower in tests.
	maxShown int
	// prefilter skips parsing the cards whose text lacks a word asked
	// for (attendee completion); off only in its benchmark's peer.
	prefilter bool

	// importing holds the accounts whose import runs (importFile): one
	// at a time each, since a file of MaxImportBytes, decoded, takes
	// hundreds of MB.
	importMu  sync.Mutex
	importing map[int64]bool
}

// New builds the calendar pages.
func New(d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Import == nil {
		d.Import, _ = d.Store.(Importer)
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(d.Login.Party())
	return &Handler{d: d, log: d.Log, pages: p, maxShown: MaxShown, prefilter: true, importing: map[int64]bool{}}, nil
}

// Register adds the routes to mux, all behind sign-in.
func (h *Handler) Register(mux *http.ServeMux) {
	user := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.d.Login.Require(login.WithSession(fn)))
	}
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, iweb.WithMaxBody(h.d.Login.Require(login.Action(fn)), MaxForm))
	}
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/mail/calendar/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /mail/calendar/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		assets.ServeHTTP(w, r)
	})
	user("GET /mail/calendar", h.month)
	user("GET /mail/calendar/agenda", h.agenda)
	user("GET /mail/calendar/week", h.week)
	user("GET /mail/calendar/people", h.people)
	user("GET /mail/calendar/new", h.newEvent)
	post("POST /mail/calendar/new", h.create)
	user("GET /mail/calendar/event/{cal}/{name}", h.event)
	post("POST /mail/calendar/event/{cal}/{name}", h.update)
	post("POST /mail/calendar/event/{cal}/{name}/delete", h.remove)
	h.registerInvites(user, post)
	h.registerImport(mux, user)
}

func memberOf(sess auth.Session) calendar.Member {
	return calendar.Member{ID: sess.Account.ID, Login: sess.Account.Login}
}

// notices are the one-time notices a redirect after an action names
// (?n=name): the page shows the catalogue's message, nothing a link could
// inject.
var notices = map[string]string{
	"created": i18n.Key("calweb.notice.created"),
	"saved":   i18n.Key("calweb.notice.saved"),
	"deleted": i18n.Key("calweb.notice.deleted"),
}

// base is the layout's data for a page, with the notice the URL names.
func (h *Handler) base(r *http.Request, sess auth.Session, l *i18n.Localizer, title string) ui.Base {
	b := ui.Base{Title: title, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin(), L: l}
	if key, ok := notices[r.URL.Query().Get("n")]; ok {
		b.Notice = l.T(key) // i18n:keyed
	}
	return b
}

// storeError answers a store error: 404 for what the member does not
// see, 403 for a read-only calendar, 500 (logged) for the rest.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, calendar.ErrNotFound), errors.Is(err, calendar.ErrBadName):
		iweb.Error(w, r, http.StatusNotFound)
	case errors.Is(err, calendar.ErrReadOnly):
		iweb.Error(w, r, http.StatusForbidden)
	default:
		if r.Context().Err() == nil {
			h.log.Error("calendar page", "path", r.URL.Path, "err", err)
		}
		iweb.Error(w, r, http.StatusInternalServerError)
	}
}

// render writes a page; a template error is logged.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	if err := h.pages.Render(w, code, name, data); err != nil {
		h.storeError(w, r, err)
	}
}
