package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"
)

// addFakeCredential stores a WebAuthn credential that no authenticator
// holds, as a browser ceremony would have, and returns its row id and
// credential id. Tests use it where a credential must exist but never sign.
func addFakeCredential(t testing.TB, s *Service, accountID int64, kind FactorKind) (int64, []byte) {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	pk := make([]byte, 77)
	rand.Read(pk)
	cred := webauthn.Credential{ID: id, PublicKey: pk, Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: kind == KindPasskey}}
	data, err := json.Marshal(cred)
	if err != nil {
		t.Fatal(err)
	}
	var row int64
	err = s.db.QueryRowContext(context.Background(), `INSERT INTO webauthn_credentials (account_id, credential_id, name, kind, data, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		accountID, id, "fake "+string(kind), kind, string(data), s.now().Unix()).Scan(&row)
	if err != nil {
		t.Fatal(err)
	}
	return row, id
}

// fullSession makes a full session for an account directly, as a WebAuthn
// sign-in that tests cannot do would.
func fullSession(t testing.TB, s *Service, accountID int64) string {
	t.Helper()
	var tok string
	err := s.db.Tx(context.Background(), func(tx *sql.Tx) error {
		var err error
		tok, err = s.newSession(context.Background(), tx, accountID, StageFull, MethodWebAuthn, cl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestFactorsTOTPOnly(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "pat@example.org")
	sess := mustSession(t, s, m.Token)

	f, err := s.Factors(ctx, m.ID)
	if err != nil || len(f) != 1 || f[0].Kind != KindTOTP || f[0].ID != 0 {
		t.Fatalf("Factors = %+v, %v", f, err)
	}
	if err := s.RemoveFactor(ctx, sess, 0, cl); !errors.Is(err, ErrLastFactor) {
		t.Errorf("RemoveFactor(last) = %v, want ErrLastFactor", err)
	}
	if err := s.RenameFactor(ctx, sess, 0, "  Pixel  ", cl); err != nil {
		t.Errorf("RenameFactor = %v", err)
	}
	if f, _ := s.Factors(ctx, m.ID); len(f) != 1 || f[0].Name != "Pixel" {
		t.Errorf("after rename: %+v", f)
	}
	for _, tc := range []struct {
		id   int64
		name string
		want error
	}{
		{0, "", ErrInvalid},
		{0, "bad\nname", ErrInvalid},
		{42, "x", ErrNotFound},
	} {
		if err := s.RenameFactor(ctx, sess, tc.id, tc.name, cl); !errors.Is(err, tc.want) {
			t.Errorf("RenameFactor(%d, %q) = %v, want %v", tc.id, tc.name, err, tc.want)
		}
	}
}

func TestRemoveFactor(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "quy@example.org")
	row, _ := addFakeCredential(t, s, m.ID, KindSecurityKey)
	sess := mustSession(t, s, m.Token)

	f, err := s.Factors(ctx, m.ID)
	if err != nil || len(f) != 2 || f[0].Kind != KindSecurityKey || f[0].ID != row || f[1].Kind != KindTOTP {
		t.Fatalf("Factors = %+v, %v", f, err)
	}
	if err := s.RemoveFactor(ctx, sess, row+100, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveFactor(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.RemoveFactor(ctx, sess, 0, cl); err != nil {
		t.Fatalf("RemoveFactor(totp) = %v", err)
	}
	if f, _ := s.Factors(ctx, m.ID); len(f) != 1 || f[0].ID != row {
		t.Errorf("after removing TOTP: %+v", f)
	}
	if err := s.RemoveFactor(ctx, sess, row, cl); !errors.Is(err, ErrLastFactor) {
		t.Errorf("RemoveFactor(last key) = %v, want ErrLastFactor", err)
	}
	// TOTP is gone from sign-in too.
	tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), m.code(t, clk), cl); !errors.Is(err, ErrBadCode) {
		t.Errorf("VerifyTOTP after removal = %v, want ErrBadCode", err)
	}
}

// Admins keep at least one WebAuthn credential; they may add and remove TOTP.
func TestAdminFactors(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	id, _ := invite(t, s, "rex@example.org", RoleAdmin)
	row, _ := addFakeCredential(t, s, id, KindPasskey)
	if err := s.SetState(ctx, "", id, StateActive, cl); err != nil {
		t.Fatal(err)
	}
	tok := fullSession(t, s, id)
	sess := mustSession(t, s, tok)

	key, err := s.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatalf("BeginTOTP(admin, full) = %v", err)
	}
	sess = mustSession(t, s, tok)
	newTok, err := s.FinishTOTP(ctx, sess, totpCode(t, key.Secret(), clk.Now()), cl)
	if err != nil || newTok != "" {
		t.Fatalf("FinishTOTP(full) = %q, %v; want \"\", nil", newTok, err)
	}
	sess = mustSession(t, s, tok)
	if _, err := s.PendingTOTP(sess); !errors.Is(err, ErrInvalid) {
		t.Errorf("PendingTOTP after finish = %v, want ErrInvalid", err)
	}
	if err := s.RemoveFactor(ctx, sess, row, cl); !errors.Is(err, ErrNeedWebAuthn) {
		t.Errorf("RemoveFactor(admin's only key) = %v, want ErrNeedWebAuthn", err)
	}
	if err := s.RemoveFactor(ctx, sess, 0, cl); err != nil {
		t.Errorf("RemoveFactor(admin's TOTP) = %v", err)
	}
	if f, _ := s.Factors(ctx, id); len(f) != 1 || f[0].Kind != KindPasskey {
		t.Errorf("Factors = %+v", f)
	}
}

func TestRemoveAllFactors(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "sol@example.org")
	addFakeCredential(t, s, m.ID, KindPasskey)
	if _, err := s.NewRecoveryCodes(ctx, mustSession(t, s, m.Token), cl); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAllFactors(ctx, testAdmin, m.ID, cl); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Factors(ctx, m.ID); len(f) != 0 {
		t.Errorf("Factors = %+v, want none", f)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, m.ID); n != 0 {
		t.Errorf("RecoveryCodesLeft = %d, want 0", n)
	}
	if _, err := s.Session(ctx, m.Token); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("session after RemoveAllFactors: %v", err)
	}
	if err := s.RemoveAllFactors(ctx, testAdmin, 999, cl); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveAllFactors(unknown) = %v, want ErrNotFound", err)
	}
}
