package server

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestSwaks drives the --dev server's SMTP ports with swaks, as an admin
// checking a new installation would: submission with STARTTLS and AUTH on
// 587, implicit TLS on 465, AUTH refused before TLS, relaying refused on
// the MX, and the account password refused.
func TestSwaks(t *testing.T) {
	t.Parallel()
	swaks := testtool.Need(t, "swaks")
	srv, dir := startMailDev(t)
	a := newMailAccount(t, srv, "vol@localhost")
	b := newMailAccount(t, srv, "sec@localhost")
	cafile := filepath.Join(dir, "dev-cert.pem")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, append([]string{"--timeout", "10", "--helo", "client.test", "--tls-ca-path", cafile}, args...)...).CombinedOutput()
		return string(out), err
	}
	sub, subs, mx := srv.addrs["submission"], srv.addrs["submissions"], srv.addrs["smtp"]
	cases := []struct {
		name     string
		args     []string
		ok       bool
		contains string
	}{
		{"587 STARTTLS + AUTH PLAIN", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", a.login, "--auth-password", a.secret,
			"--from", a.login, "--to", b.login, "--header", "Subject: via 587"}, true, "250"},
		{"465 implicit TLS + AUTH LOGIN", []string{"--server", subs, "--tlsc", "--auth", "LOGIN", "--auth-user", a.login, "--auth-password", a.secret,
			"--from", a.login, "--to", b.login, "--header", "Subject: via 465"}, true, "250"},
		{"AUTH before TLS", []string{"--server", sub, "--auth", "PLAIN", "--auth-user", a.login, "--auth-password", a.secret,
			"--from", a.login, "--to", b.login}, false, "did not advertise authentication"},
		{"account password", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", a.login, "--auth-password", a.password,
			"--from", a.login, "--to", b.login}, false, "535"},
		{"send as someone else", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", a.login, "--auth-password", a.secret,
			"--from", b.login, "--to", b.login}, false, "553"},
		{"relay on the MX", []string{"--server", mx, "--tls", "--from", "spammer@outside.test", "--to", "victim@elsewhere.test"}, false, "550 5.7.1"},
		{"unknown user on the MX", []string{"--server", mx, "--from", "friend@outside.test", "--to", "nobody@localhost"}, false, "550 5.1.1"},
		{"delivery on the MX", []string{"--server", mx, "--tls", "--from", "friend@outside.test", "--to", b.login, "--header", "Subject: from outside"}, true, "250"},
	}
	for _, tc := range cases {
		out, err := run(tc.args...)
		if (err == nil) != tc.ok || !strings.Contains(out, tc.contains) {
			t.Logf("%s output:\n%s", tc.name, out)
			t.Errorf("%s: exit err %v, want ok=%v and %q in output:\n%s", tc.name, err, tc.ok, tc.contains, out)
		}
	}
	// The three accepted messages are in sec@'s INBOX.
	mb, err := srv.mail.Mailbox(t.Context(), b.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != 3 {
		t.Errorf("sec@localhost INBOX holds %d messages, want 3", mb.Messages)
	}
}
