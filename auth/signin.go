package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/metrics"
)

// ThrottledError is ErrThrottled with the time to wait.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (%s)", ErrThrottled, e.Wait.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// throttleKeys are the keys an attempt counts against: the account (when a
// login was given) and the source address.
func (s *Service) throttleKeys(login string, c Client) []string {
	var keys []string
	if login = NormalizeLogin(login); login != "" {
		keys = append(keys, throttle.AccountKey(login))
	}
	if c.Addr.IsValid() {
		keys = append(keys, throttle.AddrKey(c.Addr))
	}
	return keys
}

// throttled refuses an attempt while the login or the address is slowed down.
func (s *Service) throttled(ctx context.Context, kind, login string, c Client) error {
	if w := s.throttle.Wait(s.throttleKeys(login, c)...); w > 0 {
		return s.refuse(ctx, kind, login, c, w)
	}
	return nil
}

func (s *Service) refuse(ctx context.Context, kind, login string, c Client, w time.Duration) error {
	s.countWeb(kind, false)
	s.audit.Record(ctx, audit.Event{Subject: NormalizeLogin(login), Kind: kind, Outcome: "fail", Reason: "throttled", Addr: c.addr(), UserAgent: c.UserAgent})
	return &ThrottledError{Wait: w}
}

// Attempts in flight at once: one per account, a few per address. Without
// this bound, a burst of parallel guesses would all pass the throttle before
// the first of them was counted as a failure.
const (
	inflightPerAccount = 1
	inflightPerAddr    = 4
)

// attempt admits one sign-in attempt: it refuses while the login or the
// address is slowed down or already has attempts in flight. release must be
// called when the attempt's outcome has been recorded.
func (s *Service) attempt(ctx context.Context, kind, login string, c Client) (release func(), err error) {
	if err := s.throttled(ctx, kind, login, c); err != nil {
		return nil, err
	}
	keys := s.throttleKeys(login, c)
	over := func(k string) bool {
		limit := inflightPerAddr
		if strings.HasPrefix(k, throttle.AccountKey("")) {
			limit = inflightPerAccount
		}
		return s.inflight[k] >= limit
	}
	s.inflightMu.Lock()
	if slices.ContainsFunc(keys, over) {
		s.inflightMu.Unlock()
		return nil, s.refuse(ctx, kind, login, c, time.Second)
	}
	for _, k := range keys {
		s.inflight[k]++
	}
	s.inflightMu.Unlock()
	return func() {
		s.inflightMu.Lock()
		for _, k := range keys {
			if s.inflight[k]--; s.inflight[k] <= 0 {
				delete(s.inflight, k)
			}
		}
		s.inflightMu.Unlock()
	}, nil
}

// countWeb counts a web sign-in attempt for the metrics. App passwords
// are counted by the protocol servers, which know the protocol; adding a
// factor is not a sign-in.
func (s *Service) countWeb(kind string, ok bool) {
	if strings.HasPrefix(kind, "login.") && kind != "login.apppassword" {
		s.metrics.SignIn(metrics.MethodWeb, ok)
	}
}

func (s *Service) failed(ctx context.Context, kind, login, reason string, c Client) {
	s.throttle.Fail(s.throttleKeys(login, c)...)
	s.countWeb(kind, false)
	s.audit.Record(ctx, audit.Event{Subject: NormalizeLogin(login), Kind: kind, Outcome: "fail", Reason: reason, Addr: c.addr(), UserAgent: c.UserAgent})
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
	release, err := s.attempt(ctx, kind, login, c)
	if err != nil {
		return "", "", err
	}
	defer release()
	if len(pw) > 1024 || len(login) > 254 {
		s.failed(ctx, kind, login, "oversized", c)
		return "", "", ErrBadCredentials
	}
	var phc sql.NullString
	acct, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT a.password_hash, `+accountCols+` FROM accounts a WHERE a.login = ?`, login), &phc)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	if err != nil || !phc.Valid {
		s.hasher.Dummy(ctx, pw)
		s.failed(ctx, kind, login, "bad-credentials", c)
		return "", "", ErrBadCredentials
	}
	ok, err := s.hasher.Verify(ctx, pw, phc.String)
	if err != nil {
		return "", "", fmt.Errorf("auth: verify password: %w", err)
	}
	if !ok {
		s.failed(ctx, kind, login, "bad-credentials", c)
		return "", "", ErrBadCredentials
	}
	if !s.usable(acct) {
		// Answered exactly like a wrong password: saying "suspended" here
		// would confirm a departed member's password to whoever holds it
		// (DESIGN.md rule 3). The audit log keeps the reason.
		s.failed(ctx, kind, login, "inactive", c)
		return "", "", ErrBadCredentials
	}
	st = StageSecond
	if !s.hasSecondFactor(ctx, acct.ID) {
		// Only an account still enrolling after an accepted invite: an
		// active account whose factors were reset waits for a new link.
		if acct.State != StateInvited || !s.enrolmentOpen(ctx, acct.ID) {
			s.failed(ctx, kind, login, "no-factor", c)
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

// completeSignIn turns a second-stage session into a full one after a second
// factor was verified, or refreshes a full session's step-up time. It returns
// the new session token, or "" when the token did not change.
func (s *Service) completeSignIn(ctx context.Context, tx *sql.Tx, sess Session, method string, c Client) (string, error) {
	switch sess.Stage {
	case StageSecond:
		s.throttle.Succeed(throttle.AccountKey(sess.Account.Login))
		tok, err := s.promote(ctx, tx, sess, StageFull, method, c)
		if err != nil {
			return "", err
		}
		s.countWeb("login."+method, true)
		return tok, s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "login." + method, Addr: c.addr(), UserAgent: c.UserAgent})
	case StageFull:
		if err := s.stepUp(ctx, tx, sess, method); err != nil {
			return "", err
		}
		return "", s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "stepup." + method, Addr: c.addr(), UserAgent: c.UserAgent})
	}
	return "", ErrSessionInvalid
}
