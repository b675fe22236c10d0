package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// Scope says which protocols an app password opens.
type Scope uint8

// Scopes; an app password may hold several.
const (
	ScopeMail     Scope = 1 << iota // IMAP and SMTP submission
	ScopeFiles                      // WebDAV
	ScopeCalendar                   // CalDAV and CardDAV: calendars and contacts

	// ScopeAll is every scope: what one phone profile sets up.
	ScopeAll = ScopeMail | ScopeFiles | ScopeCalendar
)

// scopeNames are the scopes' names, in the order String joins them.
var scopeNames = [...]struct {
	sc   Scope
	name string
}{{ScopeMail, "mail"}, {ScopeFiles, "files"}, {ScopeCalendar, "calendar"}}

// String names the scopes joined by "+", e.g. "mail+calendar"; "none" for
// no scope.
func (sc Scope) String() string {
	var parts []string
	for _, n := range scopeNames {
		if sc&n.sc != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 || sc&^ScopeAll != 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// ParseScope reads scope names joined by "+" ("mail", "files",
// "calendar", "mail+files", …), or "all"; "both" is the older name of
// "mail+files".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "all":
		return ScopeAll, nil
	case "both":
		return ScopeMail | ScopeFiles, nil
	}
	var sc Scope
	for part := range strings.SplitSeq(s, "+") {
		known := sc
		for _, n := range scopeNames {
			if n.name == part {
				sc |= n.sc
			}
		}
		if sc == known {
			return 0, fmt.Errorf("%w: scope must be mail, files, calendar, or several joined by +", ErrInvalid)
		}
	}
	return sc, nil
}

// AppPasswordInfo describes an app password; the secret itself is never kept.
type AppPasswordInfo struct {
	ID           int64
	Name         string // the device, e.g. "Anna's iPhone"
	Scope        Scope
	CreatedAt    time.Time
	CreatedAddr  string
	LastUsedAt   time.Time
	LastUsedAddr string
	RevokedAt    time.Time
	RevokedBy    string
}

// Grant is a successful app-password check: who, and with which app
// password, so that the connection can register with the revocation hub.
type Grant struct {
	Account       Account
	AppPasswordID int64
	epoch         uint64
}

// Connect registers a live connection opened with g. The returned context is
// cancelled when the account or the app password is revoked; release must be
// called when the connection ends.
func (s *Service) Connect(parent context.Context, g Grant) (context.Context, func()) {
	return s.hub.Register(parent, g.Account.ID, AppPasswordCred(g.AppPasswordID), g.epoch)
}

type appPassEntry struct {
	id    int64
	scope Scope
	acct  Account
}

type appPassUse struct {
	at   time.Time
	addr string
}

// App passwords are 136 random bits, written as 28 characters of base32 in
// groups of four for typing on a phone.
var appPassEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newAppPassword() string {
	b := make([]byte, 17) // 136 bits, 28 characters
	rand.Read(b)
	e := strings.ToLower(appPassEncoding.EncodeToString(b))[:28]
	var out strings.Builder
	for i := 0; i < len(e); i += 4 {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(e[i : i+4])
	}
	return out.String()
}

