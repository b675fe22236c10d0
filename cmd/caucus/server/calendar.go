package server

import (
	"net/http"

	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/caldav"
	"github.com/caucus-org/caucus/mail/contacts"
)

// buildCalendars adds calendars to the mux: the store (mail/calendar),
// CalDAV at /caldav/ and its discovery at /.well-known/caldav.
func (s *Server) buildCalendars(mux *http.ServeMux, store *calendar.Store) {
	caldav.New(store, s.auth, s.stats, s.log.With("component", "caldav")).Register(mux)
}

// newCalendarStores makes the calendar and contacts stores, which the
// console (group calendars and books), CalDAV, CardDAV, their pages and
// the importer (Takeout) share.
func (s *Server) newCalendarStores() (*calendar.Store, *contacts.Store) {
	cals := calendar.New(s.db, s.auth, s.audit, s.deps.Now, s.log.With("component", "calendar"))
	books := contacts.New(s.db, contacts.Deps{Auth: s.auth, Log: s.log.With("component", "contacts"), Now: s.deps.Now})
	return cals, books
}
