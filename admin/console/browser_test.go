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
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
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
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, base64.StdEncoding.EncodeToString(sum[:])
}

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string // https://localhost:PORT
}

// newBrowserConsole starts the console with a certificate for localhost
// and a Chromium that trusts exactly that certificate, with a virtual USB
// security key plugged in.
func newBrowserConsole(t *testing.T) (*console, *browser) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	chromium := testtool.Need(t, "chromium")
	cert, spki := localhostCert(t)
	c := newConsoleWith(t, false, cert)
	_, port, _ := net.SplitHostPort(c.ts.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)
	logf := testLogf(t)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	b := &browser{t: t, ctx: bctx, url: "https://localhost:" + port}
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	key := webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
		AutomaticPresenceSimulation: true,
	}
	if _, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &key}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return c, b
}

// testLogf logs to t until the test's cleanup starts.
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

// pageState is what waitPage reads from the page.
type pageState struct {
	Path   string `json:"path"`
	Found  bool   `json:"found"`
	Status string `json:"status"` // the WebAuthn script's messages
	Error  string `json:"error"`  // the server's error message on the page
	Notice string `json:"notice"`
	Title  string `json:"title"`
}

func (b *browser) state(ctx context.Context, sel string) (pageState, error) {
	q, _ := json.Marshal(sel)
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](`(() => {
		const s = document.getElementById("status"), e = document.querySelector(".error"), n = document.querySelector(".notice");
		return {
			path: location.pathname,
			found: document.readyState !== "loading" && document.querySelector(`+string(q)+`) !== null,
			status: s ? s.textContent.trim() : "",
			error: e ? e.textContent.trim() : "",
			notice: n ? n.textContent.trim() : "",
			title: document.title,
		};
	})()`))
}

func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	st, err := b.state(ctx, "body")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return fmt.Sprintf("%s %q, error %q, status %q", st.Path, st.Title, st.Error, st.Status)
}

// waitPage waits until the tab shows a path starting with prefix and an
// element matching sel. It fails at once when the page's WebAuthn script
// reports an error.
func (b *browser) waitPage(prefix, sel string) pageState {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	var last pageState
	for {
		st, err := b.state(ctx, sel)
		if err == nil {
			last = st
			if strings.HasPrefix(st.Path, prefix) && st.Found {
				return st
			}
			if st.Status != "" && !strings.HasPrefix(st.Status, "Follow your browser") {
				b.t.Fatalf("waiting for %s: the page's script says %q (on %s %q)", prefix, st.Status, st.Path, st.Title)
			}
		} // else: a navigation replaced the page under the evaluation
		select {
		case <-ctx.Done():
			b.t.Fatalf("waiting for %s with %s: %v; last seen %s %q, error %q, notice %q", prefix, sel, ctx.Err(), last.Path, last.Title, last.Error, last.Notice)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// enrolAdmin takes a new admin through their invite in the browser:
// password, a security key (the virtual one), recovery codes.
func (b *browser) enrolAdmin(c *console, login string) {
	b.t.Helper()
	token, err := c.env.Auth.CreateInvite(b.t.Context(), "test", auth.NewAccount{Login: login, DisplayName: "Boss", Role: auth.RoleAdmin}, auth.Client{})
	if err != nil {
		b.t.Fatal(err)
	}
	const pw = "quiet-lantern-orbit-4417"
	b.navigate("/enrol/" + token)
	b.do("choose a password",
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Click(chromedp.CSS(`form[action^="/enrol/"] button[type="submit"]`)),
	)
	b.waitPage("/enrol", "#credname")
	b.do("add a security key", chromedp.SendKeys(chromedp.CSS("#credname"), "Blue key"), chromedp.Click(chromedp.CSS("#addkey")))
	b.waitPage("/enrol/recovery", "#codes") // shown at once after enrolment
}
