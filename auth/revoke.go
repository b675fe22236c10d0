package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/caucus-org/caucus/internal/audit"
)

// ErrRevoked is the cause of a live connection's context when its account or
// credential was revoked.
var ErrRevoked = errors.New("auth: access revoked")

// Revocations is the revocation bus: the one door through which live
// connections (IMAP, SMTP submission, WebDAV requests, web requests) are
// registered under their account and credential, and through which
// revoking access closes them at once. [Service] revokes through it
// (Revoke, SetState, app password and session revocation) and registers
// through it ([Service.Connect]); protocol packages reach it only through
// the Service (auth/connauth), never directly.
//
// [Hub] is the in-process implementation, for one node. A multi-node
// implementation (PostgreSQL LISTEN/NOTIFY, say) slots in behind the same
// interface, given as [Deps].Revocations: it keeps the epochs where every
// node reads them, sends each revocation to every node, which cancels its
// own connections, and no protocol package changes.
type Revocations interface {
	// Epoch returns the account's revocation epoch, bumped by every
	// revocation of the account. A credential check reads it before it
	// looks at the credential and hands it to Register.
	Epoch(accountID int64) uint64
	// Register records a live connection of an account that signed in
	// with cred when the account's epoch was epoch. The returned context
	// is cancelled, with cause [ErrRevoked], when the account or that
	// credential is revoked (at once, if that happened since epoch);
	// release must be called when the connection ends.
	Register(parent context.Context, accountID int64, cred string, epoch uint64) (ctx context.Context, release func())
	// RevokeAccount cancels every live connection of the account and
	// returns how many it cancelled.
	RevokeAccount(accountID int64) int
	// RevokeSessions cancels the account's live connections opened with
	// any of its web sessions ([SessionCred]).
	RevokeSessions(accountID int64) int
	// RevokeCredential cancels the account's live connections that signed
	// in with cred ([AppPasswordCred], [SessionCred]).
	RevokeCredential(accountID int64, cred string) int
	// Live returns how many connections the account has open.
	Live(accountID int64) int
}

var _ Revocations = (*Hub)(nil)

// Hub is the in-process [Revocations]. It tracks every live connection
// (IMAP, SMTP submission, WebDAV request) by account and by the credential
// it signed in with, and cancels their contexts when access is revoked.
// Protocol servers close a connection as soon as its context is done, so
// revocation takes effect at once.
type Hub struct {
	mu    sync.Mutex
	live  map[int64]map[*liveConn]struct{}
	epoch map[int64]uint64 // bumped by every revocation of the account
}

type liveConn struct {
	cred   string
	cancel context.CancelCauseFunc
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{live: map[int64]map[*liveConn]struct{}{}, epoch: map[int64]uint64{}}
}

// Epoch returns the account's revocation epoch. A credential check reads it
// before it looks at the credential and hands it to [Hub.Register], so a
// connection that raced with a revocation is cancelled on arrival.
func (h *Hub) Epoch(accountID int64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch[accountID]
}

// AppPasswordCred names an app password for [Revocations.Register].
func AppPasswordCred(id int64) string { return "app:" + strconv.FormatInt(id, 10) }

// SessionCred names a web session for [Revocations.Register].
func SessionCred(id int64) string { return "session:" + strconv.FormatInt(id, 10) }

// Register records a live connection of an account that signed in with cred
// when the account's revocation epoch was epoch. The returned context is
// cancelled, with cause [ErrRevoked], when the account or that credential is
// revoked (at once, if that happened since epoch); release must be called
// when the connection ends.
func (h *Hub) Register(parent context.Context, accountID int64, cred string, epoch uint64) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(parent)
	c := &liveConn{cred: cred, cancel: cancel}
	h.mu.Lock()
	if h.epoch[accountID] != epoch {
		h.mu.Unlock()
		cancel(ErrRevoked)
		return ctx, func() {}
	}
	m := h.live[accountID]
	if m == nil {
		m = map[*liveConn]struct{}{}
		h.live[accountID] = m
	}
	m[c] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.live[accountID], c)
			if len(h.live[accountID]) == 0 {
				delete(h.live, accountID)
			}
			h.mu.Unlock()
			cancel(context.Canceled)
		})
	}
}

// revoke cancels the account's connections whose credential matches and
// returns how many it cancelled. It bumps the account's epoch, so that a
// connection whose check raced with it is cancelled when it registers.
func (h *Hub) revoke(accountID int64, match func(cred string) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch[accountID]++
	n := 0
	for c := range h.live[accountID] {
		if match(c.cred) {
			c.cancel(ErrRevoked)
			delete(h.live[accountID], c)
			n++
		}
	}
	if len(h.live[accountID]) == 0 {
		delete(h.live, accountID)
	}
	return n
}

// RevokeAccount cancels every live connection of the account.
func (h *Hub) RevokeAccount(accountID int64) int {
	return h.revoke(accountID, func(string) bool { return true })
}

// RevokeSessions cancels the account's live connections opened with any of
// its web sessions.
func (h *Hub) RevokeSessions(accountID int64) int {
	return h.revoke(accountID, func(cred string) bool { return strings.HasPrefix(cred, "session:") })
}

// RevokeCredential cancels the account's live connections that signed in with cred.
func (h *Hub) RevokeCredential(accountID int64, cred string) int {
	if cred == "" {
		return 0
	}
	return h.revoke(accountID, func(c string) bool { return c == cred })
}

// Live returns how many connections the account has open.
func (h *Hub) Live(accountID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live[accountID])
}

// RevokeReport says what a revocation did, for the admin and the audit log.
type RevokeReport struct {
	Sessions     int // web sessions ended
	AppPasswords int // app passwords revoked
	Connections  int // live protocol connections closed
}

func (r RevokeReport) String() string {
	return fmt.Sprintf("sessions=%d app_passwords=%d connections=%d", r.Sessions, r.AppPasswords, r.Connections)
}

// Revoke ends every web session of the account, revokes every app password
// and closes every live connection, at once, and writes one audit record with
// what was done. Factors (passkeys, TOTP) are kept; see [Service.RemoveAllFactors].
func (s *Service) Revoke(ctx context.Context, actor string, accountID int64, c Client) (RevokeReport, error) {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return RevokeReport{}, err
	}
	var rep RevokeReport
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ?`, accountID)
		if err != nil {
			return fmt.Errorf("auth: revoke sessions: %w", err)
		}
		n, _ := res.RowsAffected()
		rep.Sessions = int(n)
		res, err = tx.ExecContext(ctx, `UPDATE app_passwords SET revoked_at = ?, revoked_by = ? WHERE account_id = ? AND revoked_at IS NULL`, s.now().Unix(), actor, accountID)
		if err != nil {
			return fmt.Errorf("auth: revoke app passwords: %w", err)
		}
		n, _ = res.RowsAffected()
		rep.AppPasswords = int(n)
		return nil
	})
	if err != nil {
		return rep, err
	}
	// The database no longer knows the secrets; now drop them from the fast
	// path and close what is open.
	s.forgetAppPasswords(accountID, 0)
	rep.Connections = s.hub.RevokeAccount(accountID)
	err = s.audit.Record(ctx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "revoke", Detail: rep.String(), Addr: c.addr(), UserAgent: c.UserAgent})
	return rep, err
}
