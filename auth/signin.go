package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/metrics"
)

// countWeb counts a web sign-in attempt for the metrics. App passwords
// are counted by the protocol servers, which know the protocol; adding a
// factor is not a sign-in.
func (s *Service) countWeb(kind string, ok bool) {
	if strings.HasPrefix(kind, "login.") && kind != "login.apppassword" {
		s.metrics.SignIn(metrics.MethodWeb, ok)
	}
}

// PasswordSignIn checks a login and password, the first step of a web
// sign-in. It never opens caucus by itself: it returns a session token of
// stage [StageSecond] (a second factor is due) or, for an account that is
// still enrolling within its invite's window, [StageEnrol]. Unknown accounts,
// wrong passwords, accounts without a password and suspended, expired or
// offboarded accounts answer alike ([ErrBadCredentials]) and take the same
// time.
func (s *Service) PasswordSignIn(ctx context.Context, login, pw string, c Client) (token string, st Stage, err error) {
	const kind = "login.password"
	login = NormalizeLogin(login)
	release, err := s.attempt(ctx, kind, credPassword, login, c)
	if err != nil {
		return "", "", err
	}
	defer release()
	if len(pw) > 1024 || len(login) > 254 {
		s.failed(ctx, kind, credPassword, login, "oversized", c)
		return "", "", ErrBadCredentials
	}
	var phc sql.NullString
	acct, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT a.password_hash, `+accountCols+` FROM accounts a WHERE a.login = ?`, login), &phc)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	if err != nil || !phc.Valid {
		s.hasher.Dummy(ctx, pw)
		s.failed(ctx, kind, credPassword, login, "bad-credentials", c)
		return "", "", ErrBadCredentials
	}
	ok, err := s.hasher.Verify(ctx, pw, phc.String)
	if err != nil {
		return "", "", fmt.Errorf("auth: verify password: %w", err)
	}
	if !ok {
		s.failed(ctx, kind, credPassword, login, "bad-credentials", c)
		return "", "", ErrBadCredentials
	}
	if !s.usable(acct) {
		// Answered exactly like a wrong password: saying "suspended" here
		// would confirm a departed member's password to whoever holds it
		// (DESIGN.md rule 3). The audit log keeps the reason.
		s.failed(ctx, kind, credPassword, login, "inactive", c)
		return "", "", ErrBadCredentials
	}
	st = StageSecond
	if !s.hasSecondFactor(ctx, acct.ID) {
		// Only an account still enrolling after an accepted invite: an
		// active account whose factors were reset waits for a new link.
		if acct.State != StateInvited || !s.enrolmentOpen(ctx, acct.ID) {
			s.failed(ctx, kind, credPassword, login, "no-factor", c)
			return "", "", fmt.Errorf("%w: enrolment was not finished; ask an admin for a new enrolment link", ErrNeedsFactor)
		}
		st = StageEnrol
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if s.hasher.NeedsRehash(phc.String) {
			if h, err := s.hasher.Hash(ctx, pw); err == nil {
				tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ? WHERE id = ?`, h, acct.ID)
			}
		}
		if token, err = s.newSession(ctx, tx, acct.ID, st, "", c); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: login, Subject: login, Kind: kind, Detail: "next=" + string(st), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	return token, st, err
}

// DetailNewDevice is the audit detail of a full web sign-in ("login.*")
// from a browser that holds no valid device cookie of the account
// ([Service.DeviceToken]): one that has not signed in to it in the last
// 90 days, or whose cookies were cleared. The security notices mail the
// member about it.
const DetailNewDevice = "device=new"

// deviceDetail is the audit detail of a full sign-in to login by c:
// [DetailNewDevice] unless c holds the account's device cookie.
func (s *Service) deviceDetail(login string, c Client) string {
	if _, ok := s.validDevice(NormalizeLogin(login), c.Device); ok {
		return ""
	}
	return DetailNewDevice
}

// completeSignIn turns a second-stage session into a full one after a second
// factor was verified, or refreshes a full session's step-up time. It returns
// the new session token, or "" when the token did not change.
func (s *Service) completeSignIn(ctx context.Context, tx *sql.Tx, sess Session, method string, c Client) (string, error) {
	switch sess.Stage {
	case StageSecond:
		s.succeeded(sess.Account.Login, c)
		tok, err := s.promote(ctx, tx, sess, StageFull, method, c)
		if err != nil {
			return "", err
		}
		s.countWeb("login."+method, true)
		return tok, s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "login." + method,
			Detail: s.deviceDetail(sess.Account.Login, c), Addr: c.addr(), UserAgent: c.UserAgent})
	case StageFull:
		if err := s.stepUp(ctx, tx, sess, method); err != nil {
			return "", err
		}
		return "", s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "stepup." + method, Addr: c.addr(), UserAgent: c.UserAgent})
	}
	return "", ErrSessionInvalid
}
