package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/store"
)

// phishNoopScript keeps an IMAP session open the way a phone does: it
// selects INBOX, says how many copies of the phishing message it holds,
// waits for a line on standard input, then polls with NOOP and prints the
// EXPUNGE responses it got and the copies left. Arguments: host, IMAPS port, CA file, login,
// app password.
const phishNoopScript = `
import imaplib, ssl, sys
host, port, cafile, user, pw = sys.argv[1:6]
M = imaplib.IMAP4_SSL(host, int(port), ssl_context=ssl.create_default_context(cafile=cafile), timeout=30)
M.login(user, pw)
M.select('INBOX')
def phish():
    typ, data = M.search(None, 'HEADER', 'Message-ID', 'invoice.due@evil.test')
    return len(data[0].split())
print('selected', phish(), flush=True)
sys.stdin.readline()
M.noop()
print('expunged', len(M.untagged_responses.get('EXPUNGE', [])), flush=True)
print('left', phish(), flush=True)
M.logout()
`

// TestPhishRemovedEverywhere: a phishing message sent by swaks to two
// members through the MX is reported by one, and the admin's one action
// removes it from both mailboxes: an imaplib session left open on the
// other member's INBOX (a phone) learns of it at its next NOOP. The MX
// then refuses the sender's next message with 550.
func TestPhishRemovedEverywhere(t *testing.T) {
	t.Parallel()
	swaks := testtool.Need(t, "swaks")
	python := testtool.Need(t, "python3")
	srv, dir := startMailDev(t)
	anna := newMailAccount(t, srv, "anna@localhost")
	bob := newMailAccount(t, srv, "bob@localhost")
	cafile := filepath.Join(dir, "dev-cert.pem")
	send := func(subject string) (string, error) {
		f := filepath.Join(t.TempDir(), "msg.eml")
		data := "Date: Mon, 01 Jun 2026 10:00:00 +0000\nFrom: Party Treasurer <treasurer@evil.test>\nTo: anna@localhost, bob@localhost\n" +
			"Subject: " + subject + "\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@evil.test>\n\nPlease pay today.\n"
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(data, "\n", "\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, "--timeout", "30", "--helo", "client.test", "--tls-ca-path", cafile, "--server", srv.addrs["smtp"], "--tls",
			"--from", "treasurer@evil.test", "--to", "anna@localhost,bob@localhost", "--data", "@"+f).CombinedOutput()
		return string(out), err
	}
	if out, err := send("invoice due"); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	// Count copies by Message-ID: caucus's own notices (a new app
	// password) may reach the INBOX at any moment.
	copies := func() []store.Found {
		t.Helper()
		found, err := srv.mail.FindEverywhere(t.Context(), store.Match{MessageID: "invoice.due@evil.test"})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if n := len(copies()); n != 2 {
		t.Fatalf("%d copies delivered, want 2", n)
	}

	host, port, _ := net.SplitHostPort(srv.addrs["imaps"])
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", phishNoopScript, host, port, cafile, bob.login, bob.secret)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "selected 1" {
		t.Fatalf("imaplib: %q %v", lines.Text(), lines.Err())
	}

	// Anna reports it (what webmail's button records), the admin acts.
	if err := srv.phish.Record(t.Context(), phish.Report{Reporter: anna.login, MessageID: "invoice.due@evil.test", Sender: "treasurer@evil.test", Subject: "invoice due"}); err != nil {
		t.Fatal(err)
	}
	cases, err := srv.phish.Open(t.Context(), 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases %+v %v", cases, err)
	}
	out, err := srv.phish.RemoveEverywhere(t.Context(), "admin@localhost", "127.0.0.1", cases[0].ID, false)
	if err != nil || len(out.Removed) != 2 || out.Accounts != 2 {
		t.Fatalf("RemoveEverywhere = %+v, %v", out, err)
	}

	io.WriteString(stdin, "go\n")
	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("imaplib: %v (%q)", err, got)
	}
	if strings.Join(got, ";") != "expunged 1;left 0" {
		t.Errorf("the open session saw %q, want one EXPUNGE and no copy left", got)
	}
	if left := copies(); len(left) != 0 {
		t.Errorf("copies left after removal: %+v", left)
	}
	if res, err := send("second try"); err == nil || !strings.Contains(res, "550 5.7.1") {
		t.Errorf("the blocked sender's next message: %v\n%s", err, res)
	}
}

// testWriter writes a command's error output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
