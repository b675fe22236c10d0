package submit

import (
	"io"
	"net"
	"strings"
	"testing"
)

// TestSubmitDropsOwnFindings: a member's message that carries an
// Authentication-Results field in this server's name, or caucus's own
// X-Caucus-Warning, loses them on the way in: only the MX writes those,
// and webmail's findings banner believes them (RFC 8601 section 5). A
// field of another authserv-id stays.
func TestSubmitDropsOwnFindings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SendPerHour: 10, MaxRcptsPerMessage: 10})
	ctx := t.Context()
	who := Sender{Account: e.anna, Addr: "192.0.2.1", UserAgent: "test"}
	env, err := e.svc.Mail(ctx, who, "anna@example-party.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Rcpt(ctx, who, env, "leader@example-party.org"); err != nil {
		t.Fatal(err)
	}
	msg := "Authentication-Results: MX.example-party.org; dkim=pass header.d=bank.example; dmarc=pass\r\n" +
		"X-Caucus-Warning: none\r\n" +
		"Authentication-Results: mx.google.com; spf=pass\r\n" +
		"From: anna@example-party.org\r\nTo: leader@example-party.org\r\nSubject: hello\r\n\r\nbody\r\n"
	if err := e.svc.Submit(ctx, who, env, header(t, msg), []byte(msg), Received{Helo: "laptop", IP: net.ParseIP("192.0.2.1"), With: "ESMTPSA"}); err != nil {
		t.Fatal(err)
	}
	leader, err := e.auth.Auth.AccountByLogin(ctx, "leader@example-party.org")
	if err != nil {
		t.Fatal(err)
	}
	got := e.read(t, leader.ID, "INBOX")
	if strings.Contains(got, "MX.example-party.org;") || strings.Contains(got, "X-Caucus-Warning") {
		t.Errorf("the delivered message keeps fields only the MX writes:\n%s", got)
	}
	if !strings.Contains(got, "Authentication-Results: mx.google.com; spf=pass") || !strings.Contains(got, "\r\n\r\nbody\r\n") {
		t.Errorf("the delivered message lost what it may keep:\n%s", got)
	}
}

// read returns the newest message of the account's mailbox name.
func (e *env) read(t *testing.T, acct int64, name string) string {
	t.Helper()
	mb, err := e.store.Mailbox(t.Context(), acct, name)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.store.UIDs(t.Context(), mb.ID)
	if err != nil || len(uids) == 0 {
		t.Fatalf("no message in %s: %v", name, err)
	}
	m, err := e.store.AccountMessage(t.Context(), acct, mb.ID, uids[len(uids)-1])
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.OpenBody(m.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
