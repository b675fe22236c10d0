package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/web"
)

// Passkey sign-ins in progress: each lives 5 minutes, and at most this many
// exist at once (a flood of signed-out requests cannot fill the disk).
const (
	passkeyCeremonyTTL   = 5 * time.Minute
	maxPasskeyCeremonies = 10000
)

// MaxWebAuthnBody bounds the JSON a browser posts to finish a ceremony.
const MaxWebAuthnBody = 64 << 10

// waUser is an account as go-webauthn sees it.
type waUser struct {
	acct  Account
	creds []webauthn.Credential
	rows  map[string]int64 // credential id → row id
}

func (u *waUser) WebAuthnID() []byte                         { return u.acct.webauthnID }
func (u *waUser) WebAuthnName() string                       { return u.acct.Login }
func (u *waUser) WebAuthnDisplayName() string                { return u.acct.DisplayName }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) loadWAUser(ctx context.Context, acct Account) (*waUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, data FROM webauthn_credentials WHERE account_id = ?`, acct.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: load credentials: %w", err)
	}
	defer rows.Close()
	u := &waUser{acct: acct, rows: map[string]int64{}}
	for rows.Next() {
		var id int64
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("auth: load credentials: %w", err)
		}
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("auth: credential %d: %w", id, err)
		}
		u.creds = append(u.creds, c)
		u.rows[string(c.ID)] = id
	}
	return u, rows.Err()
}

// BeginRegistration starts adding a WebAuthn credential: a passkey
// (discoverable, with user verification, signs in alone) or a security key
// (used after the password). It returns the options for
// navigator.credentials.create.
func (s *Service) BeginRegistration(ctx context.Context, sess Session, kind FactorKind) (*protocol.CredentialCreation, error) {
	if err := s.requireFresh(sess); err != nil {
		return nil, err
	}
	u, err := s.loadWAUser(ctx, sess.Account)
	if err != nil {
		return nil, err
	}
	sel := protocol.AuthenticatorSelection{}
	switch kind {
	case KindPasskey:
		req := true
		sel.RequireResidentKey = &req
		sel.ResidentKey = protocol.ResidentKeyRequirementRequired
		sel.UserVerification = protocol.VerificationRequired
	case KindSecurityKey:
		sel.ResidentKey = protocol.ResidentKeyRequirementDiscouraged
		sel.UserVerification = protocol.VerificationDiscouraged
	default:
		return nil, fmt.Errorf("%w: credential kind %q", ErrInvalid, kind)
	}
	// Without attestation the browser may zero the AAGUID (WebAuthn
	// 6.5.4): an officer's key is checked against the party's list of
	// models, so it is asked for then.
	conveyance := protocol.PreferNoAttestation
	if sess.Account.Role == RoleOfficer && len(s.cfg.OfficerAAGUIDs) > 0 {
		conveyance = protocol.PreferDirectAttestation
	}
	creation, sd, err := s.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithConveyancePreference(conveyance),
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, fmt.Errorf("auth: begin registration: %w", err)
	}
	raw, err := json.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("auth: begin registration: %w", err)
	}
	if err := s.setCeremony(ctx, sess.ID, ceremonyState{Kind: "register", CredKind: string(kind), WebAuthn: raw}); err != nil {
		return nil, err
	}
	return creation, nil
}

// FinishRegistration checks the browser's answer to [Service.BeginRegistration]
// and stores the credential under name. sess must be read after the Begin
// call (as the next web request does): it carries the ceremony. In an enrolment session this is the
// first factor: the account becomes active and the new session token is
// returned.
func (s *Service) FinishRegistration(ctx context.Context, sess Session, name string, body []byte, c Client) (newToken string, err error) {
	if err := s.requireFresh(sess); err != nil {
		return "", err
	}
	name, err = validFactorName(name)
	if err != nil {
		return "", err
	}
	st, err := s.getCeremony(sess, "register")
	if err != nil {
		return "", err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(st.WebAuthn, &sd); err != nil {
		return "", fmt.Errorf("auth: registration state: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		s.audit.Record(ctx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.add", Outcome: "fail", Reason: "bad-response", Addr: c.addr(), UserAgent: c.UserAgent})
		return "", fmt.Errorf("%w: %v", ErrInvalid, protocolDetail(err))
	}
	u, err := s.loadWAUser(ctx, sess.Account)
	if err != nil {
		return "", err
	}
	cred, err := s.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		s.audit.Record(ctx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.add", Outcome: "fail", Reason: "rejected", Detail: protocolDetail(err), Addr: c.addr(), UserAgent: c.UserAgent})
		return "", fmt.Errorf("%w: %v", ErrInvalid, protocolDetail(err))
	}
	kind := FactorKind(st.CredKind)
	if kind == KindPasskey && (!cred.Flags.UserVerified || (cred.Extensions.RK != nil && !*cred.Extensions.RK)) {
		return "", fmt.Errorf("%w: this authenticator cannot hold a passkey; add it as a security key", ErrInvalid)
	}
	if err := s.allowedModel(sess.Account, cred.Authenticator.AAGUID); err != nil {
		s.audit.Record(ctx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.add", Outcome: "refused", Reason: "model", Detail: aaguidString(cred.Authenticator.AAGUID), Addr: c.addr(), UserAgent: c.UserAgent})
		return "", err
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return "", fmt.Errorf("auth: store credential: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webauthn_credentials (account_id, credential_id, name, kind, data, sign_count, backup_eligible, backup_state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, sess.Account.ID, cred.ID, name, kind, string(data), cred.Authenticator.SignCount,
			flag(cred.Flags.BackupEligible), flag(cred.Flags.BackupState), s.now().Unix())
		if err != nil {
			return fmt.Errorf("auth: store credential: %w", err)
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "factor.add", Detail: string(kind) + " " + name, Addr: c.addr(), UserAgent: c.UserAgent}); err != nil {
			return err
		}
		newToken, err = s.factorAdded(ctx, tx, sess, MethodWebAuthn, c)
		return err
	})
	return newToken, err
}

// BeginWebAuthn starts a WebAuthn assertion for a session: as the second
// factor after the password (stage second) or as a step-up (stage full).
func (s *Service) BeginWebAuthn(ctx context.Context, sess Session) (*protocol.CredentialAssertion, error) {
	if sess.Stage != StageSecond && sess.Stage != StageFull {
		return nil, ErrSessionInvalid
	}
	u, err := s.loadWAUser(ctx, sess.Account)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, fmt.Errorf("%w: no passkey or security key on this account", ErrInvalid)
	}
	uv := protocol.VerificationDiscouraged // the password was the first factor
	if sess.Stage == StageFull {
		uv = protocol.VerificationPreferred
	}
	assertion, sd, err := s.wa.BeginLogin(u, webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, fmt.Errorf("auth: begin login: %w", err)
	}
	raw, err := json.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("auth: begin login: %w", err)
	}
	if err := s.setCeremony(ctx, sess.ID, ceremonyState{Kind: "login", WebAuthn: raw}); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishWebAuthn checks the browser's answer to [Service.BeginWebAuthn]. It
// returns the new session token after a sign-in, or "" after a step-up.
func (s *Service) FinishWebAuthn(ctx context.Context, sess Session, body []byte, c Client) (newToken string, err error) {
	const kind = "login.webauthn"
	// Not throttled before the check: an assertion cannot be guessed, and a
	// correct one is never refused for someone else's failures.
	st, err := s.getCeremony(sess, "login")
	if err != nil {
		return "", err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(st.WebAuthn, &sd); err != nil {
		return "", fmt.Errorf("auth: login state: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return "", s.failedUnguessable(ctx, kind, credWebAuthn, sess.Account.Login, "bad-response", c, ErrBadCredentials)
	}
	u, err := s.loadWAUser(ctx, sess.Account)
	if err != nil {
		return "", err
	}
	cred, err := s.wa.ValidateLogin(u, sd, parsed)
	if err != nil {
		return "", s.failedUnguessable(ctx, kind, credWebAuthn, sess.Account.Login, "rejected", c, ErrBadCredentials)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.credentialUsed(ctx, tx, u, cred, c); err != nil {
			return err
		}
		newToken, err = s.completeSignIn(ctx, tx, sess, MethodWebAuthn, c)
		return err
	})
	return newToken, err
}

// credentialUsed stores what an assertion changed: sign counter, clone
// warning, backup state, last use.
func (s *Service) credentialUsed(ctx context.Context, tx *sql.Tx, u *waUser, cred *webauthn.Credential, c Client) error {
	data, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("auth: update credential: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE webauthn_credentials SET data = ?, sign_count = ?, clone_warning = CASE WHEN ? = 1 THEN 1 ELSE clone_warning END, backup_state = ?, last_used_at = ?
		WHERE credential_id = ? AND account_id = ?`, string(data), cred.Authenticator.SignCount, flag(cred.Authenticator.CloneWarning),
		flag(cred.Flags.BackupState), s.now().Unix(), cred.ID, u.acct.ID)
	if err != nil {
		return fmt.Errorf("auth: update credential: %w", err)
	}
	if cred.Authenticator.CloneWarning {
		// The counter went backwards: two copies of the key may exist. Kept
		// on the credential and shown on the security page and in the audit log.
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: u.acct.Login, Subject: u.acct.Login, Kind: "factor.clone-warning", Outcome: "fail", Reason: "sign-count",
			Detail: fmt.Sprintf("credential=%d", u.rows[string(cred.ID)]), Addr: c.addr(), UserAgent: c.UserAgent})
	}
	return nil
}

