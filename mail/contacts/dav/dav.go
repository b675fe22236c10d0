// Package dav serves the address books of package contacts over CardDAV
// (RFC 6352) at /carddav/, for phones' and desktops' own contact apps
// (iOS, DAVx5 on Android, Thunderbird, vdirsyncer), with go-webdav's
// carddav.Handler over a Backend that is the store as one member sees it.
//
// URLs (RFC 6352 section 7, RFC 6764 for discovery):
//
//	/.well-known/carddav                     redirect to /carddav/
//	/carddav/                                DAV:current-user-principal
//	/carddav/<login>/                        the member's principal
//	/carddav/<login>/books/                  CARDDAV:addressbook-home-set
//	/carddav/<login>/books/contacts/         the member's own book
//	/carddav/<login>/books/group-<group>/    a group's shared book
//	/carddav/<login>/books/directory/        the party directory (read-only)
//	/carddav/<login>/books/<book>/<name>     one vCard
//
// A path under another member's login answers 404, as a book the member
// does not see does; writes to the directory or a read-only group book
// answer 403. Reports: addressbook-query, addressbook-multiget and
// sync-collection (RFC 6578, through the SyncBackend of caucus's patched
// go-webdav). Every PUT and DELETE honours If-Match and If-None-Match
// (412).
//
// Clients sign in with HTTP Basic authentication (RFC 7617) and an app
// password of scope calendar (calendars and contacts) or all; every
// request runs under the auth revocation hub, as WebDAV's do (see
// files/dav): revoking the password or the account cuts a request in
// flight and refuses the next. Bounds: a vCard of at most
// contacts.MaxCardBytes (413 above, before the body is read when
// Content-Length says so), XML bodies of at most MaxXMLBody, PROPFIND
// with a finite Depth only, an idle deadline on every read and write.
package dav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/contacts"
)

// Limits and places.
const (
	MaxXMLBody = 1 << 20    // PROPFIND, PROPPATCH and REPORT bodies
	Prefix     = "/carddav" // where the handler is mounted
	WellKnown  = "/.well-known/carddav"
	homeSeg    = "books"
)

// Auth is what CardDAV needs of auth: check app passwords and register
// requests with the revocation hub. *auth.Service is one.
type Auth = connauth.Checker

// Handler serves CardDAV. Build it with New.
type Handler struct {
	store *contacts.Store
	gate  *connauth.Gate
	log   *slog.Logger
	dav   *carddav.Handler
	lang  string // the party's language
}

// New returns a handler serving store to the accounts of svc. Sign-ins
// are counted in stats, which may be nil. An account may have
// connauth.DefaultMaxConnsPerAccount requests in flight; more are
// answered 429. Books are named in each member's language, else in lang,
// the party's.
func New(store *contacts.Store, svc Auth, stats *metrics.Set, log *slog.Logger, lang string) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gate := connauth.New(connauth.Config{Proto: "carddav", Scope: auth.ScopeCalendar, Metrics: stats, Log: log}, svc)
	h := &Handler{store: store, gate: gate, log: log, lang: lang}
	h.dav = &carddav.Handler{Backend: &backend{store: store, log: log}, Prefix: Prefix}
	return h
}

// Register mounts the handler at /carddav/ and the discovery redirect at
// /.well-known/carddav on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	// /carddav is served, not redirected: a 301 would turn a client's
	// PROPFIND into a GET.
	mux.Handle(Prefix+"/", web.WithMaxBody(h, contacts.MaxCardBytes+MaxXMLBody))
	mux.Handle(Prefix, web.WithMaxBody(h, contacts.MaxCardBytes+MaxXMLBody))
	// RFC 6764 section 5: the well-known URI redirects to the context
	// path, where PROPFIND finds the principal once signed in.
	mux.Handle(WellKnown, http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
	mux.Handle(WellKnown+"/", http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
}

// Shutdown cancels every request in flight.
func (h *Handler) Shutdown() { h.gate.Shutdown() }

// realm asks for a calendar app password (which opens contacts too).
var realm = connauth.BasicRealm{Realm: "caucus contacts", Hint: "sign in with a calendar app password"}

// ServeHTTP authenticates the request and serves it under the account's
// revocation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	gc := h.gate.SignInBasic(w, r, web.ClientAddr(r), realm)
	if gc == nil {
		return
	}
	defer gc.Close()
	ctx, log := gc.Context(), gc.Log
	dl := web.NewDeadlines(ctx, w)
	defer dl.Stop()
	web.SlideReads(dl, r)
	w = web.SlideWrites(dl, w)
	logEnd := context.AfterFunc(ctx, func() {
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
			log.Info("carddav: request cut", "method", r.Method, "cause", cause)
		}
	})
	defer logEnd()
	member := contacts.MemberOf(gc.Account)
	if !own(r, member) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method == "MKCOL" {
		http.Error(w, "address books are made by caucus: the member's own, one per group and the directory", http.StatusForbidden)
		return
	}
	if !h.bound(w, r) {
		return
	}
	bundle := i18n.Builtin()
	l := bundle.Localizer(bundle.Pick(gc.Account.Language, r.Header.Get("Accept-Language"), h.lang), nil)
	req := &request{l: l, member: member, cond: contacts.Cond{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}}
	h.dav.ServeHTTP(w, r.WithContext(context.WithValue(ctx, requestKey{}, req)))
}

