package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/config"
)

// startDevWith starts the --dev server in dir with the configuration that
// change makes of the demo's, and shuts it down at the end of the test.
func startDevWith(t *testing.T, dir string, change func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Dev(dir)
	change(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen)
	var out bytes.Buffer
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

func smtpCode(err error) int {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestSMTPConfigLimits checks that each limit of the [smtp] section of the
// configuration file reaches the running servers.
func TestSMTPConfigLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startDevWith(t, dir, func(c *config.Config) {
		c.SMTP.MaxConnsPerAddr, c.SMTP.MaxMessageBytes, c.SMTP.MaxRecipients, c.SMTP.SendPerHour, c.SMTP.MaxRcptsPerMessage = 2, 100000, 100, 1, 1
	})
	a := newMailAccount(t, srv, "vol@localhost")
	tlsCfg := devTLS(t, dir)
	mx := srv.addrs["smtp"]

	// Submission: max_rcpts_per_message 1, then send_per_hour 1.
	s, err := gosmtp.DialStartTLS(srv.addrs["submission"], tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Auth(sasl.NewPlainClient("", a.login, a.secret)); err != nil {
		t.Fatal(err)
	}
	if err := s.Mail(a.login, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Rcpt("one@outside.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Rcpt("two@outside.test", nil); smtpCode(err) != 452 {
		t.Errorf("second submitted recipient: %v, want 452", err)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := s.Mail(a.login, nil); smtpCode(err) != 450 {
		t.Errorf("second message in the hour: %v, want 450", err)
	}

	// max_message_bytes is advertised (RFC 1870) and enforced.
	c, err := gosmtp.Dial(mx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "100000" {
		t.Errorf("EHLO SIZE = %v %q, want 100000", ok, size)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 100000/18+1)
	if err := c.SendMail("friend@outside.test", []string{a.login}, strings.NewReader(big)); smtpCode(err) != 552 {
		t.Errorf("message over max_message_bytes: %v, want 552", err)
	}

	// max_recipients: the 101st recipient of one message gets 452.
	if err := c.Mail("friend@outside.test", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := c.Rcpt(a.login, nil); err != nil {
			t.Fatalf("recipient %d: %v", i+1, err)
		}
	}
	if err := c.Rcpt(a.login, nil); smtpCode(err) != 452 {
		t.Errorf("recipient 101: %v, want 452", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}

	// max_conns_per_addr: with s and c open, the next connection from
	// the same address, to any SMTP port, gets 421.
	conn, err := net.DialTimeout("tcp", mx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "421 ") {
		t.Errorf("third connection: %q, want 421", line)
	}
}