// BeginPasskeySignIn starts a sign-in with a passkey alone (no login, no
// password): a discoverable-credential assertion that requires user
// verification. It returns the options and the token of the ceremony, which
// the browser keeps in a cookie until [Service.FinishPasskeySignIn].
func (s *Service) BeginPasskeySignIn(ctx context.Context) (*protocol.CredentialAssertion, string, error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", fmt.Errorf("auth: begin passkey sign-in: %w", err)
	}
	raw, err := json.Marshal(sd)
	if err != nil {
		return nil, "", fmt.Errorf("auth: begin passkey sign-in: %w", err)
	}
	token := web.RandomToken(32)
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Signed-out requests create these rows: keep their number bounded.
		now := s.now().Unix()
		if _, err := tx.ExecContext(ctx, `DELETE FROM ceremonies WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ceremonies`).Scan(&n); err != nil {
			return err
		}
		if n >= maxPasskeyCeremonies {
			return &ThrottledError{Wait: time.Minute}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ceremonies (token_hash, data, expires_at) VALUES (?, ?, ?)`,
			web.TokenHash(token), string(raw), now+int64(passkeyCeremonyTTL/time.Second))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("auth: begin passkey sign-in: %w", err)
	}
	return assertion, token, nil
}

// FinishPasskeySignIn checks a passkey assertion and returns the token of a
// full session. The ceremony is used up whatever the outcome.
func (s *Service) FinishPasskeySignIn(ctx context.Context, ceremony string, body []byte, c Client) (string, error) {
	const kind = "login.passkey"
	// Not throttled before the check: a passkey cannot be guessed, and a
	// correct one is never refused for someone else's failures; wrong
	// ones are slowed down per address.
	var data string
	err := s.db.QueryRowContext(ctx, `DELETE FROM ceremonies WHERE token_hash = ? AND expires_at > ? RETURNING data`, web.TokenHash(ceremony), s.now().Unix()).Scan(&data)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("%w: sign-in timed out, try again", ErrInvalid)
		}
		return "", fmt.Errorf("auth: passkey sign-in: %w", err)
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(data), &sd); err != nil {
		return "", fmt.Errorf("auth: passkey state: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return "", s.failedUnguessable(ctx, kind, credWebAuthn, "", "bad-response", c, ErrBadCredentials)
	}
	var u *waUser
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		acct, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts a WHERE a.webauthn_id = ?`, userHandle))
		if err != nil {
			return nil, err
		}
		if u, err = s.loadWAUser(ctx, acct); err != nil {
			return nil, err
		}
		return u, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, sd, parsed)
	if err != nil {
		login := ""
		if u != nil {
			login = u.acct.Login
		}
		return "", s.failedUnguessable(ctx, kind, credWebAuthn, login, "rejected", c, ErrBadCredentials)
	}
	if !s.usable(u.acct) || u.acct.State != StateActive {
		s.failed(ctx, kind, credWebAuthn, u.acct.Login, "inactive", c)
		return "", ErrInactive
	}
	var token string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.credentialUsed(ctx, tx, u, cred, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_login_at = ? WHERE id = ?`, s.now().Unix(), u.acct.ID); err != nil {
			return fmt.Errorf("auth: passkey sign-in: %w", err)
		}
		if token, err = s.newSession(ctx, tx, u.acct.ID, StageFull, MethodPasskey, c); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: u.acct.Login, Subject: u.acct.Login, Kind: kind,
			Detail: s.deviceDetail(u.acct.Login, c), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err == nil {
		s.countWeb(kind, true)
	}
	return token, err
}

// protocolDetail extracts go-webauthn's explanation for the audit log.
func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details
	}
	return err.Error()
}

// ErrKeyModel is a security key whose model (AAGUID) is not on the
// party's list for officers (Config.OfficerAAGUIDs).
var ErrKeyModel = fmt.Errorf("%w: this model of key is not one the party allows for officers", ErrInvalid)

// allowedModel refuses an officer's authenticator whose AAGUID is not on
// the allow-list, when there is one.
func (s *Service) allowedModel(a Account, aaguid []byte) error {
	if a.Role != RoleOfficer || len(s.cfg.OfficerAAGUIDs) == 0 {
		return nil
	}
	id := aaguidString(aaguid)
	for _, ok := range s.cfg.OfficerAAGUIDs {
		if strings.EqualFold(strings.TrimSpace(ok), id) {
			return nil
		}
	}
	return ErrKeyModel
}

// aaguidString writes an AAGUID as 8-4-4-4-12 hex digits (RFC 9562).
func aaguidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
