package imapserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/store"
)

// Role mailboxes (press@, info@; see mail/store's shared.go) appear in the
// account of each member an admin granted them, in the shared namespace
// (RFC 2342): "Shared/press@party.example/INBOX", and so on for each of
// the role's mailboxes. Their rights are those of RFC 4314 section 2.1
// ([store.Grant.Rights]): "lrs" to read (\Seen is shared by everyone with
// access: STORE may set and clear \Seen, nothing else), and with send-as
// also "ip", so that a client may APPEND (or COPY) the copy it keeps of
// what it sent as the role into the role's Sent. Nobody has "a": SETACL
// and DELETEACL are refused; rights are granted by an admin in the
// console. GETACL answers with the member's own entry only (section 4
// would ask for "a"; the other members' identifiers are not disclosed).
// A member without a grant sees no such mailbox: NO [NONEXISTENT].
//
// A revoked grant takes effect at once: the server listens for
// store.ChangeGrants and ends, with BYE, the connections of that member
// that have one of the role's mailboxes selected; other commands look the
// grant up each time.
//
// Reads are in the audit log, batched (audit.Log.RecordSoon): one
// "role.open" per SELECT or EXAMINE of a role's mailbox, and one
// "role.read" per FETCH command that returns bodies, with the UIDs, not
// one record per message.

// lookupTimeout bounds the grant lookup after a ChangeGrants.
const lookupTimeout = 10 * time.Second

// ownRights are the RFC 4314 rights a member has on their own mailboxes:
// all of them, with the obsolete "c" and "d" that section 2.1.1 asks to
// be reported with "k", "x", "t" and "e", but "a": a member's mailboxes
// are shared with nobody (SETACL is refused), only a role's are, by an
// admin.
const ownRights = "lrswipkxtecd"

// errNoPerm refuses what a member's rights on a role mailbox do not allow
// (RFC 4314 section 4; NOPERM is RFC 5530).
var errNoPerm = errNo(imap.ResponseCodeNoPerm, "Not allowed in a role mailbox: ask an admin")

// errNoSharedCreate refuses a personal mailbox in the shared namespace.
var errNoSharedCreate = errNo(imap.ResponseCodeNoPerm, "Names under Shared/ are the party's role mailboxes")

// isShared reports whether name lies in the shared namespace:
// "Shared/<role address>", or a mailbox below it. Other names under
// "Shared/" (no "@" in the second level) are the member's own, as they
// were before role mailboxes.
func isShared(name string) bool {
	address, _, ok := store.SplitSharedName(name)
	return ok && strings.Contains(address, "@")
}

// reserved reports whether a personal mailbox may not be created or
// renamed to name: the shared namespace and its root.
func reserved(name string) bool {
	return isShared(name) || strings.EqualFold(strings.TrimSuffix(name, string(store.Delimiter)), store.SharedRoot)
}

// mailbox resolves a name as this session sees it: one of its account's
// mailboxes, or in the shared namespace a role's mailbox the member was
// granted (grant non-nil). The returned mailbox carries the name the
// client used.
func (ss *session) mailbox(name string) (store.Mailbox, *store.Grant, error) {
	if !isShared(name) {
		mb, err := ss.srv.store.Mailbox(ss.ctx, ss.acct.ID, name)
		return mb, nil, err
	}
	mb, g, err := ss.srv.store.SharedMailbox(ss.ctx, ss.acct.ID, name)
	if err != nil {
		return mb, nil, err
	}
	mb.Name = store.SharedName(g, mb.Name)
	return mb, &g, nil
}

// sharedEntries adds to byName the role mailboxes the member was granted,
// and their two levels above ("Shared", "Shared/press@…"), which are
// \Noselect. They are listed as subscribed: a client that shows only
// subscribed mailboxes shows them too.
func (ss *session) sharedEntries(get func(string) *listEntry) error {
	grants, err := ss.srv.store.GrantsOf(ss.ctx, ss.acct.ID)
	if err != nil || len(grants) == 0 {
		return err
	}
	if root := get(store.SharedRoot); root.mb == nil { // a member's own "Shared" stays theirs
		root.noselect = true
	}
	for _, g := range grants {
		get(store.SharedRoot + string(store.Delimiter) + g.Role.Address).noselect = true
		mbs, err := ss.srv.store.Mailboxes(ss.ctx, g.Role.Owner())
		if err != nil {
			return err
		}
		for i := range mbs {
			// No special-use attribute (RFC 6154): a client picks its
			// Sent, Drafts and Trash by them, and must pick the member's
			// own, not the role's.
			mbs[i].Name, mbs[i].Attr = store.SharedName(g, mbs[i].Name), ""
			e := get(mbs[i].Name)
			e.mb, e.subscribed = &mbs[i], true
		}
	}
	return nil
}

