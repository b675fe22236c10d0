package server

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/contacts/cardweb"
	"github.com/caucus-org/caucus/mail/contacts/dav"
)

// buildContacts adds the address books (mail/contacts) to the HTTPS mux:
// CardDAV at /carddav/ with its discovery at /.well-known/carddav, and the
// contacts page at /mail/contacts/. Their tables were migrated with the
// others (components).
func (s *Server) buildContacts(mux *http.ServeMux, pages *login.Handler, store *contacts.Store) error {
	log := s.log.With("component", "contacts")
	dav.New(store, s.auth, s.stats, log.With("proto", "carddav"), pages.Party().Language).Register(mux)
	web, err := cardweb.New(store, pages, log)
	if err != nil {
		return err
	}
	web.Register(mux)
	return nil
}
