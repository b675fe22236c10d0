// Package browsertest starts headless Chromium for caucus's browser tests
// and drives one tab through the DevTools protocol (chromedp): it trusts
// the test server's certificate by its public key, plugs in DevTools
// virtual authenticators (WebAuthn domain), records every request the tab
// makes, and has the few page steps every browser test needs (open, wait
// for a page, click, read). It is plumbing only: the sign-in and enrolment
// flows stay with the packages that own them.
package browsertest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/internal/testtool"
)

// Options say how to start the browser. The zero value is a desktop-sized
// window in Chromium's default language, trusting no certificate.
type Options struct {
	URL    string // the server's base URL, which Navigate's paths follow
	SPKI   string // base64 SHA-256 of the certificate's public key to trust (SPKIHash)
	Lang   string // --lang and --accept-lang (the Accept-Language sent), when set
	Width  int    // window size, when Width and Height are set
	Height int

	// Flags are extra command-line flags (name without "--": value).
	Flags map[string]any
	// Env are extra environment variables ("NAME=value") for the browser.
	Env []string

	// Listener, when set, also sees every event of the tab.
	Listener func(ev any)

	// Record makes the tab record every request (Requests, Offsite).
	Record bool

	// StepTimeout bounds one page or one ceremony; 20 s when zero.
	StepTimeout time.Duration
}

// Browser is one headless Chromium with one tab, for one test. It stops
// when the test ends.
type Browser struct {
	T   *testing.T
	Ctx context.Context // the tab
	URL string          // the server's base URL

	step time.Duration
	mu   sync.Mutex
	reqs []string // every URL the tab requested, with Options.Record
}

// Start starts Chromium (testtool.Need: skipped when missing) under ctx
// with a fresh profile and the project's flags, and opens its tab.
func Start(t *testing.T, ctx context.Context, o Options) *Browser {
	t.Helper()
	path := testtool.Need(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
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
	}
	if o.SPKI != "" {
		// Honoured only with --user-data-dir: the certificate counts as
		// valid, so the page is a secure context WebAuthn accepts.
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", o.SPKI))
	}
	if o.Lang != "" {
		opts = append(opts, chromedp.Flag("lang", o.Lang), chromedp.Flag("accept-lang", o.Lang))
	}
	if o.Width > 0 && o.Height > 0 {
		opts = append(opts, chromedp.WindowSize(o.Width, o.Height))
	}
	for name, v := range o.Flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	if len(o.Env) > 0 {
		opts = append(opts, chromedp.Env(o.Env...))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	b := &Browser{T: t, URL: o.URL, step: o.StepTimeout}
	if b.step == 0 {
		b.step = 20 * time.Second
	}
	logf := Logf(t)
	copts := []chromedp.ContextOption{chromedp.WithLogf(logf), chromedp.WithErrorf(logf)}
	if o.Record {
		copts = append(copts, chromedp.WithListener(b.record))
	}
	if o.Listener != nil {
		copts = append(copts, chromedp.WithListener(o.Listener))
	}
	bctx, cancelTab := chromedp.NewContext(actx, copts...)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	b.Ctx = bctx
	if err := chromedp.Do(bctx); err != nil { // start the browser and open the tab
		t.Fatalf("start %s: %v", path, err)
	}
	if o.Record {
		if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatalf("Network.enable: %v", err)
		}
	}
	return b
}

// On returns a Browser for another tab (a chromedp context made from
// b.Ctx), with b's test, URL and step timeout.
func (b *Browser) On(tab context.Context) *Browser {
	return &Browser{T: b.T, Ctx: tab, URL: b.URL, step: b.step}
}

// Logf logs to t until the test's cleanup starts; later lines (from a
// browser going away) are dropped rather than logged after the test ended.
func Logf(t *testing.T) func(string, ...any) {
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

// SPKIHash returns the base64 SHA-256 of the certificate's public key
// info, as --ignore-certificate-errors-spki-list takes it.
func SPKIHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SPKIHashFile is SPKIHash of the first certificate of a PEM file.
func SPKIHashFile(certFile string) (string, error) {
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
		return "", fmt.Errorf("%s: %w", certFile, err)
	}
	return SPKIHash(cert), nil
}

// Need skips the test under go test -short (it drives headless Chromium)
// and, as testtool.Need does, when Chromium is not installed.
func Need(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives headless Chromium; go test without -short runs it")
	}
	testtool.Need(t, "chromium")
}
