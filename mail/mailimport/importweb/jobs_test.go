package importweb

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/mailimport"
)

// testMbox is a Takeout-like mbox of n small messages (mboxrd, RFC
// 4155), labelled Inbox and "Campaign 2027".
func testMbox(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "From sender@old.example Mon Jan  5 10:00:00 2026\nFrom: Sender <sender@old.example>\nTo: anna@example.org\nX-Gmail-Labels: Inbox,Campaign 2027\nSubject: Message %d\nMessage-ID: <m%d@old.example>\nDate: Mon, 5 Jan 2026 10:00:00 +0000\n\nBody %d\n>From the body.\n\n", i, i, i)
	}
	return b.String()
}

// startMbox starts an mbox job for m as an admin would.
func (e *env) startMbox(t testing.TB, m *member, n int) int64 {
	t.Helper()
	p := filepath.Join(e.dir, fmt.Sprintf("in-%d.mbox", n))
	if err := os.WriteFile(p, []byte(testMbox(n)), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := e.im.Start(t.Context(), mailimport.Request{AccountID: m.u.Account.ID, Actor: "cli:root", Subject: m.u.Account.Login,
		Source: mailimport.SourceSpec{Kind: mailimport.KindMbox, Paths: []string{p}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestProgressAndReport: the page's JSON follows a job to its end with
// its counts; the report page lists where the folders went.
func TestProgressAndReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	id := e.startMbox(t, m, 5)
	if jobs := m.jobs(t); len(jobs) != 1 || jobs[0].ID != id || !jobs[0].Active || jobs[0].StateText != "Waiting to start" {
		t.Fatalf("before the run: %+v", jobs)
	}
	e.start(t)
	j := m.waitJob(t, id)
	if j.State != mailimport.StateDone || j.Copied != 5 || j.Failed != 0 || j.Percent != 100 || j.StateText != "Done" {
		t.Errorf("ended %+v", j)
	}
	page := m.get(t, "/mail/import")
	if !strings.Contains(page.body, `id="job-`+fmt.Sprint(id)+`"`) || !strings.Contains(page.body, `data-active="false"`) || strings.Contains(page.body, "/cancel") {
		t.Errorf("page does not show the ended job")
	}
	if strings.Contains(page.body, "duplicates skipped") {
		t.Error("the page shows the importer's English summary")
	}
	rep := m.get(t, fmt.Sprintf("/mail/import/jobs/%d", id))
	if rep.code != http.StatusOK || !strings.Contains(rep.body, "INBOX") || !strings.Contains(rep.body, "Report of move") {
		t.Errorf("report: %d", rep.code)
	}
	uids, err := e.st.Mailbox(t.Context(), m.u.Account.ID, "INBOX")
	if err != nil || uids.Messages != 5 {
		t.Errorf("INBOX: %+v %v", uids, err)
	}
}

// TestOtherMembersJobs: another member's job, in every URL that names
// a job, answers 404 as a missing one does, and is left alone; the
// JSON lists only one's own.
func TestOtherMembersJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, bob := e.member(t, "anna"), e.member(t, "bob")
	id := e.startMbox(t, anna, 2)
	for _, path := range []string{fmt.Sprintf("/mail/import/jobs/%d", id), "/mail/import/jobs/999999", "/mail/import/jobs/x"} {
		if res := bob.get(t, path); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.code)
		}
	}
	for _, path := range []string{fmt.Sprintf("/mail/import/jobs/%d/cancel", id), "/mail/import/jobs/999999/cancel"} {
		if res := bob.post(t, path, nil); res.code != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, res.code)
		}
	}
	if jobs := bob.jobs(t); len(jobs) != 0 {
		t.Errorf("bob sees %+v", jobs)
	}
	if jobs := anna.jobs(t); len(jobs) != 1 || !jobs[0].Active {
		t.Errorf("anna's job: %+v", jobs)
	}
}

// TestCancel: the member stops their job; it is cancelled, a second
// cancel says it had ended; without the CSRF token nothing happens.
func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	id := e.startMbox(t, m, 2)
	path := fmt.Sprintf("/mail/import/jobs/%d/cancel", id)
	if res := m.post(t, path, url.Values{"csrf": {"wrong"}}); res.code != http.StatusForbidden {
		t.Errorf("wrong token: %d, want 403", res.code)
	}
	if res := m.post(t, "/mail/import/imap", url.Values{"csrf": {""}, "provider": {"gmail"}, "login": {"a@b"}, "password": {"x"}}); res.code != http.StatusForbidden {
		t.Errorf("start without token: %d, want 403", res.code)
	}
	if res := m.post(t, path, nil); res.code != http.StatusSeeOther || res.loc != "/mail/import?n=cancelled" {
		t.Errorf("cancel: %d %s", res.code, res.loc)
	}
	if res := m.post(t, path, nil); res.code != http.StatusSeeOther || res.loc != "/mail/import?n=finished" {
		t.Errorf("cancel again: %d %s", res.code, res.loc)
	}
	if jobs := m.jobs(t); len(jobs) != 1 || jobs[0].State != mailimport.StateCancelled {
		t.Errorf("jobs: %+v", jobs)
	}
}
