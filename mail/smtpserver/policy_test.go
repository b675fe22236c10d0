package smtpserver

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// TestInboundPolicy runs the MX with the real checks against a fake DNS:
// DMARC p=reject failures are refused, p=quarantine ones filed in Junk,
// impersonation of a member is tagged,
// and every stored message carries Authentication-Results.
func TestInboundPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	mock := &dns.Mock{TXT: map[string][]string{
		"bank.example":        {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.bank.example": {"v=DMARC1; p=reject"},
		"gmail.example":       {"v=spf1 ip4:127.0.0.0/8 -all"},
		"shop.example":        {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.shop.example": {"v=DMARC1; p=quarantine"},
	}}
	e.srv.deps.Inbound = Checks{Checker: msgauth.NewChecker(mock, "mx.example-party.org", nil), Dir: e.dir, Hostname: "mx.example-party.org"}
	leader := e.auth.User(t, "leader@example-party.org", auth.RoleMember)
	if leader.Account.DisplayName == "" {
		t.Fatal("no display name")
	}
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.mx, true)

	// Forged mail from a p=reject domain: refused with 550.
	if err := send(c, "ceo@bank.example", []string{"anna@example-party.org"}, msg("CEO <ceo@bank.example>", "anna@example-party.org", "wire transfer")); code(err) != 550 {
		t.Errorf("DMARC reject: %v, want 550", err)
	}
	// Forged mail from a p=quarantine domain: accepted into Junk.
	c.Reset()
	if err := send(c, "news@shop.example", []string{"anna@example-party.org"}, msg("Shop <news@shop.example>", "anna@example-party.org", "your order")); err != nil {
		t.Errorf("DMARC quarantine: %v, want accepted", err)
	}
	if junk := e.mailbox(t, anna.Account.ID, "Junk"); len(junk) != 1 || !strings.Contains(junk[0], "dmarc=fail") {
		t.Errorf("Junk holds %d messages, want the quarantined one with dmarc=fail: %q", len(junk), junk)
	}
	// The leader's name from an outside address: stored, tagged.
	c.Reset()
	from := leader.Account.DisplayName + " <leader.party@gmail.example>"
	if err := send(c, "leader.party@gmail.example", []string{"anna@example-party.org"}, msg(from, "anna@example-party.org", "urgent favour")); err != nil {
		t.Fatalf("impersonation delivery: %v", err)
	}
	got := e.inbox(t, anna.Account.ID)
	if len(got) != 1 {
		t.Fatalf("inbox holds %d messages, want 1", len(got))
	}
	m := got[0]
	if !strings.Contains(m, "Subject: [External] urgent favour") || !strings.Contains(m, "X-Caucus-Warning:") {
		t.Errorf("impersonating message not tagged:\n%s", m[:min(len(m), 800)])
	}
	if !strings.Contains(m, "Authentication-Results: mx.example-party.org") || !strings.Contains(m, "spf=pass") {
		t.Errorf("no Authentication-Results with spf=pass:\n%s", m[:min(len(m), 800)])
	}
}

// TestForgedAuthResultsRemoved: a sender cannot pass off its own
// Authentication-Results under our name, nor smuggle a header line into
// ours.
func TestForgedAuthResultsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.srv.deps.Inbound = Checks{Checker: msgauth.NewChecker(&dns.Mock{}, "mx.example-party.org", nil), Dir: e.dir, Hostname: "mx.example-party.org"}
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.mx, true)
	forged := "Authentication-Results: mx.example-party.org; dkim=pass header.d=example-party.org\r\n" + msg("x@outside.example", "anna@example-party.org", "forged results")
	if err := send(c, "x@outside.example", []string{"anna@example-party.org"}, forged); err != nil {
		t.Fatal(err)
	}
	got := e.inbox(t, anna.Account.ID)
	if len(got) != 1 || strings.Count(got[0], "Authentication-Results: mx.example-party.org") != 1 || strings.Contains(got[0], "dkim=pass") {
		t.Errorf("stored message keeps the forged results:\n%s", got[0])
	}
}

// blockList is a Blocklist of fixed entries.
type blockList []string

func (b blockList) Blocked(_ context.Context, addrs ...string) (string, bool, error) {
	for _, a := range addrs {
		a = strings.ToLower(a)
		for _, e := range b {
			if a == e || (strings.HasPrefix(e, "@") && strings.HasSuffix(a, e)) {
				return e, true, nil
			}
		}
	}
	return "", false, nil
}

// TestBlockedSender: after an admin blocks a phisher (mail/phish), the MX
// refuses their mail with 550 whether the block names the envelope
// sender, the From of the header, or the whole domain; others still
// deliver.
func TestBlockedSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	mock := &dns.Mock{TXT: map[string][]string{"gmail.example": {"v=spf1 ip4:127.0.0.0/8 -all"}}}
	e.srv.deps.Inbound = Checks{Checker: msgauth.NewChecker(mock, "mx.example-party.org", nil), Dir: e.dir, Hostname: "mx.example-party.org",
		Blocked: blockList{"phisher@gmail.example", "@evil.example"}}
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.mx, true)
	for _, tc := range []struct{ mailFrom, from string }{
		{"phisher@gmail.example", "Leader <other@gmail.example>"},
		{"bounce@gmail.example", "Leader <Phisher@gmail.example>"},
		{"x@evil.example", "Leader <friend@gmail.example>"},
	} {
		c.Reset()
		if err := send(c, tc.mailFrom, []string{"anna@example-party.org"}, msg(tc.from, "anna@example-party.org", "hi")); code(err) != 550 {
			t.Errorf("MAIL FROM %s, From %s: %v, want 550", tc.mailFrom, tc.from, err)
		}
	}
	c.Reset()
	if err := send(c, "friend@gmail.example", []string{"anna@example-party.org"}, msg("Friend <friend@gmail.example>", "anna@example-party.org", "hi")); err != nil {
		t.Errorf("an unblocked sender: %v", err)
	}
	if got := e.inbox(t, anna.Account.ID); len(got) != 1 {
		t.Errorf("inbox holds %d messages, want only the unblocked one", len(got))
	}
}

// askedBlockList is a blockList that records the addresses it is asked.
type askedBlockList struct {
	blockList
	mu    sync.Mutex
	asked []string
}

func (b *askedBlockList) Blocked(ctx context.Context, addrs ...string) (string, bool, error) {
	b.mu.Lock()
	b.asked = append(b.asked, addrs...)
	b.mu.Unlock()
	return b.blockList.Blocked(ctx, addrs...)
}

// TestBlockedAsksOnce: the block list is asked once for an address that
// is both the envelope sender and the header's From (the usual case),
// whatever their case: each address asked is a database query per
// message (a round trip on PostgreSQL).
func TestBlockedAsksOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	mock := &dns.Mock{TXT: map[string][]string{"gmail.example": {"v=spf1 ip4:127.0.0.0/8 -all"}}}
	bl := &askedBlockList{blockList: blockList{"@evil.example"}}
	e.srv.deps.Inbound = Checks{Checker: msgauth.NewChecker(mock, "mx.example-party.org", nil), Dir: e.dir, Hostname: "mx.example-party.org", Blocked: bl}
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.mx, true)
	if err := send(c, "friend@gmail.example", []string{"anna@example-party.org"}, msg("Friend <Friend@Gmail.example>", "anna@example-party.org", "hi")); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(t, anna.Account.ID); len(got) != 1 {
		t.Errorf("inbox holds %d messages, want 1", len(got))
	}
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if len(bl.asked) != 1 {
		t.Errorf("block list asked for %q, want the sender once", bl.asked)
	}
}
