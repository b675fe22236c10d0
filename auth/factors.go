package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/audit"
)

// FactorKind names a kind of second factor.
type FactorKind string

// Factor kinds.
const (
	KindPasskey     FactorKind = "passkey"      // discoverable WebAuthn credential with user verification
	KindSecurityKey FactorKind = "security-key" // WebAuthn credential used after the password
	KindTOTP        FactorKind = "totp"
)

// Factor is one second factor of an account, as the security page lists it.
type Factor struct {
	ID           int64 // WebAuthn credential row id; 0 for TOTP
	Kind         FactorKind
	Name         string
	CreatedAt    time.Time
	LastUsedAt   time.Time
	SignCount    uint32
	CloneWarning bool
	BackupState  bool // a synced passkey
}

// Factors lists an account's second factors.
func (s *Service) Factors(ctx context.Context, accountID int64) ([]Factor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, name, created_at, last_used_at, sign_count, clone_warning, backup_state
		FROM webauthn_credentials WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: list factors: %w", err)
	}
	defer rows.Close()
	var out []Factor
	for rows.Next() {
		var f Factor
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&f.ID, &f.Kind, &f.Name, &created, &used, &f.SignCount, &f.CloneWarning, &f.BackupState); err != nil {
			return nil, fmt.Errorf("auth: list factors: %w", err)
		}
		f.CreatedAt = time.Unix(created, 0)
		if used.Valid {
			f.LastUsedAt = time.Unix(used.Int64, 0)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: list factors: %w", err)
	}
	var name sql.NullString
	var added sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT totp_name, totp_added_at FROM accounts WHERE id = ? AND totp_secret IS NOT NULL`, accountID).Scan(&name, &added); err == nil {
		out = append(out, Factor{Kind: KindTOTP, Name: name.String, CreatedAt: time.Unix(added.Int64, 0)})
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("auth: list factors: %w", err)
	}
	return out, nil
}

func (s *Service) factorCounts(ctx context.Context, q querier, accountID int64) (webauthn, totp int, err error) {
	err = q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM webauthn_credentials WHERE account_id = ?),
		(SELECT count(*) FROM accounts WHERE id = ? AND totp_secret IS NOT NULL)`, accountID, accountID).Scan(&webauthn, &totp)
	if err != nil {
		err = fmt.Errorf("auth: count factors: %w", err)
	}
	return
}

func (s *Service) hasSecondFactor(ctx context.Context, accountID int64) bool {
	w, t, err := s.factorCounts(ctx, s.db, accountID)
	return err == nil && w+t > 0
}

// KeysRequired is how many WebAuthn credentials (passkeys or security
// keys) policy makes the account hold: [OfficerKeys] for an officer, one
// for an admin when AdminsNeedWebAuthn, else none.
func (s *Service) KeysRequired(a Account) int {
	switch {
	case a.Role == RoleOfficer:
		return OfficerKeys
	case a.IsAdmin() && s.cfg.AdminsNeedWebAuthn:
		return 1
	}
	return 0
}

// webAuthnRequired reports whether policy makes the account hold a WebAuthn credential.
func (s *Service) webAuthnRequired(a Account) bool { return s.KeysRequired(a) > 0 }

