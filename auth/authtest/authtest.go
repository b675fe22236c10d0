// Package authtest builds a real auth service on a temporary database for
// the tests of packages that sign people in through auth (the admin console,
// mail, files). People are enrolled the way a browser would do it, with a
// password and TOTP, so tests outside a browser get full sessions; a
// software security key (Key) proves WebAuthn where a test needs it.
package authtest

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// Clock is a settable clock for the service.
type Clock = testtool.Clock

// Env is a service with its storage.
type Env struct {
	DB    *db.DB
	Audit *audit.Log
	Auth  *auth.Service
	Clock *Clock
}

// New builds an Env. The password hasher uses cheap parameters (the real
// ones are measured by auth's benchmarks), and the admins-need-WebAuthn
// policy is off so that admins can be enrolled with TOTP here; the browser
// tests cover WebAuthn. extra are further migrations to apply.
func New(t testing.TB, cfg auth.Config, extra ...db.Component) *Env {
	t.Helper()
	d := dbtest.Open(t)
	if err := d.Migrate(t.Context(), append([]db.Component{audit.Component(), auth.Component()}, extra...)...); err != nil {
		t.Fatal(err)
	}
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	material := make([]byte, 64)
	rand.Read(material)
	keys, err := auth.NewKeys(material)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RPID == "" {
		cfg.RPID = "localhost"
		cfg.Origins = []string{"https://localhost"}
	}
	cfg.AdminsNeedWebAuthn = false
	al := audit.New(d, clk.Now, log)
	svc, err := auth.New(cfg, auth.Deps{
		DB: d, Audit: al, Log: log, Now: clk.Now, Keys: keys,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{DB: d, Audit: al, Auth: svc, Clock: clk}
}

// User is an enrolled person with a full web session.
type User struct {
	Account    auth.Account
	Password   string
	TOTPSecret string
	Session    string // session cookie token
}

// Code returns the TOTP code for the current time, then advances the clock
// one step so the next call gives a fresh code (codes work once).
func (e *Env) Code(t testing.TB, u *User) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(u.TOTPSecret, e.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(30 * time.Second)
	return c
}

// User invites login with role, accepts the invite, enrols TOTP and makes
// recovery codes, and returns the person with a full session.
func (e *Env) User(t testing.TB, login string, role auth.Role) *User {
	t.Helper()
	ctx := t.Context()
	na := auth.NewAccount{Login: login, DisplayName: "Test " + string(role), Role: role}
	if role == auth.RoleVolunteer {
		na.ExpiresAt = e.Clock.Now().Add(90 * 24 * time.Hour) // a volunteer needs a last day
	}
	tok, err := e.Auth.CreateInvite(ctx, "", na, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	pw := "correct horse " + hex.EncodeToString(material(8))
	sessTok, err := e.Auth.AcceptInvite(ctx, tok, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Auth.Session(ctx, sessTok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.Auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	u := &User{Password: pw, TOTPSecret: key.Secret()}
	sess, err = e.Auth.Session(ctx, sessTok) // reload: the enrolment is pending in it
	if err != nil {
		t.Fatal(err)
	}
	if u.Session, err = e.Auth.FinishTOTP(ctx, sess, e.Code(t, u), auth.Client{}); err != nil {
		t.Fatal(err)
	}
	full, err := e.Auth.Session(ctx, u.Session)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Auth.NewRecoveryCodes(ctx, full, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	u.Account = full.Account
	return u
}

// Officer invites login as an officer and enrols them as the pages do
// for that role: a password, then two security keys (no authenticator
// app). It returns the person and their keys.
func (e *Env) Officer(t testing.TB, login string) (*User, [2]*Key) {
	t.Helper()
	ctx := t.Context()
	tok, err := e.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: "Test officer", Role: auth.RoleOfficer}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u := &User{Password: "correct horse " + hex.EncodeToString(material(8))}
	if u.Session, err = e.Auth.AcceptInvite(ctx, tok, u.Password, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	keys := [2]*Key{e.AddSecurityKey(t, u), e.AddSecurityKey(t, u)}
	full, err := e.Auth.Session(ctx, u.Session)
	if err != nil {
		t.Fatal(err)
	}
	if full.Stage != auth.StageFull {
		t.Fatalf("an officer with two keys is at stage %v", full.Stage)
	}
	u.Account = full.Account
	return u, keys
}

// SignIn signs u in again (password and TOTP) and returns the new session token.
func (e *Env) SignIn(t testing.TB, u *User) string {
	t.Helper()
	tok, _, err := e.Auth.PasswordSignIn(t.Context(), u.Account.Login, u.Password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Auth.Session(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	full, err := e.Auth.VerifyTOTP(t.Context(), sess, e.Code(t, u), auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u.Session = full
	return full
}

// AppPassword makes an app password for u (from u's fresh session) and
// returns its secret.
func (e *Env) AppPassword(t testing.TB, u *User, name string, scope auth.Scope) string {
	t.Helper()
	sess, err := e.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.Auth.CreateAppPassword(t.Context(), sess, name, scope, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func material(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
