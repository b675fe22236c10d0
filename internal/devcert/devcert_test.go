package devcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// now is a fixed moment, so tests do not depend on the clock; certificates
// are checked against it, never against time.Now.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func paths(t *testing.T) (certFile, keyFile string) {
	dir := filepath.Join(t.TempDir(), "data")
	return filepath.Join(dir, "dev-cert.pem"), filepath.Join(dir, "dev-key.pem")
}

func ensure(t *testing.T, certFile, keyFile string, at time.Time) tls.Certificate {
	t.Helper()
	cert, err := Ensure(certFile, keyFile, at)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return cert
}

func TestEnsureCreates(t *testing.T) {
	t.Parallel()
	certFile, keyFile := paths(t)
	cert := ensure(t, certFile, keyFile, now)

	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{certFile, 0o644}, {keyFile, 0o600}, {filepath.Dir(certFile), 0o700 | os.ModeDir}} {
		fi, err := os.Stat(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, fi.Mode(), f.mode)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(certFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the 2 files (no temporary files)", len(entries))
	}

	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}
	if leaf.Subject.CommonName != "caucus dev" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" {
		t.Errorf("DNS names %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", leaf.IPAddresses)
	}
	if !leaf.NotBefore.Equal(now.Add(-time.Hour)) || !leaf.NotAfter.Equal(now.Add(397*24*time.Hour)) {
		t.Errorf("valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if !leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Error("not a CA certificate")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign {
		t.Errorf("key usage %v", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("extended key usage %v", leaf.ExtKeyUsage)
	}
	if bits := leaf.SerialNumber.BitLen(); bits > 128 || bits < 100 {
		t.Errorf("serial number of %d bits", bits)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if err := leaf.CheckSignatureFrom(leaf); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
}

func TestEnsureReuses(t *testing.T) {
	t.Parallel()
	certFile, keyFile := paths(t)
	first := ensure(t, certFile, keyFile, now)
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)

	// A later start, still more than 30 days before the end.
	second := ensure(t, certFile, keyFile, now.Add(300*24*time.Hour))
	if !bytes.Equal(first.Certificate[0], second.Certificate[0]) {
		t.Error("second call made a new certificate")
	}
	if b, _ := os.ReadFile(certFile); !bytes.Equal(b, certPEM) {
		t.Error("certificate file rewritten")
	}
	if b, _ := os.ReadFile(keyFile); !bytes.Equal(b, keyPEM) {
		t.Error("key file rewritten")
	}
}

func TestEnsureReplaces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		at    time.Time                            // when the second call runs
		spoil func(certFile, keyFile string) error // done before it
	}{
		{"within 30 days of the end", now.Add(367 * 24 * time.Hour), nil},
		{"expired", now.Add(400 * 24 * time.Hour), nil},
		{"not yet valid", now.Add(-2 * time.Hour), nil},
		{"certificate missing", now, func(c, k string) error { return os.Remove(c) }},
		{"key missing", now, func(c, k string) error { return os.Remove(k) }},
		{"certificate garbage", now, func(c, k string) error { return os.WriteFile(c, []byte("garbage"), 0o644) }},
		{"key from elsewhere", now, func(c, k string) error {
			other := filepath.Join(filepath.Dir(k), "other")
			if _, err := Ensure(other+"-cert.pem", other+"-key.pem", now); err != nil {
				return err
			}
			return os.Rename(other+"-key.pem", k)
		}},
		{"certificate too large", now, func(c, k string) error {
			return os.WriteFile(c, bytes.Repeat([]byte("x"), maxFileSize+1), 0o644)
		}},
		{"not for localhost", now, func(c, k string) error {
			certPEM, keyPEM, err := generateFor(now, "example.org")
			if err != nil {
				return err
			}
			if err := os.WriteFile(c, certPEM, 0o644); err != nil {
				return err
			}
			return os.WriteFile(k, keyPEM, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			certFile, keyFile := paths(t)
			first := ensure(t, certFile, keyFile, now)
			if tc.spoil != nil {
				if err := tc.spoil(certFile, keyFile); err != nil {
					t.Fatal(err)
				}
			}
			second := ensure(t, certFile, keyFile, tc.at)
			if bytes.Equal(first.Certificate[0], second.Certificate[0]) {
				t.Fatal("certificate not replaced")
			}
			if !second.Leaf.NotBefore.Equal(tc.at.Add(-time.Hour)) {
				t.Errorf("new certificate valid from %v, want %v", second.Leaf.NotBefore, tc.at.Add(-time.Hour))
			}
			// The files now hold the new certificate: a third call keeps it.
			third := ensure(t, certFile, keyFile, tc.at)
			if !bytes.Equal(second.Certificate[0], third.Certificate[0]) {
				t.Error("replacement not kept")
			}
		})
	}
}

