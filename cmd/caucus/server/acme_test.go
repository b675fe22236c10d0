package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	netsmtp "net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/tlsacme/pebbletest"
)

// TestACMEPebble starts a real caucus with a production (non-dev)
// configuration whose ACME directory is an in-process Pebble, and checks
// that a certificate Pebble issued is served on every TLS listener, with
// and without SNI: HTTPS, IMAPS, IMAP STARTTLS, SMTP STARTTLS, submission
// STARTTLS and submissions. Pebble validates over the bound ports on
// 127.0.0.1 only.
func TestACMEPebble(t *testing.T) {
	p := pebbletest.Start(t)
	const host, domain = "mail.caucus.test", "caucus.test"
	dir := t.TempDir()
	caFile := filepath.Join(dir, "acme-ca.pem")
	if err := os.WriteFile(caFile, pebbleRootsPEM(t, p), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Hostname, cfg.MailDomains, cfg.DataDir = host, []string{domain}, filepath.Join(dir, "data")
	cfg.ACMEContact, cfg.ACMEDirectory, cfg.ACMECAFile = "admin@"+domain, p.DirectoryURL, caFile
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(t.Context(), cfg, Deps{Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: io.Discard, Resolver: &dns.Mock{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	p.Validate(port(t, srv.addrs["http"]), port(t, srv.addrs["https"]))

	issued := p.IssuerRoots()
	var leafSerial string
	config := func(sni string, alpn ...string) *tls.Config {
		return &tls.Config{
			ServerName:         sni,
			NextProtos:         alpn,
			InsecureSkipVerify: true, // no SNI means no name to verify: VerifyConnection checks against host
			VerifyConnection: func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				leaf := cs.PeerCertificates[0]
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: issued, Intermediates: inter}); err != nil {
					return err
				}
				if s := leaf.SerialNumber.String(); leafSerial == "" {
					leafSerial = s
				} else if s != leafSerial {
					return fmt.Errorf("certificate serial %s, the first listener served %s", s, leafSerial)
				}
				return nil
			},
		}
	}
	implicit := func(listener string, alpn ...string) func(string) error {
		return func(sni string) error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute, Deadline: time.Now().Add(time.Minute)}, "tcp", srv.addrs[listener], config(sni, alpn...))
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	smtpStartTLS := func(listener string) func(string) error {
		return func(sni string) error {
			conn, err := net.DialTimeout("tcp", srv.addrs[listener], 10*time.Second)
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			c, err := netsmtp.NewClient(conn, host)
			if err != nil {
				return err
			}
			if err := c.StartTLS(config(sni)); err != nil {
				return err
			}
			if _, ok := c.TLSConnectionState(); !ok {
				return errors.New("no TLS after STARTTLS")
			}
			return c.Quit()
		}
	}
	imapStartTLS := func(sni string) error {
		conn, err := net.DialTimeout("tcp", srv.addrs["imap"], 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(time.Minute))
		r := bufio.NewReader(conn)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
			return fmt.Errorf("greeting %q, %v", line, err)
		}
		io.WriteString(conn, "a STARTTLS\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, "a ") {
				if !strings.HasPrefix(line, "a OK") {
					return fmt.Errorf("STARTTLS: %q", line)
				}
				break
			}
		}
		tc := tls.Client(conn, config(sni, "imap"))
		return tc.Handshake()
	}
	for _, l := range []struct {
		name string
		try  func(sni string) error
	}{
		{"https", implicit("https", "h2", "http/1.1")},
		{"imaps", implicit("imaps", "imap")},
		{"imap", imapStartTLS},
		{"smtp", smtpStartTLS("smtp")},
		{"submission", smtpStartTLS("submission")},
		{"submissions", implicit("submissions", "smtp")},
	} {
		for _, sni := range []string{host, ""} {
			if err := l.try(sni); err != nil {
				t.Errorf("%s with SNI %q: %v", l.name, sni, err)
			}
		}
	}

	// The MTA-STS policy is served under its own name with a certificate
	// for that name (RFC 8461 section 3.3).
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: issued},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.addrs["https"])
		},
	}}
	res, err := client.Get("https://mta-sts." + domain + "/.well-known/mta-sts.txt")
	if err != nil {
		t.Fatalf("MTA-STS policy: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "mx: "+host) {
		t.Errorf("MTA-STS policy: %d %q", res.StatusCode, body)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("HTTPS response without HSTS")
	}

	exp, err := srv.tls.Expiry(t.Context())
	if err != nil || exp.Before(time.Now()) {
		t.Errorf("certificate expiry for the dashboard: %v, %v", exp, err)
	}
	wantAudit(t, t.Context(), srv, "", "tls.certificate", 2) // host and mta-sts names
}

func port(t *testing.T, addr string) int {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port
}

// pebbleRootsPEM is the PEM of the certificate of Pebble's ACME endpoint,
// as an admin would write a private CA's roots to acme_ca_file.
func pebbleRootsPEM(t *testing.T, p *pebbletest.Server) []byte {
	t.Helper()
	var out []byte
	for _, der := range p.ServerCertificates() {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}
