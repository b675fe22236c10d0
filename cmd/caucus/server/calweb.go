package server

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/calweb"
)

// buildCalweb adds the calendar pages (mail/calendar/calweb) at
// /mail/calendar, behind the same sign-in as webmail, on the store CalDAV
// serves.
func (s *Server) buildCalweb(mux *http.ServeMux, pages *login.Handler, store *calendar.Store) error {
	h, err := calweb.New(calweb.Deps{Store: store, Invites: store, Login: pages, Log: s.log.With("component", "calweb"), Now: s.deps.Now})
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}
