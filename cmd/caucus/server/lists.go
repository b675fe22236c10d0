package server

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/lists"
	"github.com/caucus-org/caucus/mail/lists/listweb"
	"github.com/caucus-org/caucus/mail/queue"
)

// listPacing is the queue's pacing of mailing lists' copies, from the
// configuration.
func (s *Server) listPacing() queue.Pacing {
	return queue.Pacing{Rate: float64(s.cfg.SMTP.ListPerSecond), DomainRate: float64(s.cfg.SMTP.ListPerDomainPerSecond)}
}

// buildLists builds the member mailing lists (mail/lists), after
// mail/submit, through which they send, and hooks them into the routing
// and mail/submit, which hand them the mail for their addresses.
func (s *Server) buildLists() error {
	blobs, err := s.blobDir("lists") // the posts' text, archived
	if err != nil {
		return err
	}
	l, err := lists.New(lists.Config{Domains: s.cfg.MailDomains, BaseURL: s.url, Key: s.keys.Derive("lists"), Language: s.cfg.Party.Language}, lists.Deps{
		DB: s.db, Auth: s.auth, Sender: s.submit, Blobs: blobs, Dir: s.dir, Log: s.log.With("component", "lists"), Now: s.deps.Now,
	})
	if err != nil {
		return err
	}
	s.dir.SetLists(l)
	s.submit.SetLists(l)
	s.lists = l
	return nil
}

// buildListWeb adds the lists' pages (unsubscription, confirmation, help,
// archive) at /mail/lists.
func (s *Server) buildListWeb(mux *http.ServeMux, pages *login.Handler) error {
	h, err := listweb.New(listweb.Deps{Lists: s.lists, Login: pages, Log: s.log.With("component", "listweb"), Now: s.deps.Now})
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}
