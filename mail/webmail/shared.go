package webmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/store"
)

// Role mailboxes (press@, info@; mail/store's shared.go) that a member
// was granted are in their folder list, after their own, under the names
// IMAP gives them ("Shared/press@party.example/INBOX"). They are read as
// IMAP reads them, with the rights of the grant: read, and set or clear
// \Seen, which is shared by everyone with access; moving, deleting and
// flagging are refused. Opening a message of one is in the audit log
// (role.read, batched).

// Shared is what webmail needs to show role mailboxes (*store.Store).
type Shared interface {
	GrantsOf(ctx context.Context, accountID int64) ([]store.Grant, error)
	GrantFor(ctx context.Context, accountID, owner int64) (store.Grant, error)
	MailboxByID(ctx context.Context, mailboxID int64) (store.Mailbox, error)
}

// ReadAuditor records reads in batches (*audit.Log).
type ReadAuditor interface {
	RecordSoon(ctx context.Context, e audit.Event) error
}

// errNotAllowed refuses what a grant does not allow; pages answer it as
// a missing mailbox.
var errNotAllowed = fmt.Errorf("%w: not allowed in a role mailbox", store.ErrNoMailbox)

// sharedStore is the Store with the role mailboxes of Shared added to
// every account's.
type sharedStore struct {
	Store
	shared Shared
}

// Mailboxes lists the account's own mailboxes, then the role mailboxes
// it was granted.
func (s sharedStore) Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	own, err := s.Store.Mailboxes(ctx, accountID)
	if err != nil {
		return nil, err
	}
	grants, err := s.shared.GrantsOf(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		mbs, err := s.Store.Mailboxes(ctx, g.Role.Owner())
		if err != nil {
			return nil, err
		}
		for _, mb := range mbs {
			mb.Name = store.SharedName(g, mb.Name)
			own = append(own, mb)
		}
	}
	return own, nil
}

// AccountMailbox returns one of the account's mailboxes or of a role it
// was granted; [store.ErrNoMailbox] for any other, as for a missing one.
func (s sharedStore) AccountMailbox(ctx context.Context, accountID, mailboxID int64) (store.Mailbox, error) {
	mb, err := s.Store.AccountMailbox(ctx, accountID, mailboxID)
	if !errors.Is(err, store.ErrNoMailbox) {
		return mb, err
	}
	other, err2 := s.shared.MailboxByID(ctx, mailboxID)
	if err2 != nil || !store.IsRoleOwner(other.AccountID) {
		return mb, err
	}
	g, err2 := s.shared.GrantFor(ctx, accountID, other.AccountID)
	if errors.Is(err2, store.ErrNoGrant) {
		return mb, err
	}
	if err2 != nil {
		return mb, err2
	}
	other.Name = store.SharedName(g, other.Name)
	return other, nil
}

// owner returns the owner to read mailboxID as: the account, or the role
// whose mailbox it is, if the account was granted it.
func (s sharedStore) owner(ctx context.Context, accountID, mailboxID int64) (int64, error) {
	mb, err := s.AccountMailbox(ctx, accountID, mailboxID)
	if err != nil {
		return 0, err
	}
	return mb.AccountID, nil
}

func (s sharedStore) AccountMessage(ctx context.Context, accountID, mailboxID int64, uid imap.UID) (store.Message, error) {
	o, err := s.owner(ctx, accountID, mailboxID)
	if err != nil {
		return store.Message{}, fmt.Errorf("%w: %w", store.ErrNoMessage, err)
	}
	return s.Store.AccountMessage(ctx, o, mailboxID, uid)
}

func (s sharedStore) AccountMessages(ctx context.Context, accountID, mailboxID int64, uids []imap.UID) ([]store.Message, error) {
	o, err := s.owner(ctx, accountID, mailboxID)
	if err != nil {
		return nil, err
	}
	return s.Store.AccountMessages(ctx, o, mailboxID, uids)
}

func (s sharedStore) MessagePage(ctx context.Context, accountID, mailboxID int64, before imap.UID, limit int) ([]store.Message, error) {
	o, err := s.owner(ctx, accountID, mailboxID)
	if err != nil {
		return nil, err
	}
	return s.Store.MessagePage(ctx, o, mailboxID, before, limit)
}

