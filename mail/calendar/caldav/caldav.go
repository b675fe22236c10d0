// Package caldav serves the calendar store (mail/calendar) over CalDAV
// (RFC 4791) at /caldav/: calendar-query, calendar-multiget,
// free-busy-query, MKCALENDAR, sync-collection (RFC 6578) and discovery
// by /.well-known/caldav (RFC 6764 section 5). PROPPATCH refuses each
// property (403): calendars' names are set when they are made. It is go-webdav's caldav
// server (patched, see internal/third_party/go-webdav/PATCHES) over a
// backend bound to the member who signed in. The store schedules the
// events written here (RFC 6638 section 3.2, implicit scheduling; see
// mail/calendar's Scheduling for the subset), which the DAV header
// advertises as calendar-auto-schedule; there is no schedule-inbox or
// schedule-outbox collection. A member's URLs are:
//
//	/caldav/<login>/                          principal (RFC 4791 section 6.2)
//	/caldav/<login>/calendars/                calendar home set
//	/caldav/<login>/calendars/personal/       the personal calendar
//	/caldav/<login>/calendars/group-<id>/     each group's calendar
//	/caldav/<login>/calendars/<slug>/<name>   one calendar object resource
//
// Another member's URLs answer 404, as do a group's calendar to who is not
// in the group, whatever href a REPORT names; the one exception is a
// free-busy-query (RFC 4791 section 7.10) on the personal calendar of a
// member who shares a group with the one asking, which answers busy
// periods only.
//
// Clients sign in with HTTP Basic authentication (RFC 7617) and an app
// password of scope calendar only. Every request runs under the auth
// revocation hub: revoking the app password or suspending the account
// cuts it at once (its read and write deadlines are moved into the past),
// and the next request is refused.
//
// Bounds: a PUT body is at most calendar.MaxObjectSize (413 past it,
// before the body is read when Content-Length says so), and it is parsed
// and checked by mail/calendar before go-webdav sees it; XML bodies are at
// most MaxXMLBody; PROPFIND with Depth: infinity is refused (403,
// propfind-finite-depth, as files/dav does); every read and write has an
// idle deadline.
package caldav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/emersion/go-webdav/caldav"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

// Limits and places.
const (
	Prefix     = "/caldav" // where the handler is mounted
	MaxXMLBody = 1 << 20   // PROPFIND, REPORT, MKCOL and PROPPATCH bodies
	WellKnown  = "/.well-known/caldav"
)

// Auth is what CalDAV needs of auth: check app passwords and register
// requests with the revocation hub. *auth.Service is one.
type Auth interface {
	AppPassword(ctx context.Context, login, secret string, scope auth.Scope, c auth.Client) (auth.Grant, error)
	Connect(parent context.Context, g auth.Grant) (context.Context, func())
	AccountByLogin(ctx context.Context, login string) (auth.Account, error) // whose free-busy time is asked
}

// Handler serves CalDAV. Build it with New.
type Handler struct {
	store *calendar.Store
	auth  Auth
	gate  *connauth.Gate
	log   *slog.Logger
}

// New returns a handler serving store to the accounts of svc; sign-ins
// are counted in stats, which may be nil.
func New(store *calendar.Store, svc Auth, stats *metrics.Set, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gate := connauth.New(connauth.Config{Proto: "caldav", Scope: auth.ScopeCalendar, Metrics: stats, Log: log}, svc)
	return &Handler{store: store, auth: svc, gate: gate, log: log}
}

