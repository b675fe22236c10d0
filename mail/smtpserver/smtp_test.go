package smtpserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/submit"
)

func code(err error) int {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func send(c *gosmtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// TestMXAcceptsOnlyOurAddresses: mail for members is stored (with a
// Received header and the inbound checks' results) before 250; unknown
// addresses and other domains are refused at RCPT: never an open relay.
func TestMXAcceptsOnlyOurAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.mx, true)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("the MX offers AUTH")
	}
	if err := send(c, "someone@outside.example", []string{"anna@example-party.org"}, msg("someone@outside.example", "anna@example-party.org", "hello")); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	got := e.inbox(t, anna.Account.ID)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Received: from client.example") || !strings.Contains(got[0], "Authentication-Results: test") {
		t.Fatalf("stored: %q", got)
	}
	for _, tc := range []struct {
		rcpt string
		code int
	}{
		{"nobody@example-party.org", 550},
		{"victim@gmail.com", 550},
		{"anna@example-party.org.evil.example", 550},
	} {
		c.Reset()
		c.Mail("someone@outside.example", nil)
		if err := c.Rcpt(tc.rcpt, nil); code(err) != tc.code {
			t.Errorf("RCPT %s: %v, want %d", tc.rcpt, err, tc.code)
		}
	}
	// Refused by policy (as DMARC p=reject would).
	c.Reset()
	if err := send(c, "x@outside.example", []string{"anna@example-party.org"}, msg("x@outside.example", "anna@example-party.org", "REJECTME")); code(err) != 550 {
		t.Errorf("policy refusal: %v, want 550", err)
	}
	if n := len(e.inbox(t, anna.Account.ID)); n != 1 {
		t.Errorf("%d messages stored after a refusal, want 1", n)
	}
}

func TestMXLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxMessageBytes: 2000, MaxRecipients: 2, MaxLineLength: 1000, MaxConnsPerAddr: 3})
	e.member(t, "anna@example-party.org")
	e.member(t, "bob@example-party.org")
	e.member(t, "cem@example-party.org")
	c := e.dial(t, e.mx, true)
	big := msg("x@outside.example", "anna@example-party.org", "big") + strings.Repeat("0123456789\r\n", 300)
	if err := send(c, "x@outside.example", []string{"anna@example-party.org"}, big); code(err) != 552 {
		t.Errorf("oversized message: %v, want 552", err)
	}
	c.Reset()
	c.Mail("x@outside.example", nil)
	c.Rcpt("anna@example-party.org", nil)
	c.Rcpt("bob@example-party.org", nil)
	if err := c.Rcpt("cem@example-party.org", nil); code(err) != 452 {
		t.Errorf("third recipient: %v, want 452", err)
	}
	c.Reset()
	if err := c.Mail("x@outside.example"+strings.Repeat("y", 1100), nil); code(err) != 500 && code(err) != 501 {
		t.Errorf("over-long line: %v, want 500", err)
	}
	// Connections per address: the 4th gets 421.
	e = newEnv(t, Config{MaxConnsPerAddr: 3})
	for range 3 {
		e.dial(t, e.mx, false)
	}
	raw, err := net.Dial("tcp", e.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(raw).ReadString('\n')
	if !strings.HasPrefix(line, "421") {
		t.Errorf("4th connection: %q, want 421", line)
	}
}

