package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
)

// TestSilentClientsStallNoPort is issue 12 item 3 on every port caucus
// listens on: connections that say nothing (more than the per-address
// limit allows, on the mail ports) do not delay another client's first
// answer, which arrives while the silent ones are still held open.
func TestSilentClientsStallNoPort(t *testing.T) {
	t.Parallel()
	srv := startDevWith(t, t.TempDir(), func(c *config.Config) { c.SMTP.MaxConnsPerAddr = 2 })
	for _, tc := range []struct {
		listener string
		silent   int // the limit and 4 more
		tls      bool
		want     string
	}{
		{"smtp", 2 + 4, false, "220 "},
		{"submission", 2 + 4, false, "220 "},
		{"submissions", 2 + 4, true, "220 "},
		{"imap", 50 + 4, false, "* OK"},
		{"imaps", 50 + 4, true, "* OK"},
		{"https", 6, true, "HTTP/1.1 "},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			addr := srv.addrs[tc.listener]
			var silent []net.Conn
			for range tc.silent {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				silent = append(silent, c)
			}
			// Another client: 127.0.0.2 is loopback, but another address.
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Minute}
			var c net.Conn
			var err error
			if tc.tls {
				cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} // loopback, the dev certificate
				if tc.listener == "https" {
					cfg.NextProtos = []string{"http/1.1"}
				}
				c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
			} else {
				c, err = d.Dial("tcp", addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.listener == "https" {
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			}
			c.SetReadDeadline(time.Now().Add(time.Minute))
			line, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.HasPrefix(line, tc.want) {
				t.Fatalf("other client: %q, want %q…", line, tc.want)
			}
			for i, s := range silent {
				if !notRefused(s) {
					t.Errorf("silent connection %d was refused or closed before the other client got its answer", i+1)
				}
			}
		})
	}
}

// notRefused reports whether the server has neither refused (421, BYE) nor
// closed c; a greeting is fine. A short poll, not a timing assertion: a
// closed socket answers at once.
func notRefused(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if n > 0 {
		return !strings.HasPrefix(string(buf[:n]), "421") && !strings.Contains(string(buf[:n]), "BYE")
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