// generateFor makes a certificate like generate's but for other names.
func generateFor(at time.Time, dnsName string) (certPEM, keyPEM []byte, err error) {
	certPEM, keyPEM, err = generate(at)
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	// Re-sign a copy of the template with the other name and no IPs.
	tmpl := *cert.Leaf
	tmpl.DNSNames = []string{dnsName}
	tmpl.IPAddresses = nil
	der, err := x509.CreateCertificate(nil, &tmpl, &tmpl, cert.Leaf.PublicKey, cert.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func TestEnsureReadError(t *testing.T) {
	t.Parallel()
	certFile, keyFile := paths(t)
	ensure(t, certFile, keyFile, now)
	// A directory where the key should be cannot be read: Ensure must
	// report it, not replace it.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(keyFile, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(certFile, keyFile, now); err == nil {
		t.Fatal("Ensure with a directory as key file = nil error")
	}
	if fi, err := os.Stat(keyFile); err != nil || !fi.IsDir() {
		t.Errorf("key directory replaced: %v", err)
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	certFile, keyFile := paths(t)
	cert := ensure(t, certFile, keyFile, time.Now())
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := handshake(t, cert, name); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("other name", func(t *testing.T) {
		t.Parallel()
		var hostErr x509.HostnameError
		if err := handshake(t, cert, "example.org"); !errors.As(err, &hostErr) {
			t.Fatalf("handshake for example.org = %v, want a HostnameError", err)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		other := ensure(t, filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem"), time.Now())
		var unknown x509.UnknownAuthorityError
		if err := handshakeWithRoots(t, cert, Pool(other), "localhost"); !errors.As(err, &unknown) {
			t.Fatalf("handshake with another dev certificate as root = %v, want UnknownAuthorityError", err)
		}
	})
}

// TestHandshakeListener dials a real 127.0.0.1 listener, as the dev server's
// tests will.
func TestHandshakeListener(t *testing.T) {
	t.Parallel()
	certFile, keyFile := paths(t)
	cert := ensure(t, certFile, keyFile, time.Now())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "ok")
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: Pool(cert), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil || string(b) != "ok" {
		t.Errorf("read %q, %v", b, err)
	}
}

func handshake(t *testing.T, cert tls.Certificate, serverName string) error {
	return handshakeWithRoots(t, cert, Pool(cert), serverName)
}

// handshakeWithRoots runs a TLS handshake over a 127.0.0.1 connection
// between a server with cert and a client that trusts roots and asks for
// serverName. It returns the client's error. (Over net.Pipe, which has no
// buffer, a client that rejects the certificate blocks sending its alert
// while the server blocks sending the rest of its flight.)
func handshakeWithRoots(t *testing.T, cert tls.Certificate, roots *x509.CertPool, serverName string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(deadline)
		tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	err = tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: serverName}).Handshake()
	conn.Close()
	<-done
	return err
}

func TestPool(t *testing.T) {
	t.Parallel()
	if !Pool(tls.Certificate{}).Equal(x509.NewCertPool()) {
		t.Error("Pool of an empty certificate is not empty")
	}
	certFile, keyFile := paths(t)
	cert := ensure(t, certFile, keyFile, now)
	cert.Leaf = nil // Pool must parse the DER itself.
	if !Pool(cert).Equal(Pool(ensure(t, certFile, keyFile, now))) {
		t.Error("Pool without Leaf differs from Pool with Leaf")
	}
}