// TestSubmission: AUTH only after TLS and only with a mail app password;
// the sender must be an address the account may use.
func TestSubmission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	anna := e.member(t, "anna@example-party.org")
	bob := e.member(t, "bob@example-party.org")
	if err := e.auth.Auth.AddToGroup(t.Context(), "", "press", anna.Account.ID); err != nil {
		t.Fatal(err)
	}
	plain := e.dial(t, e.sub, false)
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := plain.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err == nil {
		t.Error("AUTH accepted before STARTTLS")
	}
	if err := plain.Mail("anna@example-party.org", nil); code(err) != 530 {
		t.Errorf("MAIL without AUTH: %v, want 530", err)
	}
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.Password)); code(err) != 535 {
		t.Errorf("account password: %v, want 535", err)
	}
	c = e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewLoginClient(anna.Account.Login, anna.secret)); err != nil {
		t.Fatalf("AUTH LOGIN with app password: %v", err)
	}
	// Sender checks: envelope and header.
	if err := c.Mail("leader@example-party.org", nil); code(err) != 553 {
		t.Errorf("MAIL FROM another member: %v, want 553", err)
	}
	c.Reset()
	if err := send(c, "anna@example-party.org", []string{"bob@example-party.org"}, msg("Party Leader <leader@example-party.org>", "bob@example-party.org", "forged")); code(err) != 550 {
		t.Errorf("From header of another address: %v, want 550", err)
	}
	c.Reset()
	if err := send(c, "press@example-party.org", []string{"bob@example-party.org", "journalist@newspaper.example"}, msg("Press <press@example-party.org>", "journalist@newspaper.example", "statement")); err != nil {
		t.Fatalf("send as own group: %v", err)
	}
	if got := e.inbox(t, bob.Account.ID); len(got) != 1 || !strings.Contains(got[0], "with ESMTPSA") {
		t.Errorf("bob's inbox: %q", got)
	}
	q := e.queue.all()
	if len(q) != 1 || q[0].from != "press@example-party.org" || len(q[0].rcpts) != 1 || q[0].rcpts[0] != "journalist@newspaper.example" {
		t.Errorf("queued: %+v", q)
	}
	recs, _ := e.auth.Audit.List(t.Context(), audit.Filter{Kind: "smtp.sender-refused"})
	if len(recs) != 2 {
		t.Errorf("%d sender refusals audited, want 2", len(recs))
	}
	// Implicit TLS port.
	c2, err := gosmtp.DialTLS(e.subs, e.tls())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatalf("AUTH on 465: %v", err)
	}
}

func TestSubmissionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withSubmitConfig(submit.Config{SendPerHour: 3, MaxRcptsPerMessage: 2}))
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	c.Mail("anna@example-party.org", nil)
	c.Rcpt("a@outside.example", nil)
	c.Rcpt("b@outside.example", nil)
	if err := c.Rcpt("c@outside.example", nil); code(err) != 452 {
		t.Errorf("third recipient: %v, want 452", err)
	}
	c.Reset()
	for i := range 2 {
		if err := send(c, "anna@example-party.org", []string{"a@outside.example"}, msg("anna@example-party.org", "a@outside.example", fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Mail("anna@example-party.org", nil); code(err) != 450 {
		t.Errorf("4th message in an hour: %v, want 450", err)
	}
	recs, _ := e.auth.Audit.List(t.Context(), audit.Filter{Kind: "smtp.rate-limited"})
	if len(recs) != 2 {
		t.Errorf("%d rate-limit refusals audited, want 2", len(recs))
	}
	e.auth.Clock.Advance(time.Hour)
	c.Reset()
	if err := c.Mail("anna@example-party.org", nil); err != nil {
		t.Errorf("after an hour: %v", err)
	}
}

// TestSubmissionRevoked: revoking the app password cancels a live
// submission connection before the revocation returns; the client then
// finds it closed.
func TestSubmissionRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if n := e.auth.Auth.Hub().Live(anna.Account.ID); n != 1 {
		t.Fatalf("%d live connections before the revocation, want 1", n)
	}
	if _, err := e.auth.Auth.Revoke(t.Context(), "admin@example-party.org", anna.Account.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if n := e.auth.Auth.Hub().Live(anna.Account.ID); n != 0 {
		t.Errorf("%d live connections when the revocation returned, want none", n)
	}
	start := time.Now()
	deadline := start.Add(10 * time.Second) // a hang, not a timing assertion
	for {
		if err := c.Noop(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("submission connection still usable after revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("submission connection closed %v after revocation", time.Since(start))
}
