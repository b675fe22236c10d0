package submit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// Roles are the party's role mailboxes (press@, info@; mail/store's
// shared.go): addresses that no person owns. Mail to one is delivered to
// the role's mailboxes; a member may send as one only with a send-as
// grant, checked by the same rule as every other address (maySendAs), on
// the envelope and in the header.
type Roles interface {
	RoleByAddress(ctx context.Context, address string) (store.Role, error)
	GrantByAddress(ctx context.Context, accountID int64, address string) (store.Grant, error)
}

// resolve says where mail for one of the party's addresses goes: a role's
// mailboxes, or what mail/route says.
func (s *Service) resolve(ctx context.Context, to string) (route.Target, error) {
	if s.deps.Roles != nil && s.deps.Dir.IsOurs(to) {
		ro, err := s.deps.Roles.RoleByAddress(ctx, to)
		if err == nil {
			return route.Target{Accounts: []int64{ro.Owner()}}, nil
		}
		if !errors.Is(err, store.ErrNoRole) {
			return route.Target{}, err
		}
	}
	return s.deps.Dir.Resolve(ctx, to)
}

// maySendAs reports whether the account may send as address: a role's
// address with a send-as grant, any other as mail/route says. An
// account's own login is always its own: should a person be invited
// later under a role's address, they still send as themselves.
func (s *Service) maySendAs(ctx context.Context, who Sender, address string) (bool, error) {
	if s.deps.Roles != nil && s.deps.Dir.IsOurs(address) && !strings.EqualFold(strings.TrimSpace(address), who.Account.Login) {
		g, err := s.deps.Roles.GrantByAddress(ctx, who.Account.ID, address)
		switch {
		case err == nil:
			return g.SendAs, nil
		case errors.Is(err, store.ErrNoGrant):
			return false, nil
		case !errors.Is(err, store.ErrNoRole):
			return false, err
		}
	}
	return s.deps.Dir.MaySendAs(ctx, who.Account, address)
}

// maxAuditRcpts bounds the recipients named in a role.send record.
const maxAuditRcpts = 20

// auditRoleSend records, once the message is sent, that a member sent it
// as a role's address (the From): who, which message (its Message-ID),
// to whom. A failure to record is logged; the message has left.
func (s *Service) auditRoleSend(ctx context.Context, who Sender, env *Envelope, h *message.Header) {
	if s.deps.Roles == nil || s.deps.Audit == nil {
		return
	}
	from, _ := h.From()
	// One's own address is never sent as a role (maySendAs): most mail,
	// and no role to look up for it.
	if strings.EqualFold(from.Addr(), who.Account.Login) || !s.deps.Dir.IsOurs(from.Addr()) {
		return
	}
	ro, err := s.deps.Roles.RoleByAddress(ctx, from.Addr())
	if err != nil {
		return // not a role (or the lookup failed after the send: the send-as check read it)
	}
	rcpts := env.Rcpts
	more := ""
	if len(rcpts) > maxAuditRcpts {
		rcpts, more = rcpts[:maxAuditRcpts], fmt.Sprintf(" (+%d)", len(env.Rcpts)-maxAuditRcpts)
	}
	e := audit.Event{Actor: who.Account.Login, Subject: ro.Address, Kind: "role.send", Addr: who.Addr, UserAgent: who.UserAgent,
		Detail: fmt.Sprintf("message_id=%q to=%s%s", Sanitize(h.First("Message-ID")), strings.Join(rcpts, ","), more)}
	if err := s.deps.Audit.Record(ctx, e); err != nil {
		s.log.Warn("submit: audit of a message sent as a role", "err", err)
	}
}
