package submit

import (
	"context"
	"errors"

	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/srs"
	"github.com/caucus-org/caucus/mail/store"
)

// Inbound starts a delivery from outside with the reverse-path from
// ("" for a bounce).
func (s *Service) Inbound(from string) *Envelope { return &Envelope{From: from} }

// InboundRcpt adds a recipient to a delivery from outside: only the
// party's addresses are taken (never an open relay), and one of our
// rewritten senders (SRS) only from the null reverse-path.
func (s *Service) InboundRcpt(ctx context.Context, env *Envelope, to string) error {
	to = s.Qualify(to)
	if rw := s.deps.SRS; rw != nil && srs.IsSRS(to) && s.deps.Dir.IsOurs(to) {
		return s.rcptSRS(rw, env, to)
	}
	t, err := s.resolve(ctx, to)
	switch {
	case errors.Is(err, route.ErrNotOurs):
		s.log.Info("submit: relay refused", "rcpt", to)
		return refuse(550, [3]int{5, 7, 1}, ErrRelay, "Relaying denied: sign in on the submission port to send to other domains")
	case errors.Is(err, route.ErrUnknown):
		return noSuchUser()
	case err != nil:
		return temporary("resolve recipient", err)
	}
	env.Rcpts = append(env.Rcpts, to)
	env.local = append(env.local, t.Accounts...)
	env.remote = append(env.remote, t.Remote...)
	env.lists = append(env.lists, t.Lists...)
	return nil
}

// rcptSRS takes a recipient that is one of our rewritten senders: a
// bounce of mail we forwarded, which goes back to the original sender.
// Only bounces (null sender) are taken, so the address is no relay.
func (s *Service) rcptSRS(rw *srs.Rewriter, env *Envelope, to string) error {
	if env.From != "" {
		s.log.Info("submit: mail to a forwarding address that is no bounce", "rcpt", to)
		return refuse(550, [3]int{5, 7, 1}, ErrBounceOnly, "This address takes only delivery status notifications")
	}
	orig, err := rw.Reverse(to)
	if err != nil {
		s.log.Info("submit: bounce to an invalid forwarding address", "rcpt", to, "err", err)
		return noSuchUser()
	}
	env.Rcpts = append(env.Rcpts, to)
	env.remote = append(env.remote, orig)
	return nil
}

// Deliver takes a message from outside, already checked (the MX's
// inbound policy): it adds the Received field, files it in the local
// recipients' INBOX, or Junk when junk is set, queues forwarded copies
// under a rewritten sender (SRS), and, unless it is junk, hands it to
// the calendars (an iMIP reply) and lets auto-replies answer it (RFC 3834
// section 2: suspicious mail gets no answer).
func (s *Service) Deliver(ctx context.Context, env *Envelope, msg []byte, rcv Received, junk bool) error {
	mailbox := "INBOX"
	if junk {
		mailbox = store.Junk
	}
	msg = append([]byte(s.header(rcv)), msg...)
	if err := s.deliverLocal(ctx, env, msg, mailbox); err != nil {
		return err
	}
	// Forwarded copies of outside mail go out under our domain (SRS), so
	// that they pass SPF where they land and their bounces come back here.
	sender := env.From
	if rw := s.deps.SRS; rw != nil && sender != "" && !s.deps.Dir.IsOurs(sender) {
		sender = rw.Forward(sender)
	}
	if err := s.enqueue(ctx, env, sender, msg); err != nil {
		return err
	}
	// Lists last: a list that fails has the sender try again, and the
	// duplicates fall on the few local recipients, not on the list.
	if err := s.toLists(ctx, env, "", msg); err != nil {
		return err
	}
	if !junk {
		if s.deps.Invitations != nil && len(env.local) > 0 {
			s.deps.Invitations.Delivered(ctx, env.local, msg)
		}
		s.autoReply(ctx, env, msg)
	}
	return nil
}
