package tlsacme_test

import (
	"crypto/tls"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/tlsacme"
)

// TestTicketLifetimeAtMostADay reads, as OpenSSL's s_client (what TLS
// scanners such as testssl.sh run) receives them, the session tickets of
// the web configuration and of a mail protocol's: none may announce a
// lifetime above a day (issue 21: crypto/tls announces 7 days for every
// TLS 1.3 ticket, RFC 8446 section 4.6.1, and no setting changes it), and
// TLS 1.2 still gets its ticket, with no lifetime hint (RFC 5077 section
// 3.3: 0, unspecified), which the keys' rotation ends within a day
// (TestSessionTicketRotation).
func TestTicketLifetimeAtMostADay(t *testing.T) {
	t.Parallel()
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	cert, err := devcert.Ensure(certFile, keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := tlsacme.Fixed("localhost", cert)
	configs := map[string]*tls.Config{
		"web":  m.TLSConfig(),
		"imap": tlsacme.ForProtocol(m.TLSConfig(), "imap"),
		"smtp": tlsacme.ForProtocol(m.TLSConfig()),
	}
	hint := regexp.MustCompile(`session ticket lifetime hint: (\d+)`)
	for name, cfg := range configs {
		addr := serveOneByte(t, cfg)
		for _, version := range []string{"-tls1_2", "-tls1_3"} {
			cmd := exec.Command(openssl, "s_client", "-connect", addr, "-servername", "localhost",
				"-CAfile", certFile, "-verify_return_error", version, "-ign_eof")
			cmd.Stdin = nil // EOF at once; -ign_eof waits for the server to close
			cmd.WaitDelay = 10 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: openssl: %v\n%s", name, version, err, out)
			}
			tickets := regexp.MustCompile(`TLS session ticket:`).FindAll(out, -1)
			for _, m := range hint.FindAllSubmatch(out, -1) {
				if s, _ := strconv.Atoi(string(m[1])); s > 24*60*60 {
					t.Errorf("%s %s: a ticket announces a lifetime of %d s, more than a day", name, version, s)
				}
			}
			if version == "-tls1_2" && len(tickets) == 0 {
				t.Errorf("%s %s: no session ticket (TLS 1.2 resumption is kept)", name, version)
			}
			if t.Failed() {
				t.Logf("%s", out)
				return
			}
		}
	}
}

// serveOneByte serves cfg on 127.0.0.1: each connection gets one byte
// after its handshake (so that TLS 1.3 tickets, sent after it, are read)
// and is closed.
func serveOneByte(t *testing.T, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte{'.'})
			}()
		}
	}()
	return ln.Addr().String()
}

// TestForProtocolALPN checks that a mail listener's configuration from
// ForProtocol negotiates its own ALPN name and refuses the web's, also
// over TLS 1.3, whose clients get a configuration of their own.
func TestForProtocolALPN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := devcert.Ensure(dir+"/c.pem", dir+"/k.pem", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := tlsacme.Fixed("localhost", cert)
	addr := serveOneByte(t, tlsacme.ForProtocol(m.TLSConfig(), "imap"))
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		dial := func(proto string) (string, error) {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{
				RootCAs: devcert.Pool(cert), ServerName: "localhost", MinVersion: version, MaxVersion: version,
				NextProtos: []string{proto}})
			if err != nil {
				return "", err
			}
			defer c.Close()
			return c.ConnectionState().NegotiatedProtocol, nil
		}
		if got, err := dial("imap"); err != nil || got != "imap" {
			t.Errorf("version %x: ALPN imap: negotiated %q, %v", version, got, err)
		}
		if got, err := dial("h2"); err == nil {
			t.Errorf("version %x: ALPN h2 accepted by the IMAP configuration (negotiated %q)", version, got)
		}
	}
}
