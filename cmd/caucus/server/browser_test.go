package server

// End-to-end tests of the web sign-in in a real browser: headless Chromium,
// driven through the DevTools protocol by chromedp, against a caucus started
// in process on 127.0.0.1:0 with its self-signed dev certificate. WebAuthn
// runs against the DevTools virtual authenticator (WebAuthn domain), so the
// browser does the real ceremonies: the page's script, the browser's checks
// of origin and RP ID, and the server's verification of attestation and
// assertion.

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

const (
	browserTestTimeout = 60 * time.Second // whole test, browser start included
	pageTimeout        = 20 * time.Second // one page or one ceremony
)

// TestBrowserPasskey: the first admin follows the invite printed at first
// start, chooses a password, adds a passkey, saves the recovery codes, signs
// out, and signs in again with the passkey alone (no address, no password).
func TestBrowserPasskey(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	b := newBrowser(t, ctx, srv)
	authr := b.AddAuthenticator(browsertest.PlatformPasskey())

	const login, keyName = "admin@localhost", "Test laptop passkey"
	b.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	b.register("#addpasskey", keyName)
	if codes := b.recoveryCodes(); len(codes) != 10 {
		t.Fatalf("recovery page shows %d codes, want 10: %q", len(codes), codes)
	}
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later") // after enrolment: set up your phone
	b.Click("#later")
	b.WaitPage("/account", "#factors")
	if text := b.Text("#factors"); !strings.Contains(text, keyName) || !strings.Contains(text, string(auth.KindPasskey)) {
		t.Fatalf("account page does not list the passkey %q:\n%s", keyName, text)
	}

	// The browser holds a discoverable credential for localhost.
	creds, err := chromedp.Call(b.Ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authr})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator holds %+v, want one resident credential for localhost", creds.Credentials)
	}

	b.signOut()
	b.Click("#passkey")
	b.WaitPage("/account", "#factors")

	// The server saw a passkey sign-in, and no password sign-in at all.
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	factors, err := srv.auth.Factors(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 1 || factors[0].Kind != auth.KindPasskey || factors[0].Name != keyName || factors[0].LastUsedAt.IsZero() {
		t.Fatalf("factors = %+v, want one used passkey named %q", factors, keyName)
	}
	wantAudit(t, ctx, srv, login, "login.passkey", 1)
	wantAudit(t, ctx, srv, login, "login.password", 0)
	if n, err := srv.auth.RecoveryCodesLeft(ctx, acct.ID); err != nil || n != 10 {
		t.Fatalf("recovery codes left = %d, %v; want 10", n, err)
	}
}

// TestBrowserSecurityKey: a member invited by the admin enrols a USB security
// key (no PIN, not discoverable), then signs in with address and password
// followed by the key.
func TestBrowserSecurityKey(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw, keyName = "vol@localhost", "marble-cactus-harbour-9051", "Blue key"
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Vol Unteer", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ctx, srv)
	authr := b.AddAuthenticator(browsertest.USBSecurityKey())

	b.acceptInvite(srv.url+"/enrol/"+token, pw)
	b.WaitPage("/enrol", "#addtotp") // members may choose an app instead
	b.register("#addkey", keyName)
	if codes := b.recoveryCodes(); len(codes) != 10 {
		t.Fatalf("recovery page shows %d codes, want 10: %q", len(codes), codes)
	}
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later") // after enrolment: set up your phone
	b.Click("#later")
	b.WaitPage("/account", "#factors")
	if text := b.Text("#factors"); !strings.Contains(text, keyName) || !strings.Contains(text, "security key") {
		t.Fatalf("account page does not list the security key %q:\n%s", keyName, text)
	}
	creds, err := chromedp.Call(b.Ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authr})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || creds.Credentials[0].IsResidentCredential {
		t.Fatalf("virtual authenticator holds %+v, want one non-resident credential", creds.Credentials)
	}

	b.signOut()
	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#usekey")
	b.Click("#usekey")
	b.WaitPage("/account", "#factors")

	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	factors, err := srv.auth.Factors(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 1 || factors[0].Kind != auth.KindSecurityKey || factors[0].LastUsedAt.IsZero() {
		t.Fatalf("factors = %+v, want one used security key", factors)
	}
	wantAudit(t, ctx, srv, login, "login.password", 1)
	wantAudit(t, ctx, srv, login, "login.webauthn", 1)
}

