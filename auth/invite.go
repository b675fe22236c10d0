package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/web"
)

// Invite is a pending enrolment link, as shown to the person who opens it.
type Invite struct {
	Account   Account
	ExpiresAt time.Time
}

// CreateInvite creates an account in state invited and returns the token of
// its single-use enrolment link (valid for Config.InviteTTL). actor is the
// admin's login ("" for the system, as for the first admin).
func (s *Service) CreateInvite(ctx context.Context, actor string, na NewAccount, c Client) (token string, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := s.createAccount(ctx, tx, na)
		if err != nil {
			return err
		}
		token, err = s.newInvite(ctx, tx, actor, id)
		if err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: NormalizeLogin(na.Login), Kind: "invite.create",
			Detail: fmt.Sprintf("role=%s groups=%v", na.Role, na.Groups), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	return token, err
}

// NewEnrolmentLink issues a fresh enrolment link for an existing account
// whose factors were lost. It never sets a password: the person chooses one
// again. Older unused links of the account stop working.
func (s *Service) NewEnrolmentLink(ctx context.Context, actor string, accountID int64, c Client) (token string, err error) {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return "", err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if token, err = s.newInvite(ctx, tx, actor, accountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "invite.reissue", Addr: c.addr(), UserAgent: c.UserAgent})
	})
	return token, err
}

func (s *Service) newInvite(ctx context.Context, tx *sql.Tx, actor string, accountID int64) (string, error) {
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE invites SET expires_at = ? WHERE account_id = ? AND used_at IS NULL AND expires_at > ?`, now.Unix(), accountID, now.Unix()); err != nil {
		return "", fmt.Errorf("auth: invite: %w", err)
	}
	token := web.RandomToken(32)
	_, err := tx.ExecContext(ctx, `INSERT INTO invites (token_hash, account_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		web.TokenHash(token), accountID, actor, now.Unix(), now.Add(s.cfg.InviteTTL).Unix())
	if err != nil {
		return "", fmt.Errorf("auth: invite: %w", err)
	}
	return token, nil
}

// PeekInvite returns the invite behind a token without using it up.
func (s *Service) PeekInvite(ctx context.Context, token string) (Invite, error) {
	if token == "" || len(token) > 100 {
		return Invite{}, ErrInviteInvalid
	}
	var exp int64
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT i.expires_at, `+accountCols+` FROM invites i JOIN accounts a ON a.id = i.account_id
		WHERE i.token_hash = ? AND i.used_at IS NULL AND i.expires_at > ?`, web.TokenHash(token), s.now().Unix()), &exp)
	if errors.Is(err, ErrNotFound) {
		return Invite{}, ErrInviteInvalid
	}
	if err != nil {
		return Invite{}, err
	}
	if a.State != StateInvited && a.State != StateActive {
		return Invite{}, ErrInviteInvalid
	}
	return Invite{Account: a, ExpiresAt: time.Unix(exp, 0)}, nil
}

// AcceptInvite uses up an invite: it sets the password the person chose,
// removes any earlier factors (a reissued link replaces lost ones), and
// returns the token of a session that may only enrol a second factor.
func (s *Service) AcceptInvite(ctx context.Context, token, newPassword string, c Client) (sessToken string, err error) {
	inv, err := s.PeekInvite(ctx, token)
	if err != nil {
		s.audit.Record(ctx, audit.Event{Kind: "invite.accept", Outcome: "fail", Reason: "invalid", Addr: c.addr(), UserAgent: c.UserAgent})
		return "", err
	}
	a := inv.Account
	if err := password.CheckPolicy(newPassword, relatedWords(a)...); err != nil {
		return "", err
	}
	phc, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
			s.now().Unix(), web.TokenHash(token), s.now().Unix())
		if err != nil {
			return fmt.Errorf("auth: accept invite: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInviteInvalid // used concurrently
		}
		if err := s.removeAllFactors(ctx, tx, a.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ?, state = 'invited' WHERE id = ?`, phc, a.ID); err != nil {
			return fmt.Errorf("auth: accept invite: %w", err)
		}
		if sessToken, err = s.newSession(ctx, tx, a.ID, StageEnrol, "", c); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: a.Login, Subject: a.Login, Kind: "invite.accept", Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err == nil {
		s.forgetAppPasswords(a.ID, 0)
		s.hub.RevokeAccount(a.ID)
	}
	return sessToken, err
}

// enrolmentOpen reports whether the account accepted an invite whose window
// is still open, so that a password sign-in may continue its enrolment.
func (s *Service) enrolmentOpen(ctx context.Context, accountID int64) bool {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM invites WHERE account_id = ? AND used_at IS NOT NULL AND expires_at > ?`, accountID, s.now().Unix()).Scan(&n)
	return err == nil && n > 0
}

// relatedWords are the strings a password must not contain: the address's
// local part and the parts of the display name.
func relatedWords(a Account) []string {
	out := []string{a.Login}
	if at := strings.IndexByte(a.Login, '@'); at > 0 {
		out = append(out, a.Login[:at])
	}
	return append(out, strings.Fields(a.DisplayName)...)
}