// sharedSubscribe answers SUBSCRIBE and UNSUBSCRIBE of a shared name: a
// role's mailboxes are always subscribed, so the command succeeds for one
// the member may see and changes nothing.
func (ss *session) sharedSubscribe(name string) error {
	_, _, err := ss.mailbox(name)
	return storeErr(err)
}

// auditRead queues an audit record of a read of a role mailbox.
func (ss *session) auditRead(g *store.Grant, kind, detail string) {
	e := audit.Event{Actor: ss.acct.Login, Subject: g.Role.Address, Kind: kind, Detail: detail, Addr: ss.gc.Addr.String(), UserAgent: "imap"}
	if err := ss.srv.audit.RecordSoon(ss.ctx, e); err != nil {
		ss.log.Warn("imap: audit of a role mailbox read", "err", err)
	}
}

// auditFetch records a FETCH of bodies from a role mailbox: one record
// for the command, with the UIDs it read.
func (ss *session) auditFetch(sel *selection, refs []msgRef, options *imap.FetchOptions) {
	if sel.grant == nil || len(refs) == 0 || (len(options.BodySection) == 0 && len(options.BinarySection) == 0) {
		return
	}
	uids := imap.UIDSetNum(uidsOf(refs)...)
	ss.auditRead(sel.grant, "role.read", fmt.Sprintf("mailbox=%q uids=%s messages=%d", sel.mb.Name, uids.String(), len(refs)))
}

// checkSharedStore refuses a STORE in a role mailbox that changes more
// than \Seen (rights "lrs": "w" and "t" are not granted).
func checkSharedStore(sel *selection, flags []imap.Flag, op imap.StoreFlagsOp) error {
	if sel.grant == nil {
		return nil
	}
	if op == imap.StoreFlagsSet && !slices.Contains(flags, imap.FlagSeen) {
		// Replacing the flags clears the others too.
		return errNoPerm
	}
	for _, f := range flags {
		if f != imap.FlagSeen {
			return errNoPerm
		}
	}
	return nil
}

// Namespace answers NAMESPACE (RFC 2342 section 5): the personal
// namespace, and the shared one of the role mailboxes.
func (ss *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: store.Delimiter}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: store.SharedRoot + string(store.Delimiter), Delim: store.Delimiter}},
	}, nil
}

// rightsOf returns the member's rights on a mailbox (RFC 4314 section
// 2.1), NO [NONEXISTENT] if it cannot see it.
func (ss *session) rightsOf(name string) (imap.RightSet, error) {
	_, g, err := ss.mailbox(name)
	if err != nil {
		return nil, storeErr(err)
	}
	if g == nil {
		return imap.RightSet(ownRights), nil
	}
	return imap.RightSet(g.Rights()), nil
}

// MyRights answers MYRIGHTS (RFC 4314 section 3.5).
func (ss *session) MyRights(name string) (imap.RightSet, error) { return ss.rightsOf(name) }

// GetACL answers GETACL (RFC 4314 section 3.3) with the member's own
// entry: the owner's on their own mailboxes, the grant's on a role's.
func (ss *session) GetACL(name string) ([]imapserver.ACLEntry, error) {
	rights, err := ss.rightsOf(name)
	if err != nil {
		return nil, err
	}
	return []imapserver.ACLEntry{{Identifier: imap.RightsIdentifier(ss.acct.Login), Rights: rights}}, nil
}

// ListRights answers LISTRIGHTS (RFC 4314 section 3.4). On a member's own
// mailbox the member holds every right and nobody else can be given any;
// on a role's, an admin may grant reading ("lrs") and sending as the role
// ("ip").
func (ss *session) ListRights(name string, id imap.RightsIdentifier) (imap.RightSet, []imap.RightSet, error) {
	_, g, err := ss.mailbox(name)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	if g == nil {
		if strings.EqualFold(string(id), ss.acct.Login) {
			return imap.RightSet(ownRights), nil, nil
		}
		return imap.RightSet(""), nil, nil
	}
	return imap.RightSet(""), []imap.RightSet{imap.RightSet("lrs"), imap.RightSet("ip")}, nil
}

