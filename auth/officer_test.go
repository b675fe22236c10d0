package auth_test

import (
	"errors"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// TestOfficerEnrolsWithTwoKeys: an officer's enrolment refuses an
// authenticator app, stays an enrolment after the first key (the account
// not yet active), and completes with the second.
func TestOfficerEnrolsWithTwoKeys(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, auth.Config{})
	ctx := t.Context()
	tok, err := e.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: "treasurer@example.org", DisplayName: "Tess", Role: auth.RoleOfficer}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u := &authtest.User{Password: "correct horse battery officer"}
	if u.Session, err = e.Auth.AcceptInvite(ctx, tok, u.Password, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	sess, _ := e.Auth.Session(ctx, u.Session)
	if _, err := e.Auth.BeginTOTP(ctx, sess); !errors.Is(err, auth.ErrNeedWebAuthn) {
		t.Errorf("an officer enrolling with an app: %v, want ErrNeedWebAuthn", err)
	}
	first := u.Session
	e.AddSecurityKey(t, u)
	sess, err = e.Auth.Session(ctx, u.Session)
	if err != nil || u.Session != first || sess.Stage != auth.StageEnrol || sess.Account.State != auth.StateInvited {
		t.Fatalf("after one key: token changed %v, stage %v, state %v, %v", u.Session != first, sess.Stage, sess.Account.State, err)
	}
	if n := e.Auth.KeysRequired(sess.Account); n != 2 {
		t.Errorf("KeysRequired = %d", n)
	}
	e.AddSecurityKey(t, u)
	sess, err = e.Auth.Session(ctx, u.Session)
	if err != nil || sess.Stage != auth.StageFull || sess.Account.State != auth.StateActive {
		t.Fatalf("after two keys: %v %v %v", sess.Stage, sess.Account.State, err)
	}
}

// TestOfficerKeepsTwoKeys: an officer cannot remove a key that would
// leave fewer than two, and a member becomes an officer only with two.
func TestOfficerKeepsTwoKeys(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, auth.Config{})
	ctx := t.Context()
	off, _ := e.Officer(t, "leader@example.org")
	factors, err := e.Auth.Factors(ctx, off.Account.ID)
	if err != nil || len(factors) != 2 {
		t.Fatalf("factors %+v %v", factors, err)
	}
	sess, _ := e.Auth.Session(ctx, off.Session)
	if err := e.Auth.RemoveFactor(ctx, sess, factors[0].ID, auth.Client{}); !errors.Is(err, auth.ErrNeedWebAuthn) {
		t.Errorf("removing one of two keys: %v, want ErrNeedWebAuthn", err)
	}
	e.AddSecurityKey(t, off)
	sess, _ = e.Auth.Session(ctx, off.Session)
	if err := e.Auth.RemoveFactor(ctx, sess, factors[0].ID, auth.Client{}); err != nil {
		t.Errorf("removing one of three keys: %v", err)
	}

	m := e.User(t, "anna@example.org", auth.RoleMember)
	officer := auth.RoleOfficer
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &officer}, auth.Client{}); !errors.Is(err, auth.ErrNeedWebAuthn) {
		t.Errorf("a member with an app made officer: %v, want ErrNeedWebAuthn", err)
	}
	e.AddSecurityKey(t, m)
	e.AddSecurityKey(t, m)
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &officer}, auth.Client{}); err != nil {
		t.Errorf("a member with two keys made officer: %v", err)
	}
	bogus := auth.Role("king")
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &bogus}, auth.Client{}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("an unknown role: %v", err)
	}
}

// TestOfficerKeyModels: with a list of allowed models, an officer's key
// of another model (or of none: zeros) is refused and audited; a listed
// one is taken. Members are not held to the list.
func TestOfficerKeyModels(t *testing.T) {
	t.Parallel()
	allowed := []byte{0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8}
	e := authtest.New(t, auth.Config{OfficerAAGUIDs: []string{"CB69481E-8FF7-4039-93EC-0A2729A154A8"}})
	ctx := t.Context()
	tok, err := e.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: "chair@example.org", DisplayName: "Chair", Role: auth.RoleOfficer}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u := &authtest.User{Password: "correct horse battery staple 42"}
	if u.Session, err = e.Auth.AcceptInvite(ctx, tok, u.Password, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TryAddSecurityKey(t, u, nil); !errors.Is(err, auth.ErrKeyModel) {
		t.Errorf("a key of no model: %v, want ErrKeyModel", err)
	}
	other := make([]byte, 16)
	other[0] = 1
	if _, err := e.TryAddSecurityKey(t, u, other); !errors.Is(err, auth.ErrKeyModel) {
		t.Errorf("a key of another model: %v, want ErrKeyModel", err)
	}
	for range 2 {
		if _, err := e.TryAddSecurityKey(t, u, allowed); err != nil {
			t.Fatalf("a listed model: %v", err)
		}
	}
	if sess, _ := e.Auth.Session(ctx, u.Session); sess.Stage != auth.StageFull {
		t.Errorf("stage %v after two allowed keys", sess.Stage)
	}
	m := e.User(t, "anna@example.org", auth.RoleMember)
	if _, err := e.TryAddSecurityKey(t, m, other); err != nil {
		t.Errorf("a member's key of any model: %v", err)
	}
}

// TestOfficerNoCodes: an officer cannot add an authenticator app, and one
// made officer while holding an app can no longer sign in with its code.
func TestOfficerNoCodes(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, auth.Config{})
	ctx := t.Context()
	off, _ := e.Officer(t, "leader@example.org")
	sess, _ := e.Auth.Session(ctx, off.Session)
	if _, err := e.Auth.BeginTOTP(ctx, sess); !errors.Is(err, auth.ErrNeedWebAuthn) {
		t.Errorf("an officer adding an app: %v, want ErrNeedWebAuthn", err)
	}
	m := e.User(t, "anna@example.org", auth.RoleMember) // holds an app
	e.AddSecurityKey(t, m)
	e.AddSecurityKey(t, m)
	officer := auth.RoleOfficer
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &officer}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	second, _, err := e.Auth.PasswordSignIn(ctx, m.Account.Login, m.Password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err = e.Auth.Session(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Auth.VerifyTOTP(ctx, sess, e.Code(t, m), auth.Client{}); !errors.Is(err, auth.ErrNeedWebAuthn) {
		t.Errorf("an officer signing in with a code: %v, want ErrNeedWebAuthn", err)
	}
}
