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
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool"
)

const (
	browserTestTimeout = 60 * time.Second // whole test, browser start included
	pageTimeout        = 20 * time.Second // one page or one ceremony
)

// Virtual authenticators (WebAuthn.addVirtualAuthenticator).
var (
	// platformPasskey is a phone's or computer's built-in authenticator: it
	// keeps discoverable credentials and verifies the user.
	platformPasskey = webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}
	// usbSecurityKey is a plain USB key: user presence only, no PIN, no
	// discoverable credentials.
	usbSecurityKey = webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Transport:                   webauthn.AuthenticatorTransportUsb,
		HasResidentKey:              false,
		HasUserVerification:         false,
		IsUserVerified:              false,
		AutomaticPresenceSimulation: true,
	}
)

// TestBrowserPasskey: the first admin follows the invite printed at first
// start, chooses a password, adds a passkey, saves the recovery codes, signs
// out, and signs in again with the passkey alone (no address, no password).
func TestBrowserPasskey(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	chromium := testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	b := newBrowser(t, ctx, chromium, srv)
	authr := b.addAuthenticator(platformPasskey)

	const login, keyName = "admin@localhost", "Test laptop passkey"
	b.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	b.register("#addpasskey", keyName)
	if codes := b.recoveryCodes(); len(codes) != 10 {
		t.Fatalf("recovery page shows %d codes, want 10: %q", len(codes), codes)
	}
	b.click("#done")
	b.waitPage("/setup/phone", "#later") // after enrolment: set up your phone
	b.click("#later")
	b.waitPage("/account", "#factors")
	if text := b.text("#factors"); !strings.Contains(text, keyName) || !strings.Contains(text, string(auth.KindPasskey)) {
		t.Fatalf("account page does not list the passkey %q:\n%s", keyName, text)
	}

	// The browser holds a discoverable credential for localhost.
	creds, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authr})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator holds %+v, want one resident credential for localhost", creds.Credentials)
	}

	b.signOut()
	b.click("#passkey")
	b.waitPage("/account", "#factors")

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
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	chromium := testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw, keyName = "vol@localhost", "marble-cactus-harbour-9051", "Blue key"
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Vol Unteer", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ctx, chromium, srv)
	authr := b.addAuthenticator(usbSecurityKey)

	b.acceptInvite(srv.url+"/enrol/"+token, pw)
	b.waitPage("/enrol", "#addtotp") // members may choose an app instead
	b.register("#addkey", keyName)
	if codes := b.recoveryCodes(); len(codes) != 10 {
		t.Fatalf("recovery page shows %d codes, want 10: %q", len(codes), codes)
	}
	b.click("#done")
	b.waitPage("/setup/phone", "#later") // after enrolment: set up your phone
	b.click("#later")
	b.waitPage("/account", "#factors")
	if text := b.text("#factors"); !strings.Contains(text, keyName) || !strings.Contains(text, "security key") {
		t.Fatalf("account page does not list the security key %q:\n%s", keyName, text)
	}
	creds, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authr})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || creds.Credentials[0].IsResidentCredential {
		t.Fatalf("virtual authenticator holds %+v, want one non-resident credential", creds.Credentials)
	}

	b.signOut()
	b.passwordSignIn(login, pw)
	b.waitPage("/login/second", "#usekey")
	b.click("#usekey")
	b.waitPage("/account", "#factors")

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
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	t.Parallel()
	chromium := testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "vol@localhost", "copper-meadow-violin-2286"
	enrolTOTPMember(t, ctx, srv, login, pw)
	b := newBrowser(t, ctx, chromium, srv)

	b.navigate("/account")
	b.waitPage("/login", "#passkey")
	if got, want := b.location(), srv.url+"/login?next=%2Faccount"; got != want {
		t.Errorf("without a session /account went to %s, want %s", got, want)
	}

	b.passwordSignIn(login, pw)
	b.waitPage("/login/second", "#code")
	for _, path := range []string{"/account", "/", "/enrol", "/enrol/recovery"} {
		b.navigate(path)
		b.waitPage("/login/second", "#code")
	}
	// Nor can its script add a factor of its own.
	status, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`fetch("/webauthn/register/begin", {
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
	cfg := config.Dev(t.TempDir())
	if err := cfg.Validate(); err != nil { // as serve --dev does
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen) // free ports (Validate wants fixed ones)
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	srv, err := start(ctx, cfg, Deps{Dev: true, Log: log, Out: &out})
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
	t   *testing.T
	ctx context.Context // chromedp context of the tab
	url string          // the server's base URL
}

// newBrowser starts Chromium with a fresh profile that trusts exactly the
// server's self-signed certificate (by its public key). The browser stops
// when the test ends.
func newBrowser(t *testing.T, ctx context.Context, path string, srv *Server) *browser {
	t.Helper()
	spki, err := certSPKIHash(srv.cfg.TLS.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Honoured only with --user-data-dir: the certificate counts as
		// valid, so the page is a secure context WebAuthn accepts.
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)
	logf := testLogf(t)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	if err := chromedp.Do(bctx); err != nil { // start the browser and open the tab
		t.Fatalf("start %s: %v", path, err)
	}
	return &browser{t: t, ctx: bctx, url: srv.url}
}

// testLogf logs to t until the test's cleanup starts; later lines (from a
// browser going away) are dropped rather than logged after the test ended.
func testLogf(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf("chromedp: "+format, args...)
		}
	}
}

// certSPKIHash returns the base64 SHA-256 of the certificate's public key
// info, as --ignore-certificate-errors-spki-list takes it.
func certSPKIHash(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// addAuthenticator enables the WebAuthn domain on the tab (without the
// browser's own prompts) and plugs in a virtual authenticator.
func (b *browser) addAuthenticator(opts webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (page: %s)", what, err, b.describe())
	}
}

func (b *browser) navigate(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.url+path))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v (page: %s)", sel, err, b.describe())
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// pageState is what waitPage reads from the page.
type pageState struct {
	Path   string `json:"path"`
	Found  bool   `json:"found"`
	Status string `json:"status"` // the WebAuthn script's messages
	Error  string `json:"error"`  // the server's error message on the page
	Title  string `json:"title"`
}

func (b *browser) state(ctx context.Context, sel string) (pageState, error) {
	q, _ := json.Marshal(sel)
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](`(() => {
		const s = document.getElementById("status"), e = document.querySelector(".error");
		return {
			path: location.pathname,
			found: document.readyState !== "loading" && document.querySelector(`+string(q)+`) !== null,
			status: s ? s.textContent.trim() : "",
			error: e ? e.textContent.trim() : "",
			title: document.title,
		};
	})()`))
}

// describe sums up the page for a failure message.
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	st, err := b.state(ctx, "body")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return fmt.Sprintf("%s %q, error %q, status %q", st.Path, st.Title, st.Error, st.Status)
}

// waitPage waits until the tab shows path with an element matching sel. It
// fails at once when the page's WebAuthn script reports an error.
func (b *browser) waitPage(path, sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	var last pageState
	for {
		st, err := b.state(ctx, sel)
		if err == nil {
			last = st
			if st.Path == path && st.Found {
				return
			}
			if st.Status != "" && !strings.HasPrefix(st.Status, "Follow your browser") {
				b.t.Fatalf("waiting for %s: the page's script says %q (on %s %q)", path, st.Status, st.Path, st.Title)
			}
		} // else: a navigation replaced the page under the evaluation; read again
		select {
		case <-ctx.Done():
			b.t.Fatalf("waiting for %s with %s: %v; last seen %s %q, error %q, status %q", path, sel, ctx.Err(), last.Path, last.Title, last.Error, last.Status)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// acceptInvite opens an enrolment link and chooses the password; the
// browser lands on the factor page.
func (b *browser) acceptInvite(link, pw string) {
	b.t.Helper()
	b.do("open the enrolment link", chromedp.Navigate(link))
	b.do("choose a password",
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Click(chromedp.CSS(`form[action^="/enrol/"] button[type="submit"]`)),
	)
	b.waitPage("/enrol", "#credname")
}

// register names a new WebAuthn credential and presses button (#addpasskey
// or #addkey); the page's script runs the ceremony with the virtual
// authenticator and moves on to the recovery codes.
func (b *browser) register(button, name string) {
	b.t.Helper()
	b.do("add "+name,
		chromedp.SendKeys(chromedp.CSS("#credname"), name),
		chromedp.Click(chromedp.CSS(button)),
	)
	b.waitPage("/enrol/recovery", "#codes")
}

// recoveryCodes returns the recovery codes shown at once after enrolment.
func (b *browser) recoveryCodes() []string {
	b.t.Helper()
	b.waitPage("/enrol/recovery", "#codes")
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#codes li"), li => li.textContent.trim())`))
	if err != nil {
		b.t.Fatal(err)
	}
	for i, c := range codes {
		if c == "" || slices.Index(codes, c) != i {
			b.t.Fatalf("recovery codes empty or repeated: %q", codes)
		}
	}
	return codes
}

// signOut presses Sign out in the page header.
func (b *browser) signOut() {
	b.t.Helper()
	b.click(`header form[action="/logout"] button`)
	b.waitPage("/login", "#passkey")
}

// passwordSignIn fills in the password form of the sign-in page.
func (b *browser) passwordSignIn(login, pw string) {
	b.t.Helper()
	b.waitPage("/login", "#login")
	b.do("sign in with a password",
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}
