package console

// Tests of the console in a real browser: headless Chromium driven through
// the DevTools protocol by chromedp (as cmd/caucus's browser tests), with
// the DevTools virtual authenticator for WebAuthn, against the console and
// the sign-in pages served on 127.0.0.1:0 under a certificate for
// localhost made here. They show what only a browser does: it sends no
// Referer under caucus's Referrer-Policy, runs the WebAuthn script, and
// follows the pages' links and forms.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

const (
	browserTestTimeout = 90 * time.Second // whole test, browser start included
	pageTimeout        = 30 * time.Second // one page or one ceremony
)

// localhostCert makes a self-signed certificate for localhost and returns
// it with the base64 SHA-256 of its public key, which Chromium's
// --ignore-certificate-errors-spki-list takes.
func localhostCert(t *testing.T) (*tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, browsertest.SPKIHash(cert)
}

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	*browsertest.Browser
}

// newBrowserConsole starts the console with a certificate for localhost
// and a Chromium that trusts exactly that certificate, with a virtual USB
// security key plugged in.
func newBrowserConsole(t *testing.T) (*console, *browser) {
	t.Helper()
	browsertest.Need(t)
	cert, spki := localhostCert(t)
	c := newConsoleWith(t, false, cert)
	_, port, _ := net.SplitHostPort(c.ts.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	b := &browser{browsertest.Start(t, ctx, browsertest.Options{
		URL: "https://localhost:" + port, SPKI: spki, StepTimeout: pageTimeout,
	})}
	b.AddAuthenticator(browsertest.USBSecurityKey())
	return c, b
}

// enrolAdmin takes a new admin through their invite in the browser:
// password, a security key (the virtual one), recovery codes.
func (b *browser) enrolAdmin(c *console, login string) {
	b.T.Helper()
	token, err := c.env.Auth.CreateInvite(b.T.Context(), "test", auth.NewAccount{Login: login, DisplayName: "Boss", Role: auth.RoleAdmin}, auth.Client{})
	if err != nil {
		b.T.Fatal(err)
	}
	const pw = "quiet-lantern-orbit-4417"
	b.Navigate("/enrol/" + token)
	b.Do("choose a password",
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Click(chromedp.CSS(`form[action^="/enrol/"] button[type="submit"]`)),
	)
	b.WaitPrefix("/enrol", "#credname")
	b.Do("add a security key", chromedp.SendKeys(chromedp.CSS("#credname"), "Blue key"), chromedp.Click(chromedp.CSS("#addkey")))
	b.WaitPrefix("/enrol/recovery", "#codes") // shown at once after enrolment
}
