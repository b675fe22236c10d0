package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/connlimit"
	"github.com/caucus-org/caucus/mail/store"
)

// session is one IMAP connection.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	gc   *connauth.Conn // its id, sign-in and context
	log  *slog.Logger

	// Set by Login.
	acct auth.Account
	ctx  context.Context // cancelled when access is revoked, the server shuts down or the connection ends

	sel        *selection
	loginTimer *time.Timer
	// sharedSel is sel while it is a role's mailbox (shared.go): read by
	// the change bus's goroutine when a grant is revoked.
	sharedSel atomic.Pointer[selection]

	// idleMu orders the end of the connection against IDLE: the library
	// runs Idle on a goroutine of its own and may call Close while it
	// runs. Every other method runs on the connection's goroutine.
	idleMu sync.Mutex
}

// selection is the selected mailbox of a session.
type selection struct {
	ms        *mailboxState
	mb        store.Mailbox
	tracker   *imapserver.SessionTracker
	readOnly  bool
	grant     *store.Grant // set for a role's mailbox (shared.go)
	searchRes imap.UIDSet  // saved by SEARCH RETURN (SAVE), used as "$"

	// rev1 is set for an IMAP4rev1 session: messages with a UID of at
	// least recentFrom carry \Recent (see recentTracker).
	rev1       bool
	recentFrom imap.UID
	recentSent uint32 // the number of recent messages last told the client
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	gc := s.gate.Open(context.Background(), connlimit.RemoteAddr(c.NetConn()))
	ss := &session{srv: s, conn: c, gc: gc, ctx: gc.Context(), log: gc.Log}
	// A connection that does not sign in soon is closed: it holds a slot
	// of its address's limit.
	netConn := c.NetConn()
	ss.loginTimer = time.AfterFunc(s.cfg.LoginTimeout, func() { netConn.Close() })
	return ss, nil, nil
}

func errNo(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

var (
	errAuthFailed = errNo(imap.ResponseCodeAuthenticationFailed, "Authentication failed: use an app password made on your account page")
	errReadOnly   = errNo(imap.ResponseCodeCannot, "Mailbox is read-only (EXAMINE)")
)

// Login checks a mail-scoped app password. The account's own password, a
// files-only app password, a revoked one or a suspended account all get the
// same answer.
func (ss *session) Login(username, password string) error {
	err := ss.gc.SignIn(username, password, "imap", ss.cut)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return errNo(imap.ResponseCodeUnavailable, "Too many failed attempts; try again later")
	case errors.Is(err, connauth.ErrTooManyConns):
		return errNo(imap.ResponseCodeLimit, "Too many connections for this account")
	case err != nil:
		return errAuthFailed
	}
	ss.loginTimer.Stop()
	ss.acct, ss.ctx, ss.log = ss.gc.Account, ss.gc.Context(), ss.gc.Log
	return ss.srv.store.EnsureAccount(ss.ctx, ss.acct.ID)
}

// cut ends the connection at once when access is revoked, whatever it is
// doing: BYE if it is between commands, and the socket underneath TLS
// closed right after (a FETCH streaming to a slow phone), which also ends
// a blocked write.
func (ss *session) cut() {
	netConn := ss.conn.NetConn()
	raw := netConn
	if tc, ok := netConn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	go ss.conn.Bye("Access revoked")
	time.AfterFunc(100*time.Millisecond, func() { raw.Close() })
}

func (ss *session) Close() error {
	ss.loginTimer.Stop()
	ss.idleMu.Lock()
	if ss.sel != nil {
		ss.Unselect()
	}
	ss.idleMu.Unlock()
	ss.gc.Close()
	return nil
}

// storeErr maps store errors to IMAP responses.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoMailbox):
		return errNo(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrMailboxExists):
		return errNo(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrQuota):
		return errNo(imap.ResponseCodeOverQuota, "Over quota: delete some mail or ask an admin")
	case errors.Is(err, store.ErrTooLarge):
		return errNo(imap.ResponseCodeTooBig, "Message too large")
	case errors.Is(err, store.ErrSpecialUse):
		return errNo(imap.ResponseCodeCannot, "This mailbox cannot be deleted or renamed")
	case errors.Is(err, store.ErrBadName):
		return errNo(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, store.ErrHasChildren):
		return errNo(imap.ResponseCodeHasChildren, "Delete the mailboxes inside it first")
	case errors.Is(err, store.ErrBadFlag):
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid flag or keyword"}
	case errors.Is(err, store.ErrSearchTooComplex):
		return errNo(imap.ResponseCodeLimit, fmt.Sprintf("Search too complex: at most %d criteria, nested at most %d deep", store.MaxSearchCriteria, store.MaxSearchDepth))
	case errors.Is(err, store.ErrBlobCollected):
		return errNo(imap.ResponseCodeUnavailable, "Temporary failure, try again")
	case errors.Is(err, context.Canceled):
		return errNo(imap.ResponseCodeUnavailable, "Connection closing")
	}
	return err
}