// normalizeAppPassword accepts the secret as typed (any case, dashes or spaces or not).
func normalizeAppPassword(secret string) string {
	if len(secret) > 128 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		switch {
		case c == '-' || c == ' ':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (s *Service) appPassHash(secret string) [32]byte {
	return s.keys.hash("app-password", normalizeAppPassword(secret))
}

// CreateAppPassword makes an app password for a device. It needs a fresh web
// sign-in. The secret is returned this once.
func (s *Service) CreateAppPassword(ctx context.Context, sess Session, name string, scope Scope, c Client) (string, AppPasswordInfo, error) {
	if sess.Stage != StageFull {
		return "", AppPasswordInfo{}, ErrSessionInvalid
	}
	if err := s.requireFresh(sess); err != nil {
		return "", AppPasswordInfo{}, err
	}
	name, err := validFactorName(name)
	if err != nil {
		return "", AppPasswordInfo{}, err
	}
	if scope == 0 || scope&^ScopeAll != 0 {
		return "", AppPasswordInfo{}, fmt.Errorf("%w: scope", ErrInvalid)
	}
	secret := newAppPassword()
	h := s.appPassHash(secret)
	info := AppPasswordInfo{Name: name, Scope: scope, CreatedAt: s.now(), CreatedAddr: c.addr()}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The session may have been ended (a revocation) since it was read:
		// an app password made now would outlive that revocation.
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, sess.ID).Scan(&live); err != nil {
			return fmt.Errorf("auth: create app password: %w", err)
		}
		if live == 0 {
			return ErrSessionInvalid
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO app_passwords (account_id, name, scope, hash, created_at, created_addr) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			sess.Account.ID, name, scope, h[:], info.CreatedAt.Unix(), info.CreatedAddr).Scan(&info.ID)
		if err != nil {
			return fmt.Errorf("auth: create app password: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "apppassword.create",
			Detail: fmt.Sprintf("id=%d name=%q scope=%s", info.ID, name, scope), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err != nil {
		return "", AppPasswordInfo{}, err
	}
	// Reload the index on the next check rather than add the entry here: a
	// revocation that committed after this transaction may already have run
	// forgetAppPasswords, and an entry added now would outlive it.
	s.apMu.Lock()
	s.apCache = nil
	s.apMu.Unlock()
	return secret, info, nil
}

// AppPasswords lists an account's app passwords, revoked ones included.
func (s *Service) AppPasswords(ctx context.Context, accountID int64) ([]AppPasswordInfo, error) {
	s.flushAppPasswordUse(ctx)
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, scope, created_at, created_addr, last_used_at, last_used_addr, revoked_at, revoked_by
		FROM app_passwords WHERE account_id = ? ORDER BY revoked_at IS NOT NULL, created_at DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: list app passwords: %w", err)
	}
	defer rows.Close()
	var out []AppPasswordInfo
	for rows.Next() {
		var i AppPasswordInfo
		var created int64
		var used, revoked sql.NullInt64
		var usedAddr, revokedBy sql.NullString
		if err := rows.Scan(&i.ID, &i.Name, &i.Scope, &created, &i.CreatedAddr, &used, &usedAddr, &revoked, &revokedBy); err != nil {
			return nil, fmt.Errorf("auth: list app passwords: %w", err)
		}
		i.CreatedAt = time.Unix(created, 0)
		if used.Valid {
			i.LastUsedAt, i.LastUsedAddr = time.Unix(used.Int64, 0), usedAddr.String
		}
		if revoked.Valid {
			i.RevokedAt, i.RevokedBy = time.Unix(revoked.Int64, 0), revokedBy.String
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// RevokeAppPassword revokes one app password of an account and closes every
// live connection that signed in with it. actor is the user or an admin.
func (s *Service) RevokeAppPassword(ctx context.Context, actor string, accountID, id int64, c Client) error {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE app_passwords SET revoked_at = ?, revoked_by = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL`,
			s.now().Unix(), actor, id, accountID)
		if err != nil {
			return fmt.Errorf("auth: revoke app password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "apppassword.revoke", Detail: fmt.Sprintf("id=%d", id), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err != nil {
		return err
	}
	s.forgetAppPasswords(accountID, id)
	s.hub.RevokeCredential(accountID, AppPasswordCred(id))
	return nil
}

// forgetAppPasswords drops an account's app passwords (id 0: all of them)
// from the in-memory index.
func (s *Service) forgetAppPasswords(accountID, id int64) {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	for h, e := range s.apCache {
		if e.acct.ID == accountID && (id == 0 || e.id == id) {
			delete(s.apCache, h)
		}
	}
}

// loadAppPasswords fills the in-memory index of live app passwords.
func (s *Service) loadAppPasswords(ctx context.Context) error {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	if s.apCache != nil {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, p.scope, p.hash, `+accountCols+` FROM app_passwords p JOIN accounts a ON a.id = p.account_id WHERE p.revoked_at IS NULL`)
	if err != nil {
		return fmt.Errorf("auth: load app passwords: %w", err)
	}
	defer rows.Close()
	m := map[[32]byte]appPassEntry{}
	for rows.Next() {
		var e appPassEntry
		var h []byte
		if e.acct, err = scanAccount(rows, &e.id, &e.scope, &h); err != nil {
			return err
		}
		if len(h) == 32 {
			m[[32]byte(h)] = e
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auth: load app passwords: %w", err)
	}
	s.apCache = m
	return nil
}

// AppPassword checks an app password for a protocol that cannot do WebAuthn
// (IMAP, SMTP submission, WebDAV). Only app passwords valid for scope are
// accepted: the account's own password never is. Unknown accounts answer
// like known ones. A correct app password is never refused for anyone's
// failures (136 random bits need no per-account lock); wrong ones are
// slowed down per address and login, and per address (see throttle.go).
func (s *Service) AppPassword(ctx context.Context, login, secret string, scope Scope, c Client) (Grant, error) {
	const kind = "login.apppassword"
	login = NormalizeLogin(login)
	// No in-flight bound and no throttle before the check: phones open
	// several connections at once, and 136 random bits cannot be guessed.
	e, epoch, ok, err := s.liveAppPassword(ctx, s.appPassHash(secret))
	if err != nil {
		return Grant{}, err
	}
	if !ok || e.acct.Login != login {
		return Grant{}, s.failedUnguessable(ctx, kind, credApp, login, "bad-credentials", c, ErrBadCredentials)
	}
	if e.scope&scope != scope {
		return Grant{}, s.failedUnguessable(ctx, kind, credApp, login, "scope", c, ErrScope)
	}
	if !s.usable(e.acct) || e.acct.State != StateActive {
		return Grant{}, s.failedUnguessable(ctx, kind, credApp, login, "inactive", c, ErrInactive)
	}
	s.apMu.Lock()
	s.apDirty[e.id] = appPassUse{at: s.now(), addr: c.addr()}
	s.apMu.Unlock()
	s.throttle.Succeed(pairKey(credApp, login, c.Addr))
	return Grant{Account: e.acct, AppPasswordID: e.id, epoch: epoch}, nil
}

// liveAppPassword finds the live app password whose keyed hash is h, with
// the revocation epoch of its account (see [Hub.Epoch]): a connection it
// opens is cancelled when it registers if the account was revoked after
// the password was found. On SQLite, one server owns the database and
// looks in its in-memory index; on PostgreSQL, other nodes make and revoke
// app passwords and change accounts, which this node's memory would not
// know, so each check reads the database (appPasswordRow), unless the
// node's cache, kept true by the database's notifications, holds it
// (ShareCaches, clustercache.go).
func (s *Service) liveAppPassword(ctx context.Context, h [32]byte) (e appPassEntry, epoch uint64, ok bool, err error) {
	if s.db.Engine() == db.Postgres {
		e, epoch, ok, gen := s.cachedAppPassword(h)
		if ok {
			return e, epoch, true, nil
		}
		e, epoch, ok, err = s.liveAppPasswordRow(ctx, h)
		if err == nil && ok {
			s.cacheAppPassword(h, e, epoch, gen)
		}
		return e, epoch, ok, err
	}
	// The epoch is read under apMu with the lookup: a revocation forgets the
	// entry (under apMu) before it bumps the epoch, so either the entry is
	// gone or the epoch is the old one and the connection is cancelled when
	// it registers. Once the index is loaded, the read lock alone: a WebDAV
	// request checks its app password every time.
	s.apMu.RLock()
	if s.apCache == nil {
		s.apMu.RUnlock()
		if err := s.loadAppPasswords(ctx); err != nil {
			return e, 0, false, err
		}
		s.apMu.RLock()
	}
	defer s.apMu.RUnlock()
	if e, ok = s.apCache[h]; ok {
		epoch = s.hub.Epoch(e.acct.ID)
	}
	return e, epoch, ok, nil
}

// liveAppPasswordRow is liveAppPassword on PostgreSQL. The epoch must be
// read before the row that is then returned: a revocation that committed
// before that read is seen by it, and one after it bumps the epoch after
// that (Revoke bumps once it has committed). When this node has seen the
// app password before, it knows the account and reads its epoch first,
// then the row once; else it reads the row, the epoch, and the row again.
func (s *Service) liveAppPasswordRow(ctx context.Context, h [32]byte) (e appPassEntry, epoch uint64, ok bool, err error) {
	s.apMu.RLock()
	owner, known := s.apOwner[h]
	s.apMu.RUnlock()
	if known {
		epoch = s.hub.Epoch(owner)
	} else {
		if e, ok, err = s.appPasswordRow(ctx, h); err != nil || !ok {
			return e, 0, ok, err
		}
		epoch = s.hub.Epoch(e.acct.ID)
	}
	e, ok, err = s.appPasswordRow(ctx, h)
	if err != nil {
		return e, 0, false, err
	}
	s.apMu.Lock()
	if !ok {
		delete(s.apOwner, h) // revoked: forget it
	} else {
		s.apOwner[h] = e.acct.ID
	}
	s.apMu.Unlock()
	if ok && known && e.acct.ID != owner {
		// Not expected (an app password never changes hands), but then
		// the epoch read was another account's: read it all again.
		return s.liveAppPasswordRow(ctx, h)
	}
	return e, epoch, ok, nil
}

// appPasswordRow reads the live app password whose keyed hash is h, and
// its account, from the database (one lookup in the unique index of the
// hashes).
func (s *Service) appPasswordRow(ctx context.Context, h [32]byte) (appPassEntry, bool, error) {
	st, err := s.db.Prepared(ctx, `SELECT p.id, p.scope, `+accountCols+` FROM app_passwords p JOIN accounts a ON a.id = p.account_id
		WHERE p.hash = ? AND p.revoked_at IS NULL`)
	if err != nil {
		return appPassEntry{}, false, fmt.Errorf("auth: check app password: %w", err)
	}
	var e appPassEntry
	e.acct, err = scanAccount(st.QueryRowContext(ctx, h[:]), &e.id, &e.scope)
	if errors.Is(err, ErrNotFound) {
		return appPassEntry{}, false, nil
	}
	return e, err == nil, err
}

// flushAppPasswordUse writes the last-use times gathered since the last flush.
func (s *Service) flushAppPasswordUse(ctx context.Context) error {
	s.apMu.Lock()
	dirty := s.apDirty
	s.apDirty = map[int64]appPassUse{}
	s.apMu.Unlock()
	if len(dirty) == 0 {
		return nil
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for id, u := range dirty {
			if _, err := tx.ExecContext(ctx, `UPDATE app_passwords SET last_used_at = ?, last_used_addr = ? WHERE id = ?`, u.at.Unix(), u.addr, id); err != nil {
				return fmt.Errorf("auth: record app password use: %w", err)
			}
		}
		return nil
	})
}

// Run does the service's housekeeping until ctx ends: it writes app password
// last-use times and deletes expired sessions. An account past its expiry
// date cannot sign in from that moment; suspending it, with everything
// that goes with it, is the console's job (admin.Ops.ExpireDue).
func (s *Service) Run(ctx context.Context) {
	flush := time.NewTicker(15 * time.Second)
	defer flush.Stop()
	hourly := time.NewTicker(time.Hour)
	defer hourly.Stop()
	housekeeping := func() {
		if ctx.Err() != nil {
			return // shutting down
		}
		if err := s.Cleanup(ctx); err != nil {
			s.log.Warn("session cleanup", "err", err)
		}
	}
	housekeeping()
	for {
		select {
		case <-ctx.Done():
			// Last flush on the way out, with a short deadline of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flushAppPasswordUse(fctx)
			cancel()
			return
		case <-flush.C:
			if err := s.flushAppPasswordUse(ctx); err != nil {
				s.log.Warn("record app password use", "err", err)
			}
		case <-hourly.C:
			housekeeping()
		}
	}
}
