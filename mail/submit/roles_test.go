package submit

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestRoleSendAs: mail to a role's address lands in the role's INBOX
// (from outside and from a member); a member with a send-as grant sends
// as the role, on the envelope and in From, and it is in the audit log;
// a member with a read grant only, or none, is refused on both.
func TestRoleSendAs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.svc.deps.Roles = e.store
	ctx := t.Context()
	ro, err := e.store.CreateRole(ctx, "press@example-party.org", "Press")
	if err != nil {
		t.Fatal(err)
	}
	reader := e.auth.User(t, "reader@example-party.org", auth.RoleMember).Account
	if err := e.store.SetGrant(ctx, "admin", ro.ID, e.anna.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGrant(ctx, "admin", ro.ID, reader.ID, false); err != nil {
		t.Fatal(err)
	}
	rcv := Received{Helo: "client.example", IP: net.IPv4(192, 0, 2, 1), With: "ESMTPSA"}

	// From outside, to the role (a subaddress too).
	in := e.svc.Inbound("journalist@news.example")
	for _, to := range []string{"press@example-party.org", "Press+urgent@example-party.org"} {
		if err := e.svc.InboundRcpt(ctx, in, to); err != nil {
			t.Fatalf("MX RCPT %s: %v", to, err)
		}
	}
	q := "From: journalist@news.example\r\nSubject: q\r\n\r\nA question.\r\n"
	if err := e.svc.Deliver(ctx, in, []byte(q), rcv, false); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, ro.Owner(), "INBOX"); n != 1 {
		t.Fatalf("role INBOX holds %d, want 1 (two RCPTs, one copy)", n)
	}

	// Anna, with send-as.
	who := Sender{Account: e.anna, Addr: "192.0.2.1", UserAgent: "test"}
	env, err := e.svc.Mail(ctx, who, "press@example-party.org")
	if err != nil {
		t.Fatalf("MAIL as the role with send-as: %v", err)
	}
	if err := e.svc.Rcpt(ctx, who, env, "journalist@news.example"); err != nil {
		t.Fatal(err)
	}
	ans := "From: Press office <press@example-party.org>\r\nMessage-ID: <a1@example-party.org>\r\nSubject: re\r\n\r\nAn answer.\r\n"
	if err := e.svc.Submit(ctx, who, env, header(t, ans), []byte(ans), rcv); err != nil {
		t.Fatalf("Submit as the role: %v", err)
	}
	if len(e.queue.sent) != 1 || e.queue.sent[0] != "press@example-party.org -> journalist@news.example" {
		t.Fatalf("queued %q", e.queue.sent)
	}
	recs, err := e.auth.Audit.List(ctx, audit.Filter{Kind: "role.send"})
	if err != nil || len(recs) != 1 || recs[0].Actor != e.anna.Login || recs[0].Subject != ro.Address ||
		!strings.Contains(recs[0].Detail, "a1@example-party.org") || !strings.Contains(recs[0].Detail, "journalist@news.example") {
		t.Fatalf("audit %+v, %v", recs, err)
	}

	// Anna's own envelope with the role in From is fine too; the reader
	// and a member without a grant are refused both ways.
	bob := e.auth.User(t, "bob@example-party.org", auth.RoleMember).Account
	for _, acct := range []auth.Account{reader, bob} {
		who := Sender{Account: acct, Addr: "192.0.2.2", UserAgent: "test"}
		if _, err := e.svc.Mail(ctx, who, "press@example-party.org"); !errors.Is(err, ErrSendAs) {
			t.Errorf("%s: MAIL as the role = %v, want ErrSendAs", acct.Login, err)
		}
		env, err := e.svc.Mail(ctx, who, acct.Login)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Rcpt(ctx, who, env, "journalist@news.example"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Submit(ctx, who, env, header(t, ans), []byte(ans), rcv); !errors.Is(err, ErrSendAs) {
			t.Errorf("%s: From the role = %v, want ErrSendAs", acct.Login, err)
		}
	}
	// A revoked grant is refused at once.
	if _, err := e.store.RevokeGrant(ctx, ro.ID, e.anna.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Mail(ctx, who, "press@example-party.org"); !errors.Is(err, ErrSendAs) {
		t.Errorf("after revoke: %v, want ErrSendAs", err)
	}
}

// TestRoleOwnLogin: a person whose login is also a role's address (made
// before the person was invited) still sends as their own login.
func TestRoleOwnLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.svc.deps.Roles = e.store
	ctx := t.Context()
	if _, err := e.store.CreateRole(ctx, "anna@example-party.org", ""); err != nil {
		t.Fatal(err)
	}
	who := Sender{Account: e.anna, Addr: "192.0.2.1", UserAgent: "test"}
	if _, err := e.svc.Mail(ctx, who, e.anna.Login); err != nil {
		t.Fatalf("MAIL FROM own login shadowed by a role: %v", err)
	}
}

// TestRoleSendAuditBounded: the role.send record names at most
// maxAuditRcpts recipients and counts the rest.
func TestRoleSendAuditBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.svc.deps.Roles = e.store
	ctx := t.Context()
	ro, err := e.store.CreateRole(ctx, "press@example-party.org", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGrant(ctx, "admin", ro.ID, e.anna.ID, true); err != nil {
		t.Fatal(err)
	}
	who := Sender{Account: e.anna, Addr: "192.0.2.1", UserAgent: "test"}
	env, err := e.svc.Mail(ctx, who, ro.Address)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxAuditRcpts + 5 {
		if err := e.svc.Rcpt(ctx, who, env, fmt.Sprintf("r%d@news.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	msg := "From: press@example-party.org\r\nMessage-ID: <b@example-party.org>\r\n\r\nHi.\r\n"
	if err := e.svc.Submit(ctx, who, env, header(t, msg), []byte(msg), Received{Helo: "c", IP: net.IPv4(192, 0, 2, 1), With: "ESMTPSA"}); err != nil {
		t.Fatal(err)
	}
	recs, err := e.auth.Audit.List(ctx, audit.Filter{Kind: "role.send"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit %+v, %v", recs, err)
	}
	if d := recs[0].Detail; strings.Count(d, "@news.example") != maxAuditRcpts || !strings.HasSuffix(d, "(+5)") {
		t.Fatalf("detail %q", d)
	}
}
