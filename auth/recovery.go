package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/internal/audit"
)

// RecoveryCodeCount is how many recovery codes an account gets at a time.
const RecoveryCodeCount = 10

// Each code holds 80 random bits, written as four groups of four characters.
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRecoveryCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	e := strings.ToLower(recoveryEncoding.EncodeToString(b)) // 16 characters
	return e[0:4] + "-" + e[4:8] + "-" + e[8:12] + "-" + e[12:16]
}

// normalizeRecoveryCode accepts a code as typed: any case, with or without
// dashes or spaces.
func normalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z' || r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == 16
}

func (s *Service) recoveryHash(code string) []byte {
	h := s.keys.hash("recovery", code)
	return h[:]
}

// NewRecoveryCodes replaces the account's recovery codes with 10 new ones and
// returns them; they are shown this once and stored only hashed. Replacing
// existing codes needs a fresh sign-in.
func (s *Service) NewRecoveryCodes(ctx context.Context, sess Session, c Client) ([]string, error) {
	if sess.Stage != StageFull {
		return nil, ErrSessionInvalid
	}
	left, err := s.RecoveryCodesLeft(ctx, sess.Account.ID)
	if err != nil {
		return nil, err
	}
	if left > 0 {
		if err := s.requireFresh(sess); err != nil {
			return nil, err
		}
	}
	codes := make([]string, RecoveryCodeCount)
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, sess.Account.ID); err != nil {
			return fmt.Errorf("auth: recovery codes: %w", err)
		}
		for i := range codes {
			codes[i] = newRecoveryCode()
			n, _ := normalizeRecoveryCode(codes[i])
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES (?, ?, ?)`,
				sess.Account.ID, s.recoveryHash(n), s.now().Unix()); err != nil {
				return fmt.Errorf("auth: recovery codes: %w", err)
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "recovery.generate", Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// RecoveryCodesLeft returns how many unused recovery codes an account has.
func (s *Service) RecoveryCodesLeft(ctx context.Context, accountID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("auth: recovery codes: %w", err)
	}
	return n, nil
}

// VerifyRecoveryCode uses up one recovery code as the second factor of a
// sign-in. Each code works once.
func (s *Service) VerifyRecoveryCode(ctx context.Context, sess Session, code string, c Client) (newToken string, err error) {
	const kind = "login.recovery"
	if sess.Stage != StageSecond {
		return "", ErrSessionInvalid
	}
	login := sess.Account.Login
	release, err := s.attempt(ctx, kind, credCode, login, c)
	if err != nil {
		return "", err
	}
	defer release()
	n, ok := normalizeRecoveryCode(code)
	if !ok {
		s.failed(ctx, kind, credCode, login, "bad-code", c)
		return "", ErrBadCode
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_hash = ? AND used_at IS NULL`,
			s.now().Unix(), sess.Account.ID, s.recoveryHash(n))
		if err != nil {
			return fmt.Errorf("auth: recovery code: %w", err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return ErrBadCode
		}
		newToken, err = s.completeSignIn(ctx, tx, sess, MethodRecovery, c)
		return err
	})
	if errors.Is(err, ErrBadCode) {
		s.failed(ctx, kind, credCode, login, "bad-code", c)
	}
	return newToken, err
}