// Mailboxes.

// Select opens a mailbox (RFC 9051 6.3.2, 6.3.3). FLAGS and
// PERMANENTFLAGS list the keywords in use as well as the system flags
// (RFC 9051 7.3.5). An IMAP4rev1 client (one that did not ENABLE
// IMAP4rev2) also gets the RECENT count and OK [UNSEEN n] (RFC 3501
// 6.3.1); see recentTracker for what \Recent means here.
func (ss *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if ss.sel != nil {
		ss.Unselect()
	}
	mb, grant, err := ss.mailbox(name)
	if err != nil {
		return nil, storeErr(err)
	}
	ms, err := ss.srv.boxes.acquire(ss.ctx, mb)
	if err != nil {
		return nil, err
	}
	ms.mu.Lock()
	n := uint32(len(ms.uids))
	tr := ms.tracker.NewSession()
	uidNext := mb.UIDNext
	if n > 0 && ms.uids[n-1] >= uidNext {
		uidNext = ms.uids[n-1] + 1
	}
	flags := ms.flags()
	ms.mu.Unlock()
	sel := &selection{ms: ms, mb: mb, tracker: tr, readOnly: options.ReadOnly, grant: grant}
	ss.sel = sel
	data := &imap.SelectData{
		Flags:          flags,
		PermanentFlags: append(slices.Clone(flags), imap.FlagWildcard),
		NumMessages:    n,
		UIDNext:        uidNext,
		UIDValidity:    mb.UIDValidity,
		HighestModSeq:  mb.HighestModSeq, // RFC 7162 3.1.2.1
	}
	if options.ReadOnly {
		data.PermanentFlags = nil
	}
	ss.selectShared(sel, data)
	if ss.rev2() {
		return data, nil
	}
	if err := ss.selectRev1(sel, uidNext, data); err != nil {
		ss.Unselect()
		return nil, storeErr(err)
	}
	return data, nil
}

// rev2 reports whether the client enabled IMAP4rev2 (RFC 9051 6.3.1):
// without it the session speaks IMAP4rev1.
func (ss *session) rev2() bool {
	return ss.conn.EnabledCaps().Has(imap.CapIMAP4rev2)
}

// selectRev1 adds to data what an IMAP4rev1 SELECT says (RFC 3501 6.3.1):
// the number of recent messages and the first unseen one.
func (ss *session) selectRev1(sel *selection, uidNext imap.UID, data *imap.SelectData) error {
	from, err := ss.srv.boxes.recent.claim(ss.ctx, sel.mb, uidNext, sel.readOnly)
	if err != nil {
		return err
	}
	sel.recentFrom = from
	sel.rev1 = true
	var unseen imap.UID
	if sel.mb.Unseen > 0 { // the mailbox row counts them: no scan when all are seen
		if unseen, err = ss.srv.store.FirstUnseen(ss.ctx, sel.mb.ID); err != nil {
			return err
		}
	}
	// Counted among the messages this SELECT reports, in its numbering:
	// deliveries since are announced after it.
	ms := sel.ms
	ms.mu.Lock()
	defer ms.mu.Unlock()
	uids := ms.uids[:min(len(ms.uids), int(data.NumMessages))]
	i, _ := slices.BinarySearch(uids, from)
	data.NumRecent = uint32(len(uids) - i)
	sel.recentSent = data.NumRecent
	if unseen != 0 {
		data.FirstUnseenSeqNum = sel.tracker.EncodeSeqNum(ms.seqOf(unseen))
	}
	return nil
}

// Unselect closes the selected mailbox. Messages that arrived while a
// read-write IMAP4rev1 session had it open are no longer recent for the
// sessions that come after.
func (ss *session) Unselect() error {
	sel := ss.sel
	if sel == nil {
		return nil
	}
	if sel.rev1 && !sel.readOnly {
		sel.ms.mu.Lock()
		if n := len(sel.ms.uids); n > 0 {
			ss.srv.boxes.recent.advance(sel.mb.ID, sel.ms.uids[n-1]+1)
		}
		sel.ms.mu.Unlock()
	}
	ss.unselectShared()
	sel.tracker.Close()
	ss.srv.boxes.release(sel.ms)
	ss.sel = nil
	return nil
}

func (ss *session) Create(name string, options *imap.CreateOptions) error {
	if reserved(name) {
		return errNoSharedCreate
	}
	return storeErr(ss.srv.store.CreateMailbox(ss.ctx, ss.acct.ID, name))
}

func (ss *session) Delete(name string) error {
	if isShared(name) {
		return errNoSharedCreate
	}
	mb, err := ss.srv.store.Mailbox(ss.ctx, ss.acct.ID, name)
	if err != nil {
		return storeErr(err)
	}
	if err := ss.srv.store.DeleteMailbox(ss.ctx, ss.acct.ID, name); err != nil {
		return storeErr(err)
	}
	ss.srv.boxes.forget(mb.ID)
	return nil
}