// Register mounts the handler at /caldav/ on mux, and the discovery
// redirect at /.well-known/caldav (RFC 6764 section 5).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Prefix+"/", web.WithMaxBody(h, calendar.MaxObjectSize+1))
	mux.Handle(Prefix, http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
	mux.Handle(WellKnown, http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
}

// Shutdown cuts every request in flight.
func (h *Handler) Shutdown() { h.gate.Shutdown() }

// realm asks for a calendar app password.
var realm = connauth.BasicRealm{Realm: "caucus calendars", Hint: "sign in with a calendar app password"}

// ServeHTTP signs the request in and serves it under the account's
// revocation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	gc := h.gate.SignInBasic(w, r, web.ClientAddr(r), realm)
	if gc == nil {
		return
	}
	defer gc.Close()
	ctx, acct, log := gc.Context(), gc.Account, gc.Log
	dl := web.NewDeadlines(ctx, w)
	defer dl.Stop()
	web.SlideReads(dl, r)
	dl.Reading()
	dl.Writing()
	b := &backend{store: h.store, auth: h.auth, m: calendar.Member{ID: acct.ID, Login: acct.Login}, log: log}
	// Another member's principal, home or calendars are not found, but
	// for a free-busy-query (see backend.FreeBusy).
	foreign := r.URL.Path != Prefix+"/" && !strings.HasPrefix(r.URL.Path, b.principal())
	if foreign && r.Method != "REPORT" {
		http.NotFound(w, r)
		return
	}
	if !h.prepare(w, r, b) {
		return
	}
	if foreign && !isFreeBusyQuery(r) {
		http.NotFound(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: web.SlideWrites(dl, w), log: log, r: r, autoSchedule: h.store.Schedules()}
	ch := caldav.Handler{Backend: b, Prefix: Prefix}
	ch.ServeHTTP(sw, r.WithContext(ctx))
}

// prepare checks and reads what go-webdav would take unbounded: a PUT's
// body (parsed here, see calendar.Parse), XML bodies, PROPFIND's depth,
// a DELETE's conditions. It answers the request itself and returns false
// when it refuses it.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request, b *backend) bool {
	switch r.Method {
	case http.MethodPut:
		return h.preparePut(w, r, b)
	case http.MethodDelete:
		b.cond = condOf(r)
		return true
	case "PROPFIND":
		if d := r.Header.Get("Depth"); d == "" || strings.EqualFold(d, "infinity") {
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxXMLBody))
	if err != nil {
		http.Error(w, "request body too large or cut short", http.StatusRequestEntityTooLarge)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

func (h *Handler) preparePut(w http.ResponseWriter, r *http.Request, b *backend) bool {
	if r.ContentLength > calendar.MaxObjectSize {
		tooLarge(w)
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, calendar.MaxObjectSize+1))
	if err != nil {
		http.Error(w, "request body cut short", http.StatusBadRequest)
		return false
	}
	if len(raw) > calendar.MaxObjectSize {
		tooLarge(w)
		return false
	}
	o, err := calendar.Parse(raw)
	if err != nil {
		h.refuse(w, b, err)
		return false
	}
	b.put, b.raw, b.cond = o, raw, condOf(r)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return true
}

// isFreeBusyQuery reports whether a REPORT's body (read by prepare) is
// a CALDAV:free-busy-query.
func isFreeBusyQuery(r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Space == "urn:ietf:params:xml:ns:caldav" && se.Name.Local == "free-busy-query"
		}
	}
}

// refuse answers a PUT whose body calendar.Parse refused: 413 for its
// size, else 403 with the precondition it fails (RFC 4791 section
// 5.3.2.1), the reason in the log only.
func (h *Handler) refuse(w http.ResponseWriter, b *backend, err error) {
	if errors.Is(err, calendar.ErrTooLarge) {
		tooLarge(w)
		return
	}
	pre := "valid-calendar-data"
	if errors.Is(err, calendar.ErrMaxInstances) {
		pre = "max-instances"
	}
	b.log.Debug("caldav: calendar object refused", "err", err)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:`+pre+`/></D:error>`)
}

// tooLarge answers 413 with the max-resource-size precondition (RFC 4791
// section 5.3.2.1).
func tooLarge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:max-resource-size/></D:error>`)
}

// condOf reads If-Match and If-None-Match (RFC 9110 section 13.1): one
// entity tag or "*"; a list, or a weak tag, never matches a strong
// comparison, so it is kept as it is and fails.
func condOf(r *http.Request) calendar.Cond {
	return calendar.Cond{IfMatch: unquote(r.Header.Get("If-Match")), IfNoneMatch: unquote(r.Header.Get("If-None-Match"))}
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v[1:len(v)-1], `"`) {
		return v[1 : len(v)-1]
	}
	return v
}

// statusWriter logs the requests that fail on the server's side; the
// client sees go-webdav's generic text.
type statusWriter struct {
	http.ResponseWriter
	log *slog.Logger
	r   *http.Request
	// autoSchedule adds calendar-auto-schedule to go-webdav's DAV
	// header (RFC 6638 section 2): the store schedules.
	autoSchedule bool
}

func (w *statusWriter) WriteHeader(code int) {
	if dav := w.Header().Get("DAV"); w.autoSchedule && strings.Contains(dav, "calendar-access") {
		w.Header().Set("DAV", dav+", calendar-auto-schedule")
	}
	if code >= 500 {
		w.log.Warn("caldav: request failed", "method", w.r.Method, "path", w.r.URL.Path, "status", code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
