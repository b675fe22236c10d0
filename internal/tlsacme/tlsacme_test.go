package tlsacme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"github.com/caucus-org/caucus/internal/tlsacme/pebbletest"
)

func TestNames(t *testing.T) {
	t.Parallel()
	got := tlsacme.Names("Mail.Example.org", []string{"example.org", "youth.example.", "example.org"})
	want := []string{"mail.example.org", "mta-sts.example.org", "autoconfig.example.org", "mta-sts.youth.example", "autoconfig.youth.example"}
	if !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []tlsacme.Config{
		{Hostname: "a.example", Names: []string{"b.example"}, CacheDir: t.TempDir()},
		{Hostname: "a.example", Names: []string{"a.example"}},
	} {
		if _, err := tlsacme.New(c); !errors.Is(err, tlsacme.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
	if _, err := tlsacme.LoadRoots([]byte("not pem")); !errors.Is(err, tlsacme.ErrConfig) {
		t.Errorf("LoadRoots(junk) = %v, want ErrConfig", err)
	}
}

// TestProtocolVersions checks what a handshake may negotiate: TLS 1.0 and
// 1.1 and TLS 1.2 without ECDHE+AEAD are refused.
func TestProtocolVersions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := devcert.Ensure(dir+"/c.pem", dir+"/k.pem", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := tlsacme.Fixed("localhost", cert)
	if exp, err := m.Expiry(t.Context()); err != nil || exp.Before(time.Now()) {
		t.Errorf("Expiry of the dev certificate = %v, %v", exp, err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	roots := devcert.Pool(cert)
	for _, tc := range []struct {
		name   string
		min    uint16
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"tls1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
		{"tls1.2 aead", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, true},
		{"tls1.1", tls.VersionTLS10, tls.VersionTLS11, nil, false},
		{"tls1.2 cbc", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
		{"tls1.2 rsa kx", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
	} {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
			RootCAs: roots, ServerName: "localhost", MinVersion: tc.min, MaxVersion: tc.max, CipherSuites: tc.suites,
		}}
		c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tc.name, err, tc.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

// TestPebble obtains certificates from an in-process Pebble, over
// TLS-ALPN-01 on the HTTPS listener, for the host name (asked for by
// name and without SNI) and an MTA-STS name, and refuses other names.
func TestPebble(t *testing.T) {
	p := pebbletest.Start(t)
	const host = "mail.caucus.test"
	var mu sync.Mutex
	stored := map[string]time.Time{}
	m, err := tlsacme.New(tlsacme.Config{
		OnCertificate: func(_ context.Context, name string, notAfter time.Time) {
			mu.Lock()
			defer mu.Unlock()
			stored[name] = notAfter
		},
		Hostname:     host,
		Names:        tlsacme.Names(host, []string{"caucus.test"}),
		Contact:      "admin@caucus.test",
		DirectoryURL: p.DirectoryURL,
		Roots:        p.Roots,
		CacheDir:     t.TempDir(),
		Log:          slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Expiry(t.Context()); !errors.Is(err, tlsacme.ErrNoCertificate) {
		t.Fatalf("Expiry before issuance: %v, want ErrNoCertificate", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	hs := &http.Server{Handler: ok, ReadHeaderTimeout: 10 * time.Second}
	hh := &http.Server{Handler: m.HTTPHandler(ok), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	go hh.Serve(hln)
	t.Cleanup(func() { hs.Close(); hh.Close() })
	p.Validate(hln.Addr().(*net.TCPAddr).Port, ln.Addr().(*net.TCPAddr).Port)

	issued := p.IssuerRoots()
	dial := func(sni string) (*x509.Certificate, error) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Minute}, Config: &tls.Config{
			ServerName: sni, InsecureSkipVerify: true, // verified below, also without SNI
		}}
		c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		st := c.(*tls.Conn).ConnectionState()
		inter := x509.NewCertPool()
		for _, ic := range st.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		leaf := st.PeerCertificates[0]
		_, err = leaf.Verify(x509.VerifyOptions{DNSName: cmp(sni, host), Roots: issued, Intermediates: inter})
		return leaf, err
	}
	leaf, err := dial(host)
	if err != nil {
		t.Fatalf("certificate for %s: %v", host, err)
	}
	if _, err := dial(""); err != nil {
		t.Errorf("no SNI: %v", err)
	}
	if _, err := dial("mta-sts.caucus.test"); err != nil {
		t.Errorf("mta-sts name: %v", err)
	}
	if _, err := dial("other.caucus.test"); err == nil {
		t.Error("a certificate was served for a name not configured")
	}
	exp, err := m.Expiry(t.Context())
	if err != nil || !exp.Equal(leaf.NotAfter) {
		t.Errorf("Expiry = %v, %v; want %v", exp, err, leaf.NotAfter)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != 2 || !stored[host].Equal(leaf.NotAfter) || stored["mta-sts.caucus.test"].IsZero() {
		t.Errorf("OnCertificate was told of %v; want %s and mta-sts.caucus.test", stored, host)
	}
}

// TestPebbleHTTP01 obtains a certificate over HTTP-01 through
// Manager.HTTPHandler: Pebble's TLS-ALPN-01 port is closed, so that
// challenge fails and autocert falls back to HTTP-01.
func TestPebbleHTTP01(t *testing.T) {
	p := pebbletest.Start(t)
	const host = "mail.caucus.test"
	m, err := tlsacme.New(tlsacme.Config{
		Hostname: host, Names: []string{host}, Contact: "admin@caucus.test",
		DirectoryURL: p.DirectoryURL, Roots: p.Roots, CacheDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var challenges atomic.Int32
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	acmeHTTP := m.HTTPHandler(ok) // before the first handshake: it enables HTTP-01
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			challenges.Add(1)
		}
		acmeHTTP.ServeHTTP(w, r)
	})
	hs := &http.Server{Handler: ok, ReadHeaderTimeout: 10 * time.Second}
	hh := &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	go hh.Serve(hln)
	t.Cleanup(func() { hs.Close(); hh.Close() })
	p.Validate(hln.Addr().(*net.TCPAddr).Port, closedPort)

	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Minute}, Config: &tls.Config{ServerName: host, RootCAs: p.IssuerRoots()}}
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("certificate over HTTP-01: %v", err)
	}
	c.Close()
	if challenges.Load() == 0 {
		t.Error("the certificate was issued without an HTTP-01 challenge")
	}
}

// TestRenewal checks that a certificate is renewed RenewBefore before it
// expires, without a client asking: Pebble issues certificates valid for
// 30 s, renewed 25 s before expiry.
func TestRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for Pebble to issue a certificate and its real-time renewal; go test without -short runs it")
	}
	p := pebbletest.StartValidity(t, 30*time.Second)
	const host = "mail.caucus.test"
	stored := make(chan time.Time, 10)
	m, err := tlsacme.New(tlsacme.Config{
		Hostname: host, Names: []string{host}, Contact: "admin@caucus.test",
		DirectoryURL: p.DirectoryURL, Roots: p.Roots, CacheDir: t.TempDir(),
		RenewBefore: 25 * time.Second,
		Log:         slog.New(slog.NewTextHandler(t.Output(), nil)),
		OnCertificate: func(_ context.Context, name string, notAfter time.Time) {
			select {
			case stored <- notAfter:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	p.Validate(1, ln.Addr().(*net.TCPAddr).Port) // no HTTP-01 here
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Minute}, Config: &tls.Config{ServerName: host, RootCAs: p.IssuerRoots()}}
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	first := c.(*tls.Conn).ConnectionState().PeerCertificates[0]
	c.Close()
	if got := <-stored; !got.Equal(first.NotAfter) {
		t.Fatalf("first certificate stored with expiry %v, served %v", got, first.NotAfter)
	}
	// The renewal is due 5 s after issuance (plus up to 2.5 s of jitter):
	// wait for it, bounded by the test's deadline, not by a timer.
	var renewed time.Time
	select {
	case renewed = <-stored:
	case <-t.Context().Done():
		t.Fatal("no renewal")
	}
	if !renewed.After(first.NotAfter) || !renewed.Before(first.NotAfter.Add(30*time.Second)) {
		t.Errorf("renewed certificate expires %v; first %v", renewed, first.NotAfter)
	}
	if !first.NotAfter.After(time.Now()) {
		t.Error("the certificate expired before it was renewed")
	}
	exp, err := m.Expiry(t.Context())
	if err != nil || exp.Before(renewed) {
		t.Errorf("Expiry after renewal = %v, %v; want %v or later", exp, err, renewed)
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