func (ss *session) Rename(oldName, newName string, options *imap.RenameOptions) error {
	if isShared(oldName) || reserved(newName) {
		return errNoSharedCreate
	}
	return storeErr(ss.srv.store.RenameMailbox(ss.ctx, ss.acct.ID, oldName, newName))
}

func (ss *session) Subscribe(name string) error {
	if isShared(name) {
		return ss.sharedSubscribe(name)
	}
	return storeErr(ss.srv.store.SetSubscribed(ss.ctx, ss.acct.ID, name, true))
}

func (ss *session) Unsubscribe(name string) error {
	if isShared(name) {
		return ss.sharedSubscribe(name)
	}
	return storeErr(ss.srv.store.SetSubscribed(ss.ctx, ss.acct.ID, name, false))
}

func (ss *session) AppendLimit() uint32 { return ss.srv.cfg.AppendLimit }

// statusData answers the STATUS items of options for mb (RFC 9051 6.3.11;
// RECENT from RFC 3501 6.3.10, DELETED-STORAGE from RFC 9208 4.2). Every
// item asked for gets a value: go-imap writes each one it was asked.
func (ss *session) statusData(mb store.Mailbox, options *imap.StatusOptions) (*imap.StatusData, error) {
	d := &imap.StatusData{Mailbox: mb.Name}
	if options.HighestModSeq { // RFC 7162 3.1.6
		d.HighestModSeq = mb.HighestModSeq
	}
	if options.NumMessages {
		n := mb.Messages
		d.NumMessages = &n
	}
	if options.UIDNext {
		d.UIDNext = mb.UIDNext
	}
	if options.UIDValidity {
		d.UIDValidity = mb.UIDValidity
	}
	if options.NumUnseen {
		n := mb.Unseen
		d.NumUnseen = &n
	}
	if options.Size {
		n := mb.Size
		d.Size = &n
	}
	if options.NumDeleted || options.DeletedStorage {
		n, size, err := ss.srv.store.DeletedStats(ss.ctx, mb.ID)
		if err != nil {
			return nil, err
		}
		kib := (size + 1023) / 1024 // RFC 9208 counts storage in units of 1024 octets
		d.NumDeleted, d.DeletedStorage = &n, &kib
	}
	if options.NumRecent {
		n, err := ss.srv.boxes.recent.count(ss.ctx, mb)
		if err != nil {
			return nil, err
		}
		d.NumRecent = &n
	}
	if options.AppendLimit {
		n := ss.srv.cfg.AppendLimit
		d.AppendLimit = &n
	}
	return d, nil
}

func (ss *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	mb, _, err := ss.mailbox(name)
	if err != nil {
		return nil, storeErr(err)
	}
	d, err := ss.statusData(mb, options)
	return d, storeErr(err)
}

func (ss *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	flags := slices.DeleteFunc(slices.Clone(options.Flags), func(f imap.Flag) bool { return f == "\\Recent" })
	owner, target, err := ss.appendTarget(name)
	if err != nil {
		return nil, storeErr(err)
	}
	mb, uid, err := ss.srv.store.Append(ss.ctx, owner, target, r, flags, options.Time)
	if err != nil {
		if errors.Is(err, store.ErrNoMailbox) {
			return nil, errNo(imap.ResponseCodeTryCreate, "No such mailbox")
		}
		return nil, storeErr(err)
	}
	return &imap.AppendData{UID: uid, UIDValidity: mb.UIDValidity}, nil
}

// Updates.

// Poll writes the mailbox's pending updates; to an IMAP4rev1 session also
// the new number of recent messages when it changed (RFC 3501 7.3.2).
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := ss.sel
	if sel == nil {
		return nil
	}
	if err := sel.tracker.Poll(w, allowExpunge); err != nil {
		return err
	}
	if !sel.rev1 {
		return nil
	}
	if n := sel.numRecent(); n != sel.recentSent {
		sel.recentSent = n
		return w.WriteNumRecent(n)
	}
	return nil
}

// numRecent counts the recent messages that the session knows of: those
// from recentFrom on, but the newest ones not yet announced to it.
func (sel *selection) numRecent() uint32 {
	ms := sel.ms
	ms.mu.Lock()
	defer ms.mu.Unlock()
	from, _ := slices.BinarySearch(ms.uids, sel.recentFrom)
	known := len(ms.uids)
	for known > from && sel.tracker.EncodeSeqNum(uint32(known)) == 0 {
		known--
	}
	return uint32(known - from)
}

func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	ss.idleMu.Lock()
	sel := ss.sel
	ss.idleMu.Unlock()
	if sel == nil {
		select {
		case <-stop:
		case <-ss.ctx.Done():
		}
		return nil
	}
	return sel.tracker.Idle(w, stop)
}
