package server

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/calweb"
	"github.com/caucus-org/caucus/mail/contacts"
)

// buildCalweb adds the calendar pages (mail/calendar/calweb) at
// /mail/calendar, behind the same sign-in as webmail, on the store CalDAV
// serves; its attendee field completes from the member's address books.
func (s *Server) buildCalweb(mux *http.ServeMux, pages *login.Handler, store *calendar.Store, books *contacts.Store) error {
	h, err := calweb.New(calweb.Deps{Store: store, Invites: store, People: books, Login: pages, Log: s.log.With("component", "calweb"), Now: s.deps.Now})
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}
