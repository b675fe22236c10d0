package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestSwaksLeaderSpoof replays, with swaks as the outside client, the
// attacks of issue 12 items 1, 2 and 16 against the --dev server: outside
// mail and a member's submission that dress a message as the leader's
// through a From that checks and clients read differently are refused
// with 550 and reach no mailbox; RCPT TO:<postmaster> is accepted.
func TestSwaksLeaderSpoof(t *testing.T) {
	t.Parallel()
	swaks := testtool.Need(t, "swaks")
	srv, dir := startMailDev(t)
	newMailAccount(t, srv, "leader@localhost")
	bob := newMailAccount(t, srv, "bob@localhost")
	anna := newMailAccount(t, srv, "anna@localhost")
	cafile := filepath.Join(dir, "dev-cert.pem")
	run := func(data string, args ...string) (string, error) {
		f := filepath.Join(t.TempDir(), "msg.eml")
		// A Date first: swaks drops a first line that starts with "From "
		// as an mbox separator.
		data = "Date: Mon, 01 Jun 2026 10:00:00 +0000\n" + data
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(data, "\n", "\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, append([]string{"--timeout", "30", "--helo", "client.test", "--tls-ca-path", cafile, "--data", "@" + f}, args...)...).CombinedOutput()
		return string(out), err
	}
	leader := `"Party Leader" <leader@localhost>`
	rest := "To: anna@localhost\nSubject: urgent\n\nPlease pay the attached invoice today.\n"
	pad := strings.Repeat("X-Pad: "+strings.Repeat("p", 900)+"\n", 1200)
	mx := []string{"--server", srv.addrs["smtp"], "--tls", "--from", "x@outside.test", "--to", anna.login}
	sub := []string{"--server", srv.addrs["submission"], "--tls", "--auth", "PLAIN", "--auth-user", bob.login, "--auth-password", bob.secret,
		"--from", bob.login, "--to", anna.login}
	for _, tc := range []struct {
		name, data string
		args       []string
	}{
		{"MX: second From line", "From: " + leader + "\nFrom: x@outside.test\n" + rest, mx},
		{"MX: From with a space before the colon", "From : " + leader + "\nFrom: x@outside.test\n" + rest, mx},
		{"MX: two addresses in one From", "From: " + leader + ", x@outside.test\n" + rest, mx},
		{"MX: only Sender", "Sender: " + leader + "\n" + rest, mx},
		{"MX: From after 1 MiB of header", "From: x@outside.test\n" + pad + "From: " + leader + "\n" + rest, mx},
		{"submission: From : leader, then own", "From : " + leader + "\nFrom: bob@localhost\n" + rest, sub},
		{"submission: Sender leader", "From: bob@localhost\nSender: " + leader + "\n" + rest, sub},
	} {
		out, err := run(tc.data, tc.args...)
		if err == nil || !strings.Contains(out, "* 550 5.") {
			t.Errorf("%s: exit err %v, want a 550:\n%s", tc.name, err, out)
		}
	}
	if out, err := run("From: X <x@outside.test>\n"+rest, mx...); err != nil {
		t.Errorf("plain outside message: %v\n%s", err, out)
	}
	if out, err := run("From: reports@outside.test\nSubject: DMARC report\n\nreport\n", "--server", srv.addrs["smtp"], "--tls",
		"--from", "reports@outside.test", "--to", "postmaster"); err != nil || !strings.Contains(out, "RCPT TO:<postmaster>") {
		t.Errorf("RCPT TO:<postmaster>: %v\n%s", err, out)
	}
	mb, err := srv.mail.Mailbox(t.Context(), anna.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != 1 {
		t.Errorf("anna@localhost INBOX holds %d messages, want only the plain one", mb.Messages)
	}
}
