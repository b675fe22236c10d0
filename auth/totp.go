package auth

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/internal/audit"
)

// TOTP parameters (RFC 6238 with the defaults every authenticator app knows).
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps accepted either side of now
)

func accountAD(id int64) []byte { return binary.BigEndian.AppendUint64([]byte("totp:"), uint64(id)) }

// BeginTOTP starts TOTP enrolment for a session: it makes a new secret, keeps
// it (sealed) in the session until [Service.FinishTOTP] confirms a code, and
// returns it so the page can show a QR code and the secret as text.
func (s *Service) BeginTOTP(ctx context.Context, sess Session) (*otp.Key, error) {
	if err := s.requireFresh(sess); err != nil {
		return nil, err
	}
	if (sess.Stage == StageEnrol && s.webAuthnRequired(sess.Account)) || sess.Account.Role == RoleOfficer {
		return nil, ErrNeedWebAuthn // an officer signs in with keys only
	}
	if _, t, err := s.factorCounts(ctx, s.db, sess.Account.ID); err != nil {
		return nil, err
	} else if t > 0 {
		return nil, fmt.Errorf("%w: remove the current authenticator app first", ErrInvalid)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      s.cfg.TOTPName,
		AccountName: sess.Account.Login,
		Period:      totpPeriod,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1, // the only one every app supports
		SecretSize:  20,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: totp: %w", err)
	}
	sealed := s.keys.seal([]byte(key.String()), accountAD(sess.Account.ID))
	if err := s.setCeremony(ctx, sess.ID, ceremonyState{Kind: "totp", TOTP: sealed}); err != nil {
		return nil, err
	}
	return key, nil
}

// PendingTOTP returns the key of the TOTP enrolment in progress (for the QR code image).
func (s *Service) PendingTOTP(sess Session) (*otp.Key, error) {
	st, err := s.getCeremony(sess, "totp")
	if err != nil {
		return nil, err
	}
	u, err := s.keys.open(st.TOTP, accountAD(sess.Account.ID))
	if err != nil {
		return nil, err
	}
	return otp.NewKeyFromURL(string(u))
}

// FinishTOTP confirms TOTP enrolment with a code from the app. sess must be
// read after [Service.BeginTOTP] (as the next web request does): it carries
// the pending secret. In an
// enrolment session this is the first factor: the account becomes active and
// the new session token is returned.
func (s *Service) FinishTOTP(ctx context.Context, sess Session, code string, c Client) (newToken string, err error) {
	if err := s.requireFresh(sess); err != nil {
		return "", err
	}
	key, err := s.PendingTOTP(sess)
	if err != nil {
		return "", err
	}
	step, ok := matchTOTP(key.Secret(), code, s.now(), 0)
	if !ok {
		s.failed(ctx, "factor.totp.add", credCode, sess.Account.Login, "bad-code", c)
		return "", ErrBadCode
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_secret = ?, totp_name = 'Authenticator app', totp_added_at = ?, totp_last_step = ? WHERE id = ?`,
			s.keys.seal([]byte(key.Secret()), accountAD(sess.Account.ID)), s.now().Unix(), step, sess.Account.ID)
		if err != nil {
			return fmt.Errorf("auth: save totp: %w", err)
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.add", Detail: "totp", Addr: c.addr(), UserAgent: c.UserAgent}); err != nil {
			return err
		}
		newToken, err = s.factorAdded(ctx, tx, sess, MethodTOTP, c)
		return err
	})
	return newToken, err
}

// VerifyTOTP checks a TOTP code as the second factor of a sign-in (stage
// second) or as a step-up (stage full). A code is accepted once: the step it
// matched is stored, and that step and earlier ones are refused afterwards.
func (s *Service) VerifyTOTP(ctx context.Context, sess Session, code string, c Client) (newToken string, err error) {
	const kind = "login.totp"
	if sess.Stage != StageSecond && sess.Stage != StageFull {
		return "", ErrSessionInvalid
	}
	if sess.Account.Role == RoleOfficer {
		// A code can be phished; an officer's app (from before the role)
		// no longer signs them in.
		return "", ErrNeedWebAuthn
	}
	login := sess.Account.Login
	release, err := s.attempt(ctx, kind, credCode, login, c)
	if err != nil {
		return "", err
	}
	defer release()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var sealed []byte
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT totp_secret, totp_last_step FROM accounts WHERE id = ?`, sess.Account.ID).Scan(&sealed, &last); err != nil {
			return fmt.Errorf("auth: read totp: %w", err)
		}
		if sealed == nil {
			return ErrBadCode
		}
		secret, err := s.keys.open(sealed, accountAD(sess.Account.ID))
		if err != nil {
			return err
		}
		step, ok := matchTOTP(string(secret), code, s.now(), last)
		if !ok {
			return ErrBadCode
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_last_step = ? WHERE id = ?`, step, sess.Account.ID); err != nil {
			return fmt.Errorf("auth: save totp step: %w", err)
		}
		newToken, err = s.completeSignIn(ctx, tx, sess, MethodTOTP, c)
		return err
	})
	if errors.Is(err, ErrBadCode) {
		s.failed(ctx, kind, credCode, login, "bad-code", c)
	}
	return newToken, err
}

// matchTOTP looks for code among the time steps around now (±totpSkew) that
// are later than lastStep, and returns the step it matched.
func matchTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	if _, err := strconv.ParseUint(code, 10, 32); err != nil {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	found, match := int64(0), false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		// Compare every candidate, in constant time, so timing tells nothing.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep && !match {
			found, match = step, true
		}
	}
	return found, match
}
