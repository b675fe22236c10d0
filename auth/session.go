package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/web"
)

// Stage is how far a web session has come in signing in.
type Stage string

// Session stages. Only StageFull opens caucus's pages; the other two open
// exactly one page each.
const (
	StageSecond Stage = "second" // password checked; a second factor is due
	StageEnrol  Stage = "enrol"  // the account has no second factor: enrolment only
	StageFull   Stage = "full"
)

const (
	secondStageTTL = 5 * time.Minute
	enrolStageTTL  = time.Hour
	// lastSeenGranularity bounds database writes: a session's last-seen time
	// is written at most this often.
	lastSeenGranularity = time.Minute
)

// Session is a server-side web session. The browser holds only a random
// token; the database holds its SHA-256.
type Session struct {
	ID        int64
	Account   Account
	Stage     Stage
	CSRF      string // per-session token that every form carries
	CreatedAt time.Time
	LastSeen  time.Time
	AuthAt    time.Time // last sign-in or step-up
	// Method is how the session last proved a second factor: "passkey",
	// "webauthn" (a security key or passkey after the password), "totp",
	// "recovery", or "" before any.
	Method    string
	ExpiresAt time.Time // absolute end
	Addr      string
	UserAgent string

	ceremony []byte
}

// Fresh reports whether the session signed in (or stepped up) within the
// step-up window, as sensitive changes require.
func (s *Service) Fresh(sess Session) bool {
	return sess.Stage == StageEnrol || s.now().Sub(sess.AuthAt) < s.cfg.StepUpWindow
}

// FreshWebAuthn reports whether the session proved a passkey or security
// key within the step-up window: what the admin console asks of every
// action, because a TOTP code can be phished and a WebAuthn assertion
// cannot.
func (s *Service) FreshWebAuthn(sess Session) bool {
	return sess.Stage == StageFull && (sess.Method == MethodPasskey || sess.Method == MethodWebAuthn) &&
		s.now().Sub(sess.AuthAt) < s.cfg.StepUpWindow
}

// How a session proved its second factor (Session.Method).
const (
	MethodPasskey  = "passkey"
	MethodWebAuthn = "webauthn"
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
)

func (s *Service) requireFresh(sess Session) error {
	if sess.Stage != StageFull && sess.Stage != StageEnrol {
		return ErrSessionInvalid
	}
	if !s.Fresh(sess) {
		return ErrStepUp
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// newSession creates a session in tx and returns its token.
func (s *Service) newSession(ctx context.Context, tx *sql.Tx, accountID int64, st Stage, method string, c Client) (string, error) {
	token := web.RandomToken(32)
	now := s.now()
	exp := now.Add(s.cfg.AbsoluteTimeout)
	switch st {
	case StageSecond:
		exp = now.Add(secondStageTTL)
	case StageEnrol:
		exp = now.Add(enrolStageTTL)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, account_id, stage, csrf, created_at, last_seen_at, auth_at, expires_at, addr, user_agent, method)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		web.TokenHash(token), accountID, st, web.RandomToken(24), now.Unix(), now.Unix(), now.Unix(), exp.Unix(), c.addr(), truncate(c.UserAgent, 256), method)
	if err != nil {
		return "", fmt.Errorf("auth: create session: %w", err)
	}
	return token, nil
}

// Session returns the live session for a cookie token. It refuses expired
// sessions (idle or absolute) and sessions of accounts that may no longer
// sign in.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 100 {
		return Session{}, ErrSessionInvalid
	}
	var sess Session
	var created, seen, authAt, exp int64
	row := s.db.QueryRowContext(ctx, `SELECT s.id, s.stage, s.csrf, s.created_at, s.last_seen_at, s.auth_at, s.expires_at, s.addr, s.user_agent, s.ceremony, s.method, `+accountCols+`
		FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?`, web.TokenHash(token))
	var ceremony sql.NullString
	a, err := scanAccount(row, &sess.ID, &sess.Stage, &sess.CSRF, &created, &seen, &authAt, &exp, &sess.Addr, &sess.UserAgent, &ceremony, &sess.Method)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrSessionInvalid
	}
	if err != nil {
		return Session{}, err
	}
	sess.Account = a
	sess.CreatedAt, sess.LastSeen, sess.AuthAt, sess.ExpiresAt = time.Unix(created, 0), time.Unix(seen, 0), time.Unix(authAt, 0), time.Unix(exp, 0)
	if ceremony.Valid {
		sess.ceremony = []byte(ceremony.String)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= s.cfg.IdleTimeout || !s.usable(a) {
		s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, sess.ID)
		return Session{}, ErrSessionInvalid
	}
	if now.Sub(sess.LastSeen) >= lastSeenGranularity {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, now.Unix(), sess.ID); err != nil {
			return Session{}, fmt.Errorf("auth: touch session: %w", err)
		}
		sess.LastSeen = now
	}
	return sess, nil
}

// SignOut ends the session with the given token.
func (s *Service) SignOut(ctx context.Context, token string, c Client) error {
	sess, err := s.Session(ctx, token)
	if err != nil {
		return nil // nothing to end
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, sess.ID); err != nil {
			return fmt.Errorf("auth: sign out: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "session.signout", Addr: c.addr(), UserAgent: c.UserAgent})
	})
}