// TestBrowserRefusal: without a session /account sends the browser to the
// sign-in page, and a session that passed only the password reaches nothing
// but the second step.
func TestBrowserRefusal(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "vol@localhost", "copper-meadow-violin-2286"
	enrolTOTPMember(t, ctx, srv, login, pw)
	b := newBrowser(t, ctx, srv)

	b.Navigate("/account")
	b.WaitPage("/login", "#passkey")
	if got, want := b.Location(), srv.url+"/login?next=%2Faccount"; got != want {
		t.Errorf("without a session /account went to %s, want %s", got, want)
	}

	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#code")
	for _, path := range []string{"/account", "/", "/enrol", "/enrol/recovery"} {
		b.Navigate(path)
		b.WaitPage("/login/second", "#code")
	}
	// Nor can its script add a factor of its own.
	status, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`fetch("/webauthn/register/begin", {
		method: "POST",
		headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf"]').content},
		body: JSON.stringify({kind: "passkey"}),
	}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != 403 {
		t.Errorf("a second-stage session starting a passkey registration got HTTP %d, want 403", status)
	}
	wantAudit(t, ctx, srv, login, "login.password", 1)
	wantAudit(t, ctx, srv, login, "login.totp", 0)
}

// startTestServer starts caucus --dev on a free port with its data in a
// temporary directory, and returns it with the enrolment link of the first
// admin. The server stops when the test ends.
func startTestServer(t *testing.T, ctx context.Context) (*Server, string) {
	t.Helper()
	return startTestServerNotices(t, ctx, false)
}

// startTestServerNotices is startTestServer with the notices by mail on
// or off (off, the tests that count mail are not disturbed by them).
func startTestServerNotices(t *testing.T, ctx context.Context, notices bool) (*Server, string) {
	t.Helper()
	cfg := config.Dev(t.TempDir())
	if err := cfg.Validate(); err != nil { // as serve --dev does
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen) // free ports (Validate wants fixed ones)
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	srv, err := start(ctx, cfg, Deps{Dev: true, Log: log, Out: &out, NoNotices: !notices})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	m := regexp.MustCompile(`(?m)^enrol: (https://\S+/enrol/\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no enrolment link in the output of the first start: %q", out.String())
	}
	if !strings.HasPrefix(m[1], "https://localhost:") {
		t.Fatalf("enrolment link %s is not on https://localhost", m[1])
	}
	return srv, m[1]
}

// enrolTOTPMember makes an active member with a password and TOTP through
// the service, without a browser.
func enrolTOTPMember(t *testing.T, ctx context.Context, srv *Server, login, pw string) {
	t.Helper()
	enrolTOTPMemberKey(t, ctx, srv, login, pw)
}

// enrolTOTPMemberKey is enrolTOTPMember, returning the TOTP secret.
func enrolTOTPMemberKey(t *testing.T, ctx context.Context, srv *Server, login, pw string) string {
	t.Helper()
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Member", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	stok, err := srv.auth.AcceptInvite(ctx, token, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, stok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, stok); err != nil { // now with the TOTP in progress, as the next request reads it
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(key.Secret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.auth.FinishTOTP(ctx, sess, code, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	return key.Secret()
}

// wantAudit checks that the audit log holds n successful records of kind
// (exactly that kind, not one it prefixes) about login.
func wantAudit(t *testing.T, ctx context.Context, srv *Server, login, kind string, n int) {
	t.Helper()
	recs, err := srv.audit.List(ctx, audit.Filter{Account: login, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, r := range recs {
		if r.Kind == kind && r.Outcome == audit.OK {
			got++
		}
	}
	if got != n {
		t.Errorf("audit log has %d successful %s records for %s, want %d: %+v", got, kind, login, n, recs)
	}
}

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	*browsertest.Browser
}

// newBrowser starts Chromium with a fresh profile that trusts exactly the
// server's self-signed certificate (by its public key). The browser stops
// when the test ends.
func newBrowser(t *testing.T, ctx context.Context, srv *Server) *browser {
	t.Helper()
	spki, err := browsertest.SPKIHashFile(srv.cfg.TLS.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{browsertest.Start(t, ctx, browsertest.Options{URL: srv.url, SPKI: spki, StepTimeout: pageTimeout})}
}

// acceptInvite opens an enrolment link and chooses the password; the
// browser lands on the factor page.
func (b *browser) acceptInvite(link, pw string) {
	b.T.Helper()
	b.Do("open the enrolment link", chromedp.Navigate(link))
	b.Do("choose a password",
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Click(chromedp.CSS(`form[action^="/enrol/"] button[type="submit"]`)),
	)
	b.WaitPage("/enrol", "#credname")
}

// register names a new WebAuthn credential and presses button (#addpasskey
// or #addkey); the page's script runs the ceremony with the virtual
// authenticator and moves on to the recovery codes.
func (b *browser) register(button, name string) {
	b.T.Helper()
	b.Do("add "+name,
		chromedp.SendKeys(chromedp.CSS("#credname"), name),
		chromedp.Click(chromedp.CSS(button)),
	)
	b.WaitPage("/enrol/recovery", "#codes")
}

// recoveryCodes returns the recovery codes shown at once after enrolment.
func (b *browser) recoveryCodes() []string {
	b.T.Helper()
	b.WaitPage("/enrol/recovery", "#codes")
	codes, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#codes li"), li => li.textContent.trim())`))
	if err != nil {
		b.T.Fatal(err)
	}
	for i, c := range codes {
		if c == "" || slices.Index(codes, c) != i {
			b.T.Fatalf("recovery codes empty or repeated: %q", codes)
		}
	}
	return codes
}

// signOut presses Sign out in the page header.
func (b *browser) signOut() {
	b.T.Helper()
	b.Click(`header form[action="/logout"] button`)
	b.WaitPage("/login", "#passkey")
}

// passwordSignIn fills in the password form of the sign-in page.
func (b *browser) passwordSignIn(login, pw string) {
	b.T.Helper()
	b.WaitPage("/login", "#login")
	b.Do("sign in with a password",
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}
