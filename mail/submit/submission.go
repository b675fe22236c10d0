package submit

import (
	"context"
	"errors"
	"fmt"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/route"
)

// Mail starts a submission from who with the reverse-path from (RFC 5321
// section 3.3, MAIL): from must be an address the account may send as,
// and the account under its hourly limit, which this message counts in.
func (s *Service) Mail(ctx context.Context, who Sender, from string) (*Envelope, error) {
	ok, err := s.maySendAs(ctx, who, from)
	if err != nil {
		return nil, temporary("send-as check", err)
	}
	if !ok {
		s.audit(ctx, who, "smtp.sender-refused", "mail-from", "mail_from="+from)
		return nil, refuse(553, [3]int{5, 7, 1}, ErrSendAs, fmt.Sprintf("You may not send as <%s>", Sanitize(from)))
	}
	if err := s.countMessage(ctx, who); err != nil {
		return nil, err
	}
	return &Envelope{From: from}, nil
}

// countMessage counts one message of who against its hourly limit, and
// refuses it past the limit.
func (s *Service) countMessage(ctx context.Context, who Sender) error {
	limit := s.cfg.SendPerHour
	if who.Account.Role == auth.RoleVolunteer {
		limit = s.cfg.VolunteerSendPerHour
	}
	if !s.rate.allow(who.Account.ID, limit) {
		s.audit(ctx, who, "smtp.rate-limited", "hourly-limit", fmt.Sprintf("limit=%d/hour", limit))
		return refuse(450, [3]int{4, 7, 1}, ErrRateLimited, fmt.Sprintf("Sending limit reached (%d messages per hour); try again later", limit))
	}
	return nil
}

// Rcpt adds a recipient to a submission (RFC 5321 section 3.3, RCPT):
// an address of the party must exist; any other is queued.
func (s *Service) Rcpt(ctx context.Context, who Sender, env *Envelope, to string) error {
	to = s.Qualify(to)
	if len(env.Rcpts) >= s.cfg.MaxRcptsPerMessage {
		s.audit(ctx, who, "smtp.rate-limited", "recipient-limit", fmt.Sprintf("recipients>%d", s.cfg.MaxRcptsPerMessage))
		return refuse(452, [3]int{4, 5, 3}, ErrTooManyRcpts, fmt.Sprintf("Too many recipients: at most %d per message", s.cfg.MaxRcptsPerMessage))
	}
	if s.deps.Dir.IsOurs(to) {
		t, err := s.resolve(ctx, to)
		if errors.Is(err, route.ErrUnknown) {
			return noSuchUser()
		}
		if err != nil {
			return temporary("resolve recipient", err)
		}
		env.local = append(env.local, t.Accounts...)
		env.remote = append(env.remote, t.Remote...)
		env.lists = append(env.lists, t.Lists...)
	} else {
		if !validRemote(to) {
			return refuse(501, [3]int{5, 1, 3}, ErrBadRecipient, "Bad recipient address")
		}
		env.remote = append(env.remote, to)
	}
	env.Rcpts = append(env.Rcpts, to)
	return nil
}

// Submit sends a member's message, whose header h the caller parsed and
// checked with mail/message: it refuses a header naming an author the
// account may not send as (checkAuthor), adds the Received field, signs,
// delivers to the local recipients and queues for the others, then hands
// it to the calendars (a member's mail program answering a member's
// invitation) and lets auto-replies answer it.
func (s *Service) Submit(ctx context.Context, who Sender, env *Envelope, h *message.Header, msg []byte, rcv Received) error {
	if err := s.checkAuthor(ctx, who, h); err != nil {
		return err
	}
	// Only the MX writes this host's findings; a member may not bring
	// them along.
	msg = msgauth.RemoveOwnFindings(msg, s.cfg.Hostname)
	msg = append([]byte(s.header(rcv)), msg...)
	if s.deps.Signer != nil {
		var err error
		if msg, err = s.deps.Signer.Sign(ctx, msg); err != nil {
			if errors.Is(err, msgauth.ErrMalformed) {
				return refuse(550, [3]int{5, 6, 0}, ErrBadHeader, "Message header is malformed")
			}
			return temporary("dkim sign", err)
		}
	}
	if err := s.deliverLocal(ctx, env, msg, "INBOX"); err != nil {
		return err
	}
	if err := s.enqueue(ctx, env, env.From, msg); err != nil {
		return err
	}
	s.auditRoleSend(ctx, who, env, h)
	if s.deps.Invitations != nil && len(env.local) > 0 {
		s.deps.Invitations.Submitted(ctx, env.local, who.Account, msg)
	}
	if err := s.toLists(ctx, env, who.Account.Login, msg); err != nil {
		return err
	}
	s.autoReply(ctx, env, msg)
	return nil
}

