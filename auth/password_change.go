package auth

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
)

// ChangePassword sets a new password for the session's own account. It
// needs the old password (throttled as a sign-in: a stolen session cannot
// guess it), a session within the step-up window ([ErrStepUp]), and a new
// password the policy accepts ([password.CheckPolicy]). Sessions and app
// passwords are unchanged.
func (s *Service) ChangePassword(ctx context.Context, sess Session, old, newPW string, c Client) error {
	const kind = "password.change"
	if err := s.requireFresh(sess); err != nil {
		return err
	}
	login := sess.Account.Login
	release, err := s.attempt(ctx, kind, credPassword, login, c)
	if err != nil {
		return err
	}
	defer release()
	var phc sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM accounts WHERE id = ?`, sess.Account.ID).Scan(&phc); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	ok := false
	if phc.Valid && len(old) <= password.MaxLength*4 {
		if ok, err = s.hasher.Verify(ctx, old, phc.String); err != nil {
			return fmt.Errorf("auth: verify password: %w", err)
		}
	}
	if !ok {
		s.failed(ctx, kind, credPassword, login, "bad-credentials", c)
		return ErrBadCredentials
	}
	if err := password.CheckPolicy(newPW, relatedWords(sess.Account)...); err != nil {
		return err
	}
	h, err := s.hasher.Hash(ctx, newPW)
	if err != nil {
		return fmt.Errorf("auth: hash password: %w", err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ? WHERE id = ?`, h, sess.Account.ID); err != nil {
			return fmt.Errorf("auth: change password: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: login, Subject: login, Kind: kind, Addr: c.addr(), UserAgent: c.UserAgent})
	})
}

// SetDisplayName sets the display name of the session's own account,
// checked and audited as an admin's change ([Service.ChangeAccount]).
func (s *Service) SetDisplayName(ctx context.Context, sess Session, name string, c Client) error {
	if sess.Stage != StageFull {
		return ErrSessionInvalid
	}
	return s.ChangeAccount(ctx, sess.Account.Login, sess.Account.ID, AccountChange{Name: &name}, c)
}
