package server

import (
	"net/http"

	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/caldav"
)

// buildCalendars adds calendars to the mux: the store (mail/calendar),
// CalDAV at /caldav/ and its discovery at /.well-known/caldav.
func (s *Server) buildCalendars(mux *http.ServeMux) *calendar.Store {
	store := calendar.New(s.db, s.auth, s.audit, s.deps.Now, s.log.With("component", "calendar"))
	caldav.New(store, s.auth, s.stats, s.log.With("component", "caldav")).Register(mux)
	return store
}