// audit records a refusal; aggregated per reason, since a client can repeat
// it at will (a message to 1,000 recipients wrote 950 records).
func (s *Service) audit(ctx context.Context, who Sender, kind, reason, detail string) {
	if s.deps.Audit == nil {
		return
	}
	s.deps.Audit.RecordFailure(ctx, audit.Event{Actor: who.Account.Login, Subject: who.Account.Login, Kind: kind, Outcome: "refused", Reason: reason, Detail: detail, Addr: who.Addr, UserAgent: who.UserAgent})
}

// checkAuthor refuses a message whose header names as its author or
// sender anyone the account may not send as: the From mailbox, the Sender,
// and every Resent-From and Resent-Sender mailbox (RFC 5322 sections
// 3.6.2 and 3.6.6). This stops a taken-over volunteer account from posing
// as the leader. The From's display name may not be another member's name
// either (see memberName). Reply-To may name anyone: it sends replies
// elsewhere but claims no author.
func (s *Service) checkAuthor(ctx context.Context, who Sender, h *message.Header) error {
	from, _ := h.From() // the caller checked it
	claimed := []message.Address{from}
	if a, ok, _ := h.Sender(); ok {
		claimed = append(claimed, a)
	}
	for _, name := range []string{"Resent-From", "Resent-Sender"} {
		for _, f := range h.Get(name) {
			list, err := message.ParseAddressList(f.Value())
			if err != nil {
				return refuse(550, [3]int{5, 6, 0}, ErrBadHeader, fmt.Sprintf("Message refused: its %s field does not parse (RFC 5322 section 3.4)", name))
			}
			claimed = append(claimed, message.Mailboxes(list)...)
		}
	}
	for _, a := range claimed {
		ok, err := s.maySendAs(ctx, who, a.Addr())
		if err != nil {
			return temporary("send-as check", err)
		}
		if !ok {
			s.audit(ctx, who, "smtp.sender-refused", "from-header", "header="+a.Addr())
			return refuse(550, [3]int{5, 7, 1}, ErrSendAs, fmt.Sprintf("You may not send as %q", Sanitize(a.Addr())))
		}
	}
	if a := msgauth.AddressInName(from.Name, s.deps.Dir.OwnDomains()); a != "" {
		// A display name that shows a party address is checked as
		// that address would be: "leader@…" <bob@…>.
		ok, err := s.maySendAs(ctx, who, a)
		if err != nil {
			return temporary("send-as check", err)
		}
		if !ok {
			s.audit(ctx, who, "smtp.sender-refused", "display-name-address", "display_name="+a)
			return refuse(550, [3]int{5, 7, 1}, ErrSendAs, "Your display name shows an address you may not send as")
		}
	}
	return s.memberName(ctx, who, from.Name)
}

// memberName refuses a display name that is another member's name, or
// passes for it (msgauth.MatchMember: the same words in any order, all
// the words of it, or one letter off), unless it is the account's own
// name. Refusing at submission, rather than tagging, keeps the mail a
// member sends from ever showing another member's name to anyone, inside
// the party or out. Members who share a name keep using their own.
func (s *Service) memberName(ctx context.Context, who Sender, display string) error {
	if display == "" || msgauth.MatchMember(display, []string{who.Account.DisplayName}) != "" {
		return nil
	}
	m := msgauth.MatchMember(display, s.deps.Dir.MemberNames())
	if m == "" {
		return nil
	}
	s.audit(ctx, who, "smtp.sender-refused", "display-name-member", "display_name_of="+m)
	return refuse(550, [3]int{5, 7, 1}, ErrSendAs, "You may not use another member's name as your display name")
}
