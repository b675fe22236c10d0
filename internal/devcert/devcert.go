// Package devcert makes and keeps the self-signed certificate the --dev demo
// serves, so a browser warning is accepted once and stays valid across
// restarts.
//
// The certificate (RFC 5280) is its own root: it is a CA certificate for
// localhost, 127.0.0.1 and ::1 with an ECDSA P-256 key, so a test client
// trusts it through [Pool] and a person can add it to a browser's or a mail
// app's trusted roots once. [Ensure] keeps it as long as it has more than 30
// days to run, and otherwise replaces it.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/caucus-org/caucus/internal/fsutil"
)

const (
	// validity is how long a new certificate runs: the 397 days browsers
	// accept for a server certificate (CA/Browser Forum Baseline
	// Requirements 6.3.2).
	validity = 397 * 24 * time.Hour
	// renewBefore is how long before its end a certificate is replaced.
	renewBefore = 30 * 24 * time.Hour
	// maxFileSize bounds the certificate and key files read.
	maxFileSize = 64 << 10
)

// names are the names the certificate must be valid for.
var names = []string{"localhost", "127.0.0.1", "::1"}

// Ensure returns the development certificate kept in certFile and keyFile.
// When both files hold a matching certificate and key, valid at now for
// localhost, 127.0.0.1 and ::1, trusted as its own root, and not ending
// within 30 days of now, it returns that certificate unchanged. Otherwise
// (files missing, unreadable as PEM, not matching, expiring) it makes a new
// key and certificate, writes them (key 0600, certificate 0644, each through
// a temporary file, fsync and rename; the directory is created 0700 if
// missing) and returns them. An error reading an existing file, other than
// its absence, is returned rather than overwriting the file.
//
// The returned certificate has Leaf set.
func Ensure(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	certPEM, certErr := readFile(certFile)
	keyPEM, keyErr := readFile(keyFile)
	for _, err := range []error{certErr, keyErr} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("devcert: %w", err)
		}
	}
	if certErr == nil && keyErr == nil {
		if cert, err := tls.X509KeyPair(certPEM, keyPEM); err == nil && usable(cert, now) {
			return cert, nil
		}
	}

	certPEM, keyPEM, err := generate(now)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devcert: new certificate: %w", err)
	}
	// The key first: a crash between the two leaves a key that does not
	// match the certificate, which the next call replaces.
	if err := fsutil.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := fsutil.WriteFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// Pool returns a certificate pool that holds cert's leaf certificate, for
// clients (tests) that dial the dev server. It is empty when cert holds no
// parsable certificate.
func Pool(cert tls.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf != nil {
		pool.AddCert(leaf)
	}
	return pool
}

// usable reports whether cert is valid at now for every name, as its own
// root, and runs for more than renewBefore after now.
func usable(cert tls.Certificate, now time.Time) bool {
	leaf := cert.Leaf
	if leaf == nil || len(cert.Certificate) != 1 {
		return false
	}
	if !now.Add(renewBefore).Before(leaf.NotAfter) {
		return false
	}
	for _, name := range names {
		_, err := leaf.Verify(x509.VerifyOptions{
			DNSName:     name,
			Roots:       Pool(cert),
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return false
		}
	}
	return true
}

// generate makes a new key and self-signed certificate, PEM-encoded.
func generate(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: serial: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "caucus dev"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// readFile reads a file of at most maxFileSize bytes.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, nil // too large to be ours: to be replaced
	}
	return data, nil
}
