package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/testtool"
)

// roleImaplibScript checks a role mailbox with Python's imaplib.
// Arguments: host, IMAPS port, CA file, login, app password, role
// address, mode: "read" (granted with send-as: reads the role's INBOX in
// the shared namespace), "revoked" (signs in, sees no role mailbox) or
// "offboarded" (cannot sign in). It prints "ok" or what failed.
const roleImaplibScript = `
import imaplib, re, ssl, sys, traceback

host, port, cafile, user, pw, role, mode = sys.argv[1:8]
inbox = 'Shared/%s/INBOX' % role

def check(cond, what):
    if not cond:
        raise AssertionError(what)

def ok(res, what):
    typ, data = res
    check(typ == 'OK', '%s: %s %r' % (what, typ, data))
    return data

def main():
    ctx = ssl.create_default_context(cafile=cafile)
    M = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
    if mode == 'offboarded':
        try:
            M.login(user, pw)
        except imaplib.IMAP4.error:
            return
        raise AssertionError('an offboarded member signed in')
    ok(M.login(user, pw), 'LOGIN')
    ns = ok(M.namespace(), 'NAMESPACE')[0]
    check(b'"Shared/"' in ns, 'no shared namespace in %r' % ns)
    names = [l.decode() for l in ok(M.list('""', 'Shared/*'), 'LIST') if l]
    if mode == 'revoked':
        check(not any(role in n for n in names), 'role mailbox still listed: %r' % names)
        typ, data = M.select(inbox)
        check(typ == 'NO' and b'NONEXISTENT' in data[0], 'SELECT after revoke: %s %r' % (typ, data))
        return
    check(any(n.endswith('"%s"' % inbox) or n.endswith(' ' + inbox) for n in names), 'role INBOX not listed: %r' % names)
    n = int(ok(M.select(inbox), 'SELECT role INBOX')[0])
    check(n == 1, 'role INBOX holds %d, want 1' % n)
    data = ok(M.fetch('1', '(FLAGS BODY[])'), 'FETCH')
    check(b'Interview request' in data[0][1], 'FETCH BODY[]: %r' % (data,))
    rights = ok(M.myrights(inbox), 'MYRIGHTS')[0]
    check(b'lrsip' in rights, 'MYRIGHTS %r, want lrsip (read and send-as)' % rights)
    typ, data = M.store('1', '+FLAGS', '(\\Flagged)')
    check(typ == 'NO', 'STORE \\Flagged in a role mailbox: %s %r' % (typ, data))
    typ, data = M.setacl(inbox, 'mallory@example.org', 'lrswipkxtea')
    check(typ == 'NO', 'SETACL by a member: %s %r' % (typ, data))
    check(M.logout()[0] == 'BYE', 'LOGOUT')

try:
    main()
except Exception:
    traceback.print_exc(file=sys.stdout)
    sys.exit(1)
print('ok')
`

// TestRoleMailboxes runs a role mailbox end to end on the --dev server:
// made and granted with `caucus admin`, mail from outside delivered to
// it, read by a granted member with Python's imaplib, sent as through
// submission with send-as (and refused without), revoked (imaplib sees it
// no more), and taken away by offboarding in the same step as the rest,
// which the report lists; reads and sends are in the audit log.
func TestRoleMailboxes(t *testing.T) {
	t.Parallel()
	python := testtool.Need(t, "python3")
	srv, dir := startMailDev(t)
	ctx := t.Context()
	domain := srv.cfg.MailDomains[0]
	press := "press@" + domain
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"admin"}, args...), "--data", dir)...)
		if code != want {
			t.Fatalf("caucus admin %q: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	alice := newMailAccount(t, srv, "alice@"+domain)
	bob := newMailAccount(t, srv, "bob@"+domain)
	cli(0, "role-create", press, "--name", "Press office")
	cli(1, "role-create", alice.login) // a person's address
	cli(0, "role-grant", alice.login, "--role", press, "--send-as")
	cli(0, "role-grant", bob.login, "--role", press)
	if out := cli(0, "roles"); !strings.Contains(out, alice.login) || !strings.Contains(out, "read+send-as") || !strings.Contains(out, bob.login) {
		t.Fatalf("caucus admin roles:\n%s", out)
	}

	// From outside, to the role.
	mx, err := gosmtp.DialStartTLS(srv.addrs["smtp"], devTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	if err := mx.SendMail("journalist@elsewhere.example", []string{press}, strings.NewReader(
		"From: journalist@elsewhere.example\r\nTo: "+press+"\r\nSubject: Interview request\r\nMessage-ID: <i1@elsewhere.example>\r\n\r\nCan we talk?\r\n")); err != nil {
		t.Fatalf("mail to the role: %v", err)
	}

	script := filepath.Join(t.TempDir(), "role_check.py")
	if err := os.WriteFile(script, []byte(roleImaplibScript), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := splitPort(t, srv.addrs["imaps"])
	imaplib := func(a mailAccount, mode string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, python, script, host, port, filepath.Join(dir, "dev-cert.pem"), a.login, a.secret, press, mode).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("imaplib as %s (%s): %v\n%s", a.login, mode, err, out)
		}
	}
	imaplib(alice, "read")

	// Send-as through submission: alice may, bob (read only) may not.
	send := func(a mailAccount) error {
		sub, err := gosmtp.DialStartTLS(srv.addrs["submission"], devTLS(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if err := sub.Auth(sasl.NewPlainClient("", a.login, a.secret)); err != nil {
			t.Fatal(err)
		}
		return sub.SendMail(press, []string{"journalist@elsewhere.example"}, strings.NewReader(
			"From: Press office <"+press+">\r\nTo: journalist@elsewhere.example\r\nSubject: Re: Interview request\r\nMessage-ID: <a1@"+domain+">\r\n\r\nYes.\r\n"))
	}
	if err := send(alice); err != nil {
		t.Fatalf("alice sending as the role with send-as: %v", err)
	}
	if err := send(bob); err == nil || !strings.Contains(err.Error(), "553") {
		t.Fatalf("bob sending as the role without send-as: %v, want 553", err)
	}

	// Revoked: bob's client no longer sees it.
	cli(0, "role-revoke", bob.login, "--role", press)
	imaplib(bob, "revoked")

	// Offboarding alice ends her grant in the same step and says so.
	out := cli(0, "offboard", alice.login)
	if !strings.Contains(out, "role mailboxes") || !strings.Contains(out, press+" (read+send-as)") {
		t.Fatalf("offboard report does not list the role mailbox:\n%s", out)
	}
	if gs, err := srv.mail.GrantsOf(ctx, alice.id); err != nil || len(gs) != 0 {
		t.Fatalf("alice's grants after offboarding: %+v, %v", gs, err)
	}
	imaplib(alice, "offboarded")

	// Who read and who sent, in the audit log.
	if err := srv.audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	audit := cli(0, "audit", "--kind", "role.")
	for _, want := range []string{"role.create", "role.grant", "role.revoke", "role.open", "role.read", "role.send"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
}