// SetACL refuses SETACL (RFC 4314 section 3.1): no member holds "a".
func (ss *session) SetACL(name string, id imap.RightsIdentifier, mod imap.RightModification, rights imap.RightSet) error {
	if _, err := ss.rightsOf(name); err != nil {
		return err
	}
	return errNoPerm
}

// DeleteACL refuses DELETEACL (RFC 4314 section 3.2), as SetACL.
func (ss *session) DeleteACL(name string, id imap.RightsIdentifier) error {
	return ss.SetACL(name, id, imap.RightModificationReplace, nil)
}

// sharedSessions are the sessions that have a role's mailbox selected,
// by member, so that a revoked grant ends them at once.
type sharedSessions struct {
	mu   sync.Mutex
	byID map[int64]map[*session]struct{}
}

func (s *sharedSessions) add(accountID int64, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[int64]map[*session]struct{}{}
	}
	if s.byID[accountID] == nil {
		s.byID[accountID] = map[*session]struct{}{}
	}
	s.byID[accountID][ss] = struct{}{}
}

func (s *sharedSessions) remove(accountID int64, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID[accountID], ss)
	if len(s.byID[accountID]) == 0 {
		delete(s.byID, accountID)
	}
}

// of returns the member's sessions that have a mailbox of owner selected.
func (s *sharedSessions) of(accountID, owner int64) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.byID[accountID] {
		if sel := ss.sharedSel.Load(); sel != nil && sel.mb.AccountID == owner {
			out = append(out, ss)
		}
	}
	return out
}

// onGrants handles a store.ChangeGrants: each session of the member that
// has one of the role's mailboxes selected checks, on a goroutine of its
// own (a bus subscriber must not block), whether the grant is still
// there, and if not ends with BYE. A change of send-as alone keeps it.
func (s *Server) onGrants(c store.Change) {
	for _, ss := range s.shared.of(c.AccountID, c.MailboxID) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
			defer cancel()
			_, err := s.store.GrantFor(ctx, c.AccountID, c.MailboxID)
			if !errors.Is(err, store.ErrNoGrant) {
				return
			}
			ss.log.Info("imap: role mailbox access revoked; closing the connection")
			ss.cut()
		}()
	}
}

// selectShared finishes a SELECT of a role's mailbox: only \Seen is a
// permanent flag, the session is registered for revocation and the open
// is audited.
func (ss *session) selectShared(sel *selection, data *imap.SelectData) {
	if sel.grant == nil {
		return
	}
	if data.PermanentFlags != nil {
		data.PermanentFlags = []imap.Flag{imap.FlagSeen}
	}
	ss.sharedSel.Store(sel)
	ss.srv.shared.add(ss.acct.ID, ss)
	verb := "select"
	if sel.readOnly {
		verb = "examine"
	}
	ss.auditRead(sel.grant, "role.open", fmt.Sprintf("%s mailbox=%q messages=%d", verb, sel.mb.Name, data.NumMessages))
}

// unselectShared undoes selectShared.
func (ss *session) unselectShared() {
	if ss.sharedSel.Swap(nil) != nil {
		ss.srv.shared.remove(ss.acct.ID, ss)
	}
}

// copyTarget resolves the destination of COPY and MOVE: the account's
// own mailbox, or a role's mailbox the member may insert into ("i", a
// send-as grant). It returns the owner id and the owner's name for it.
func (ss *session) copyTarget(dest string) (owner int64, name string, err error) {
	if !isShared(dest) {
		return ss.acct.ID, dest, nil
	}
	_, g, err := ss.mailbox(dest)
	if err != nil {
		return 0, "", err
	}
	if !strings.Contains(g.Rights(), "i") {
		return 0, "", errNoPerm
	}
	_, inner, _ := store.SplitSharedName(dest)
	return g.Role.Owner(), inner, nil
}

// appendTarget resolves the mailbox of APPEND as copyTarget does (RFC
// 4314 section 4: APPEND needs "i").
func (ss *session) appendTarget(name string) (int64, string, error) { return ss.copyTarget(name) }

var _ imapserver.SessionACL = (*session)(nil)
