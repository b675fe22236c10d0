package server

import (
	"net/http"

	"github.com/caucus-org/caucus/internal/ui"
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
// the importer (Takeout) share. The calendars schedule invitations
// (RFC 6638 implicit scheduling): they send through mail/submit, and
// mail/submit hands them the iMIP replies the MX delivers.
func (s *Server) newCalendarStores(party ui.Party) (*calendar.Store, *contacts.Store) {
	cals := calendar.New(s.db, s.auth, s.audit, s.deps.Now, s.log.With("component", "calendar"))
	cals.SetScheduling(calendar.Scheduling{
		Accounts: s.auth, Mailer: s.submit, Party: party, PageURL: s.url + "/mail/calendar/invitations",
		Hostname: s.cfg.Hostname, Directory: s.dir,
	})
	s.submit.SetInvitations(cals)
	s.cals = cals
	books := contacts.New(s.db, contacts.Deps{Auth: s.auth, Log: s.log.With("component", "contacts"), Now: s.deps.Now})
	return cals, books
}