// own reports whether r's path is the context path or under m's
// principal, and gives a collection's path its trailing slash, as
// go-webdav compares paths as strings. Other members' principals and
// home sets are not found, like their books.
func own(r *http.Request, m contacts.Member) bool {
	clean := path.Clean(r.URL.Path)
	if clean == Prefix {
		return true
	}
	rest, ok := strings.CutPrefix(clean, principal(m))
	if !ok {
		if clean+"/" != principal(m) {
			return false
		}
		rest = ""
	}
	if depth := strings.Count(rest, "/"); rest == "" || rest == homeSeg || depth == 1 && strings.HasPrefix(rest, homeSeg+"/") {
		clean += "/" // the principal, the home set, a book
	}
	r.URL.Path, r.URL.RawPath = clean, ""
	return true
}

// bound applies the request's limits, and checks a PUT's vCard before
// go-webdav reads it, so that a refused card gets caucus's clear error and
// its size limit its own status. It reports whether to go on.
func (h *Handler) bound(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodPut:
		if r.ContentLength > contacts.MaxCardBytes {
			http.Error(w, fmt.Sprintf("a vCard may have at most %d bytes", contacts.MaxCardBytes), http.StatusRequestEntityTooLarge)
			return false
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, contacts.MaxCardBytes))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("a vCard may have at most %d bytes", contacts.MaxCardBytes), http.StatusRequestEntityTooLarge)
			return false
		}
		if err != nil {
			http.Error(w, "request body cut short", http.StatusBadRequest)
			return false
		}
		if _, err := contacts.Parse(b); err != nil {
			http.Error(w, err.Error(), status(err))
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	case "PROPFIND":
		// RFC 4918 section 9.1: no Depth means infinity.
		if d := r.Header.Get("Depth"); d == "" || strings.EqualFold(d, "infinity") {
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxXMLBody)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, MaxXMLBody)
	}
	return true
}

// requestKey is the context key of a request's *request.
type requestKey struct{}

// request is what the backend needs of the HTTP request: who asks, and
// the preconditions (go-webdav passes them to PUT, not to DELETE).
type request struct {
	l      *i18n.Localizer // names the books
	member contacts.Member
	cond   contacts.Cond
	books  map[string]contacts.Book // looked up by this request (a multiget reads one book many times)
}

// book returns the book slug as the request's member sees it, looked up
// once per request.
func (req *request) book(ctx context.Context, store *contacts.Store, slug string) (contacts.Book, error) {
	if b, ok := req.books[slug]; ok {
		return b, nil
	}
	b, err := store.Book(ctx, req.member, slug)
	if err != nil {
		return b, err
	}
	if req.books == nil {
		req.books = map[string]contacts.Book{}
	}
	req.books[slug] = b
	return b, nil
}

func requestOf(ctx context.Context) (*request, error) {
	req, ok := ctx.Value(requestKey{}).(*request)
	if !ok {
		return nil, webdav.NewHTTPError(http.StatusUnauthorized, errors.New("not signed in"))
	}
	return req, nil
}

// status is the HTTP status of a store error the client caused, 0 for
// others.
func status(err error) int {
	switch {
	case errors.Is(err, contacts.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, contacts.ErrInvalid):
		return http.StatusBadRequest
	}
	return 0
}

// toHTTP turns a store error into the answer of CardDAV; errors that are
// not the client's are logged and answered with a generic text.
func toHTTP(err error, log *slog.Logger) error {
	switch {
	case err == nil:
		return nil
	case status(err) != 0:
		return webdav.NewHTTPError(status(err), err)
	case errors.Is(err, contacts.ErrNotFound):
		return webdav.NewHTTPError(http.StatusNotFound, errors.New("not found"))
	case errors.Is(err, contacts.ErrReadOnly):
		return webdav.NewHTTPError(http.StatusForbidden, errors.New("this address book is read-only"))
	case errors.Is(err, contacts.ErrPrecondition):
		return webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("the resource changed (If-Match or If-None-Match)"))
	case errors.Is(err, contacts.ErrUIDConflict):
		return carddav.NewPreconditionError(carddav.PreconditionNoUIDConflict)
	case errors.Is(err, contacts.ErrBadToken):
		return carddav.NewInvalidSyncTokenError()
	case errors.Is(err, contacts.ErrFull):
		// RFC 4918 section 11.5.
		return webdav.NewHTTPError(http.StatusInsufficientStorage, errors.New("this address book is full"))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return webdav.NewHTTPError(http.StatusServiceUnavailable, errors.New("request cut"))
	}
	log.Error("carddav: store", "err", err)
	return webdav.NewHTTPError(http.StatusInternalServerError, errors.New("internal error"))
}

// target is what a path names.
type target struct {
	book string // slug, "" for the home set or above
	name string // card name, "" for a book
}

// parsePath reads a path under the member's home set. Anything else (a
// path under another login, too deep, outside the prefix) is ErrNotFound.
func parsePath(p string, m contacts.Member) (target, error) {
	rest, ok := strings.CutPrefix(path.Clean(p), Prefix+"/")
	if !ok {
		return target{}, contacts.ErrNotFound
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || !strings.EqualFold(parts[0], m.Login) || parts[1] != homeSeg {
		return target{}, contacts.ErrNotFound
	}
	switch len(parts) {
	case 2:
		return target{}, nil
	case 3:
		return target{book: parts[2]}, nil
	case 4:
		return target{book: parts[2], name: parts[3]}, nil
	}
	return target{}, contacts.ErrNotFound
}

func principal(m contacts.Member) string { return Prefix + "/" + m.Login + "/" }
func home(m contacts.Member) string      { return principal(m) + homeSeg + "/" }

// parseCard reads stored data back into a card for go-webdav.
func parseCard(data []byte) (vcard.Card, error) {
	return vcard.NewDecoder(bytes.NewReader(data)).Decode()
}
