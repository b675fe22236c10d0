package smtpserver

import (
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestPostmaster: postmaster takes mail from the first moment, before any
// admin has enrolled (the DMARC reports that rua=mailto:postmaster@ asks
// for must not bounce), and "RCPT TO:<Postmaster>" without a domain is
// accepted in any case (RFC 5321 sections 4.1.1.3 and 4.5.1) (issue 12
// item 16).
func TestPostmaster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	ctx := t.Context()
	if _, err := e.auth.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: "admin@example-party.org", DisplayName: "Admin", Role: auth.RoleAdmin}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	admin, err := e.auth.Auth.AccountByLogin(ctx, "admin@example-party.org")
	if err != nil || admin.State != auth.StateInvited {
		t.Fatalf("admin %+v, %v", admin, err)
	}
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.example")
	for _, rcpt := range []string{"<postmaster@example-party.org>", "<Postmaster@EXAMPLE-PARTY.ORG>", "<postmaster>", "<PostMaster>"} {
		if got := rc.cmd("MAIL FROM:<reports@dmarc.example>"); !strings.HasPrefix(got, "250") {
			t.Fatalf("MAIL: %q", got)
		}
		if got := rc.cmd("RCPT TO:" + rcpt); !strings.HasPrefix(got, "250") {
			t.Errorf("RCPT TO:%s: %q, want 250", rcpt, got)
			rc.cmd("RSET")
			continue
		}
		rc.cmd("DATA")
		if got := rc.cmd("From: reports@dmarc.example\r\nSubject: Report domain: example-party.org\r\n\r\nreport\r\n."); !strings.HasPrefix(got, "250") {
			t.Errorf("DATA to %s: %q", rcpt, got)
		}
	}
	if n := len(e.inbox(t, admin.ID)); n != 4 {
		t.Errorf("the admin's INBOX holds %d reports, want 4", n)
	}
	// Only postmaster goes without a domain.
	rc.cmd("MAIL FROM:<reports@dmarc.example>")
	if got := rc.cmd("RCPT TO:<admin>"); !strings.HasPrefix(got, "5") {
		t.Errorf("RCPT TO:<admin>: %q, want a refusal", got)
	}
}