func (s sharedStore) AccountSearch(ctx context.Context, accountID, mailboxID int64, c *imap.SearchCriteria) ([]imap.UID, error) {
	o, err := s.owner(ctx, accountID, mailboxID)
	if err != nil {
		return nil, err
	}
	return s.Store.AccountSearch(ctx, o, mailboxID, c)
}

// isRole reports whether a mailbox (already checked to be the
// account's or granted) is a role's.
func (s sharedStore) isRole(ctx context.Context, mailboxID int64) (bool, error) {
	mb, err := s.shared.MailboxByID(ctx, mailboxID)
	if err != nil {
		return false, err
	}
	return store.IsRoleOwner(mb.AccountID), nil
}

// StoreFlags refuses in a role mailbox any flag but \Seen (RFC 4314 "s"
// is granted, "w" and "t" are not).
func (s sharedStore) StoreFlags(ctx context.Context, mailboxID int64, uids []imap.UID, op imap.StoreFlagsOp, flags []imap.Flag, unchangedSince uint64) ([]imap.UID, [][]imap.Flag, error) {
	role, err := s.isRole(ctx, mailboxID)
	if err != nil {
		return nil, nil, err
	}
	if role && (op == imap.StoreFlagsSet || len(flags) != 1 || flags[0] != imap.FlagSeen) {
		return nil, nil, errNotAllowed
	}
	return s.Store.StoreFlags(ctx, mailboxID, uids, op, flags, unchangedSince)
}

// Move refuses to move out of a role mailbox ("t" and "e" are not granted).
func (s sharedStore) Move(ctx context.Context, srcMailboxID int64, uids []imap.UID, accountID int64, dest string) (store.Mailbox, []imap.UID, []imap.UID, error) {
	role, err := s.isRole(ctx, srcMailboxID)
	if err != nil {
		return store.Mailbox{}, nil, nil, err
	}
	if role || strings.HasPrefix(dest, store.SharedRoot+"/") {
		return store.Mailbox{}, nil, nil, errNotAllowed
	}
	return s.Store.Move(ctx, srcMailboxID, uids, accountID, dest)
}

// Expunge refuses to delete from a role mailbox.
func (s sharedStore) Expunge(ctx context.Context, mailboxID int64, uids []imap.UID) ([]imap.UID, error) {
	role, err := s.isRole(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	if role {
		return nil, errNotAllowed
	}
	return s.Store.Expunge(ctx, mailboxID, uids)
}

// auditRoleRead records that a member opened a message of a role
// mailbox, or downloaded one of its attachments (what names the part),
// batched with the other reads.
func (h *Handler) auditRoleRead(r *http.Request, sess auth.Session, mb store.Mailbox, uid imap.UID, what string) {
	if h.d.ReadAudit == nil || !store.IsRoleOwner(mb.AccountID) {
		return
	}
	address, inner, _ := store.SplitSharedName(mb.Name)
	e := audit.Event{Actor: sess.Account.Login, Subject: address, Kind: "role.read", Addr: iweb.ClientAddr(r).String(), UserAgent: "webmail",
		Detail: strings.TrimSpace(fmt.Sprintf("mailbox=%q uids=%d messages=1 %s", inner, uid, what))}
	if err := h.d.ReadAudit.RecordSoon(r.Context(), e); err != nil {
		h.log.Warn("webmail: audit of a role mailbox read", "err", err)
	}
}

// roleOwners returns the owner ids of the role mailboxes the account may
// read when a live-update stream starts, so that the stream reports
// their changes too; a grant given later shows from the next stream, one
// taken away at once (AccountMailbox checks it for every event).
func (h *Handler) roleOwners(ctx context.Context, accountID int64) map[int64]bool {
	out := map[int64]bool{}
	if h.d.Shared == nil {
		return out
	}
	grants, err := h.d.Shared.GrantsOf(ctx, accountID)
	if err != nil {
		h.log.Warn("webmail: role mailboxes for live updates", "err", err)
		return out
	}
	for _, g := range grants {
		out[g.Role.Owner()] = true
	}
	return out
}

// addAll marks that every mailbox may have changed: the role mailboxes
// the account may read did.
func (p *pending) addAll() {
	p.mu.Lock()
	p.all = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
