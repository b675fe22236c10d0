package server

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAdminImportOverSocket: an admin moves a member's Google Takeout mbox
// in with `caucus admin import LOGIN --mbox FILE` against the running
// server; the job runs in the server, its labels become folders, the
// report says what was copied, and the member's mailboxes hold the mail.
func TestAdminImportOverSocket(t *testing.T) {
	t.Parallel()
	srv, dir := startMailDev(t)
	domain := srv.cfg.MailDomains[0]
	anna := newMailAccount(t, srv, "anna@"+domain)
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"admin"}, args...), "--data", dir)...)
		if code != want {
			t.Fatalf("caucus admin %q: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	mbox := filepath.Join(t.TempDir(), "All mail Including Spam and Trash.mbox")
	takeout := "From 1790000000000000001@xxx Mon Nov 30 10:00:00 +0000 2026\n" +
		"X-GM-THRID: 1790000000000000001\nX-Gmail-Labels: Inbox,Campaign 2027\n" +
		"From: Press Office <press@elsewhere.example>\nTo: anna@" + domain + "\nSubject: Debate on Thursday\n" +
		"Message-ID: <takeout-1@elsewhere.example>\nDate: Mon, 30 Nov 2026 10:00:00 +0000\n\nSee you there.\n>From the archive.\n\n" +
		"From 1790000000000000002@xxx Mon Nov 30 11:00:00 +0000 2026\n" +
		"X-Gmail-Labels: Campaign 2027\n" +
		"From: anna@" + domain + "\nTo: press@elsewhere.example\nSubject: Re: Debate on Thursday\n" +
		"Message-ID: <takeout-2@elsewhere.example>\nDate: Mon, 30 Nov 2026 11:00:00 +0000\n\nI will come.\n"
	if err := os.WriteFile(mbox, []byte(takeout), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(1, "import", anna.login) // no source: refused by the command
	out := cli(0, "import", anna.login, "--mbox", mbox)
	m := regexp.MustCompile(`import job (\d+) started`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("import printed no job:\n%s", out)
	}
	var report string
	for deadline := time.Now().Add(time.Minute); ; {
		report = cli(0, "import-report", "--job", m[1])
		if strings.Contains(report, "state done") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(report, "state done") || !strings.Contains(report, "Copied 2 messages") {
		t.Fatalf("the job's report:\n%s", report)
	}
	if list := cli(0, "imports", "--login", anna.login); !strings.Contains(list, m[1]) || !strings.Contains(list, "done") {
		t.Errorf("imports lists:\n%s", list)
	}
	for name, want := range map[string]int{"INBOX": 1, "Campaign 2027": 2} {
		mb, err := srv.mail.Mailbox(t.Context(), anna.id, name)
		if err != nil {
			t.Fatalf("mailbox %q: %v", name, err)
		}
		uids, err := srv.mail.UIDs(t.Context(), mb.ID)
		if err != nil || len(uids) != want {
			t.Errorf("%s holds %d messages (%v), want %d", name, len(uids), err, want)
		}
	}
}