// Sessions lists an account's sessions, newest first.
func (s *Service) Sessions(ctx context.Context, accountID int64) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, stage, created_at, last_seen_at, auth_at, expires_at, addr, user_agent FROM sessions
		WHERE account_id = ? AND expires_at > ? ORDER BY last_seen_at DESC`, accountID, s.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("auth: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var x Session
		var c, l, a, e int64
		if err := rows.Scan(&x.ID, &x.Stage, &c, &l, &a, &e, &x.Addr, &x.UserAgent); err != nil {
			return nil, fmt.Errorf("auth: list sessions: %w", err)
		}
		x.CreatedAt, x.LastSeen, x.AuthAt, x.ExpiresAt = time.Unix(c, 0), time.Unix(l, 0), time.Unix(a, 0), time.Unix(e, 0)
		out = append(out, x)
	}
	return out, rows.Err()
}

// EndSession ends one session of an account (id 0: all of them) and closes
// anything live that was opened with it.
func (s *Service) EndSession(ctx context.Context, actor string, accountID, sessionID int64, c Client) (int, error) {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		q, args := `DELETE FROM sessions WHERE account_id = ?`, []any{accountID}
		if sessionID != 0 {
			q, args = q+` AND id = ?`, append(args, sessionID)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("auth: end session: %w", err)
		}
		n, _ = res.RowsAffected()
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "session.revoke", Detail: fmt.Sprintf("session=%d ended=%d", sessionID, n), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err != nil {
		return 0, err
	}
	if sessionID == 0 {
		s.hub.RevokeSessions(accountID)
	} else {
		s.hub.RevokeCredential(accountID, SessionCred(sessionID))
	}
	return int(n), nil
}

// promote replaces a session by a new one of the given stage (a new token, so
// a token seen before sign-in is worth nothing after) and marks the account's
// sign-in. It runs in tx.
func (s *Service) promote(ctx context.Context, tx *sql.Tx, old Session, st Stage, method string, c Client) (string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, old.ID); err != nil {
		return "", fmt.Errorf("auth: promote session: %w", err)
	}
	if st == StageFull {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_login_at = ? WHERE id = ?`, s.now().Unix(), old.Account.ID); err != nil {
			return "", fmt.Errorf("auth: promote session: %w", err)
		}
	}
	return s.newSession(ctx, tx, old.Account.ID, st, method, c)
}

// stepUp records a fresh verification in a full session.
func (s *Service) stepUp(ctx context.Context, tx *sql.Tx, sess Session, method string) error {
	_, err := tx.ExecContext(ctx, `UPDATE sessions SET auth_at = ?, method = ?, ceremony = NULL WHERE id = ?`, s.now().Unix(), method, sess.ID)
	if err != nil {
		return fmt.Errorf("auth: step up: %w", err)
	}
	return nil
}

// ceremonyState is what a session remembers between the two halves of a
// WebAuthn ceremony or a TOTP enrolment.
type ceremonyState struct {
	Kind     string          `json:"kind"` // "login", "register", "totp"
	CredKind string          `json:"cred_kind,omitempty"`
	WebAuthn json.RawMessage `json:"webauthn,omitempty"`
	TOTP     []byte          `json:"totp,omitempty"` // sealed secret
	Expires  int64           `json:"expires"`
}

func (s *Service) setCeremony(ctx context.Context, sessID int64, st ceremonyState) error {
	st.Expires = s.now().Add(5 * time.Minute).Unix()
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("auth: ceremony: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET ceremony = ? WHERE id = ?`, string(b), sessID); err != nil {
		return fmt.Errorf("auth: ceremony: %w", err)
	}
	return nil
}

func (s *Service) getCeremony(sess Session, kind string) (ceremonyState, error) {
	var st ceremonyState
	if len(sess.ceremony) == 0 {
		return st, fmt.Errorf("%w: no %s in progress", ErrInvalid, kind)
	}
	if err := json.Unmarshal(sess.ceremony, &st); err != nil {
		return st, fmt.Errorf("auth: ceremony: %w", err)
	}
	if st.Kind != kind || s.now().Unix() > st.Expires {
		return st, fmt.Errorf("%w: no %s in progress", ErrInvalid, kind)
	}
	return st, nil
}

// Cleanup deletes expired sessions, ceremonies and invites.
func (s *Service) Cleanup(ctx context.Context) error {
	now := s.now().Unix()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`, now, now-int64(s.cfg.IdleTimeout/time.Second)); err != nil {
			return fmt.Errorf("auth: cleanup: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ceremonies WHERE expires_at <= ?`, now); err != nil {
			return fmt.Errorf("auth: cleanup: %w", err)
		}
		return nil
	})
}

// ConnectSession registers a long request of the web session sess (a
// download or an upload in the browser) with the revocation hub, as
// [Service.Connect] does for app passwords: the returned context ends, with
// cause [ErrRevoked], when the session ends or the account is revoked. The
// session is looked up again after registering, so that a revocation
// racing with the request's own check is not missed. release must be
// called when the request ends.
func (s *Service) ConnectSession(parent context.Context, sess Session) (context.Context, func()) {
	ctx, release := s.hub.Register(parent, sess.Account.ID, SessionCred(sess.ID), s.hub.Epoch(sess.Account.ID))
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = ?`, sess.ID))
	if err != nil || !s.usable(a) {
		release()
		ctx, cancel := context.WithCancelCause(parent)
		cancel(ErrRevoked)
		return ctx, func() {}
	}
	return ctx, release
}
