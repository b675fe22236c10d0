package server

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/calweb"
)

// buildCalweb adds the calendar pages (mail/calendar/calweb) at
// /mail/calendar, behind the same sign-in as webmail. They read and write
// through a calendar.Store on the same database as CalDAV's: the store
// keeps no state of its own, so both see every change at once.
func (s *Server) buildCalweb(mux *http.ServeMux, pages *login.Handler) error {
	store := calendar.New(s.db, s.auth, s.audit, s.deps.Now, s.log.With("component", "calendar"))
	h, err := calweb.New(calweb.Deps{Store: store, Login: pages, Log: s.log.With("component", "calweb"), Now: s.deps.Now})
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}