// factorAdded finishes enrolment when the factors policy asks for are
// there (the first one, or an officer's second key): the account becomes
// active and the enrolment session becomes a full one. Before that it
// returns "" and the session stays an enrolment.
func (s *Service) factorAdded(ctx context.Context, tx *sql.Tx, sess Session, method string, c Client) (string, error) {
	if sess.Stage != StageEnrol {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET ceremony = NULL WHERE id = ?`, sess.ID)
		return "", err
	}
	if need := s.KeysRequired(sess.Account); need > 1 {
		w, _, err := s.factorCounts(ctx, tx, sess.Account.ID)
		if err != nil {
			return "", err
		}
		if w < need {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET ceremony = NULL WHERE id = ?`, sess.ID)
			return "", err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET state = 'active' WHERE id = ? AND state = 'invited'`, sess.Account.ID); err != nil {
		return "", fmt.Errorf("auth: activate account: %w", err)
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "enrol.complete", Addr: c.addr(), UserAgent: c.UserAgent}); err != nil {
		return "", err
	}
	return s.promote(ctx, tx, sess, StageFull, method, c)
}

func validFactorName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: a name of 1 to 64 characters is needed", ErrInvalid)
	}
	return name, nil
}

// RenameFactor renames one of the account's WebAuthn credentials (id) or its
// TOTP app (id 0).
func (s *Service) RenameFactor(ctx context.Context, sess Session, id int64, name string, c Client) error {
	if sess.Stage != StageFull {
		return ErrSessionInvalid
	}
	name, err := validFactorName(name)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if id == 0 {
			res, err = tx.ExecContext(ctx, `UPDATE accounts SET totp_name = ? WHERE id = ? AND totp_secret IS NOT NULL`, name, sess.Account.ID)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE webauthn_credentials SET name = ? WHERE id = ? AND account_id = ?`, name, id, sess.Account.ID)
		}
		if err != nil {
			return fmt.Errorf("auth: rename factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.rename", Detail: fmt.Sprintf("id=%d", id), Addr: c.addr(), UserAgent: c.UserAgent})
	})
}

// RemoveFactor removes one WebAuthn credential (id) or the TOTP app (id 0).
// It needs a fresh sign-in, never removes the last factor, and never leaves
// an account with fewer WebAuthn credentials than [Service.KeysRequired]
// (an admin's one, an officer's two).
func (s *Service) RemoveFactor(ctx context.Context, sess Session, id int64, c Client) error {
	if sess.Stage != StageFull {
		return ErrSessionInvalid
	}
	if err := s.requireFresh(sess); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		w, t, err := s.factorCounts(ctx, tx, sess.Account.ID)
		if err != nil {
			return err
		}
		if w+t <= 1 {
			return ErrLastFactor
		}
		var res sql.Result
		if id == 0 {
			res, err = tx.ExecContext(ctx, `UPDATE accounts SET totp_secret = NULL, totp_name = NULL, totp_added_at = NULL WHERE id = ? AND totp_secret IS NOT NULL`, sess.Account.ID)
		} else {
			if w <= s.KeysRequired(sess.Account) {
				return ErrNeedWebAuthn
			}
			res, err = tx.ExecContext(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND account_id = ?`, id, sess.Account.ID)
		}
		if err != nil {
			return fmt.Errorf("auth: remove factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.remove", Detail: fmt.Sprintf("id=%d", id), Addr: c.addr(), UserAgent: c.UserAgent})
	})
}

func (s *Service) removeAllFactors(ctx context.Context, tx *sql.Tx, accountID int64) error {
	// Each statement gets exactly its own arguments: PostgreSQL refuses
	// more arguments than a statement has placeholders.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM webauthn_credentials WHERE account_id = ?`, []any{accountID}},
		{`DELETE FROM recovery_codes WHERE account_id = ?`, []any{accountID}},
		{`DELETE FROM sessions WHERE account_id = ?`, []any{accountID}},
		{`UPDATE app_passwords SET revoked_at = ?, revoked_by = 'factor-reset' WHERE account_id = ? AND revoked_at IS NULL`, []any{s.now().Unix(), accountID}},
		{`UPDATE accounts SET totp_secret = NULL, totp_name = NULL, totp_added_at = NULL, totp_last_step = 0 WHERE id = ?`, []any{accountID}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("auth: remove factors: %w", err)
		}
	}
	return nil
}

// RemoveAllFactors deletes every passkey, security key, TOTP secret and
// recovery code of an account and signs it out everywhere (offboarding, or a
// reset before [Service.NewEnrolmentLink]).
func (s *Service) RemoveAllFactors(ctx context.Context, actor string, accountID int64, c Client) error {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.removeAllFactors(ctx, tx, accountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "factor.remove-all", Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err == nil {
		s.forgetAppPasswords(accountID, 0)
		s.hub.RevokeAccount(accountID)
	}
	return err
}
