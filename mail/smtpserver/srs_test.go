package smtpserver

import (
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/srs"
)

// TestForwardSRS: outside mail forwarded to another domain leaves with a
// rewritten sender at our domain, a member's own mail keeps its sender, a
// bounce to the rewritten sender goes back to the original one, and the
// rewritten address takes nothing but bounces.
func TestForwardSRS(t *testing.T) {
	t.Parallel()
	var rw *srs.Rewriter
	e := newEnv(t, Config{}, func(e *testEnv, d *envDeps) {
		var err error
		rw, err = srs.New([]byte("a test key of at least 16 bytes"), "example-party.org", e.auth.Clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		d.Sub.SRS = rw
	})
	anna := e.member(t, "anna@example-party.org")
	if err := e.dir.SetForwarding(t.Context(), "admin", anna.Account.ID, "anna.home@elsewhere.example", false); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, e.mx, true)
	if err := send(c, "ceo@bank.example", []string{"anna@example-party.org"}, msg("ceo@bank.example", "anna@example-party.org", "hello")); err != nil {
		t.Fatal(err)
	}
	sent := e.queue.all()
	if len(sent) != 1 || sent[0].rcpts[0] != "anna.home@elsewhere.example" {
		t.Fatalf("queued: %+v", sent)
	}
	fwd := sent[0].from
	if !srs.IsSRS(fwd) || !strings.HasSuffix(fwd, "@example-party.org") {
		t.Fatalf("forwarded with sender %q, want an SRS0 address of ours", fwd)
	}
	if orig, err := rw.Reverse(fwd); err != nil || orig != "ceo@bank.example" {
		t.Fatalf("Reverse(%q) = %q, %v", fwd, orig, err)
	}

	// The forward target's server bounces it: back to the CEO.
	c.Reset()
	if err := send(c, "", []string{fwd}, msg("MAILER-DAEMON@elsewhere.example", fwd, "Undelivered Mail")); err != nil {
		t.Fatalf("bounce to %s: %v", fwd, err)
	}
	sent = e.queue.all()
	if len(sent) != 2 || sent[1].from != "" || len(sent[1].rcpts) != 1 || sent[1].rcpts[0] != "ceo@bank.example" {
		t.Fatalf("the bounce was queued as %+v, want from <> to ceo@bank.example", sent[len(sent)-1])
	}

	// Not a bounce, or not a valid address: refused, nothing queued.
	c.Reset()
	if err := send(c, "spammer@evil.example", []string{fwd}, msg("spammer@evil.example", fwd, "relay?")); code(err) != 550 {
		t.Errorf("mail with a sender to the SRS address: %v, want 550", err)
	}
	c.Reset()
	forged := strings.Replace(fwd, "=ceo@", "=victim@", 1)
	if err := send(c, "", []string{forged}, msg("x@y.example", forged, "forged")); code(err) != 550 {
		t.Errorf("bounce to a forged SRS address: %v, want 550", err)
	}
	if n := len(e.queue.all()); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}

	// A member writing to anna: forwarded under the member's own address.
	c.Reset()
	if err := send(c, "bob@example-party.org", []string{"anna@example-party.org"}, msg("bob@example-party.org", "anna@example-party.org", "inside")); err != nil {
		t.Fatal(err)
	}
	if last := e.queue.all()[2]; last.from != "bob@example-party.org" {
		t.Errorf("a member's mail forwarded with sender %q, want it unchanged", last.from)
	}
}
