package server

import (
	"context"

	"github.com/caucus-org/caucus/auth/notice"
	"github.com/caucus-org/caucus/internal/ui"
)

// buildNotices adds the loop of the notices by mail (auth/notice): it
// follows the audit log and tells members, through mail/submit and into
// their own INBOX, of sign-ins from new devices, new app passwords,
// changed sign-in methods and passwords, incident mode and shares. Tests
// may turn it off (Deps.NoNotices).
func (s *Server) buildNotices(ctx context.Context) error {
	if s.deps.NoNotices {
		return nil
	}
	party, err := ui.PartyOf(s.cfg)
	if err != nil {
		return err
	}
	n, err := notice.New(ctx, notice.Config{
		From: "postmaster@" + s.cfg.MailDomains[0], BaseURL: s.url, Party: party,
	}, notice.Deps{
		DB: s.db, Audit: s.audit, Accounts: s.auth, Mailer: s.submit, Prepared: s.ops,
		Log: s.log.With("component", "notice"), Now: s.deps.Now,
	})
	if err != nil {
		return err
	}
	// One node mails the notices; another takes over from the position
	// saved in the database.
	s.loops = append(s.loops, s.single("notices", n))
	return nil
}
