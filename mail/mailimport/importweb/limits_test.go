package importweb

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// TestUploadPieceLimits: a piece over MaxChunk is refused before it is
// written (nothing counted), and a file name over maxName is refused.
func TestUploadPieceLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	_, u, _ := m.create(t, "big.mbox", MaxChunk+10)
	if res := m.patch(t, u.ID, 0, make([]byte, MaxChunk+1), m.csrf(t)); res.code != http.StatusRequestEntityTooLarge && res.code != http.StatusBadRequest {
		t.Errorf("piece over MaxChunk: %d", res.code)
	}
	if _, st := m.state(t, u.ID); st.Offset != 0 {
		t.Errorf("offset %d after an oversized piece", st.Offset)
	}
	if res := m.patch(t, u.ID, 0, make([]byte, MaxChunk), m.csrf(t)); res.code != http.StatusNoContent {
		t.Errorf("piece of MaxChunk: %d", res.code)
	}
	name := strings.Repeat("a", maxName-5) + ".mbox"
	if code, _, _ := m.create(t, name, 10); code != http.StatusCreated {
		t.Errorf("name of %d bytes: %d", len(name), code)
	}
	if code, _, _ := m.create(t, "a"+name, 10); code != http.StatusBadRequest {
		t.Errorf("name of %d bytes: %d, want 400", len(name)+1, code)
	}
}

// TestJobListLimit: the member's page and its JSON list the newest
// maxJobs jobs.
func TestJobListLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	var last int64
	for range maxJobs + 1 {
		id, err := e.im.Start(t.Context(), mailimport.Request{AccountID: m.u.Account.ID, Actor: "cli:root", Subject: m.u.Account.Login,
			Source: mailimport.SourceSpec{Kind: mailimport.KindMbox, Paths: []string{"/nonexistent.mbox"}}})
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	jobs := m.jobs(t)
	if len(jobs) != maxJobs || jobs[0].ID != last {
		t.Errorf("%d jobs listed, newest %d; want %d, newest %d", len(jobs), jobs[0].ID, maxJobs, last)
	}
	if page := m.get(t, "/mail/import"); strings.Count(page.body, `class="job"`) != maxJobs {
		t.Errorf("the page lists %d jobs", strings.Count(page.body, `class="job"`))
	}
}

// manyProblems is an importer whose one job's report has n problems.
type manyProblems struct {
	Importer
	account int64
	n       int
}

func (f manyProblems) Progress(context.Context, int64) (mailimport.Progress, <-chan struct{}, error) {
	return mailimport.Progress{JobID: 1, AccountID: f.account, State: mailimport.StateDone}, nil, nil
}

func (f manyProblems) Report(context.Context, int64) (mailimport.Report, error) {
	rep := mailimport.Report{Job: mailimport.Job{ID: 1, AccountID: f.account, Kind: mailimport.KindIMAP, State: mailimport.StateDone}}
	for i := range f.n {
		rep.Problems = append(rep.Problems, mailimport.Problem{Folder: "INBOX", SourceID: strconv.Itoa(i), Status: "failed", Reason: "not MIME"})
	}
	rep.Failed = int64(f.n)
	return rep, nil
}

// TestReportProblemsLimit: a report page lists at most maxShownProblems
// problems and says how many more there are.
func TestReportProblemsLimit(t *testing.T) {
	t.Parallel()
	var fake *manyProblems
	e := newEnv(t, func(c *envConfig) {
		c.hdeps = func(d *Deps) {
			fake = &manyProblems{Importer: d.Imports, n: maxShownProblems + 7}
			d.Imports = fake
		}
	})
	m := e.member(t, "anna")
	fake.account = m.u.Account.ID
	page := m.get(t, "/mail/import/jobs/1")
	if rows := strings.Count(page.body, "<td>not MIME</td>"); page.code != http.StatusOK || rows != maxShownProblems {
		t.Errorf("%d: %d problems listed, want %d", page.code, rows, maxShownProblems)
	}
	if !strings.Contains(page.body, "And 7 more.") {
		t.Error("the page does not say how many more")
	}
}

// TestActiveLimit: a member may have maxActive unfinished moves; one
// more, from a server or a file, is refused until one ends.
func TestActiveLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	form := func() url.Values {
		return url.Values{"provider": {"gmail"}, "login": {"anna@gmail.example"}, "password": {"app"}}
	}
	for i := range maxActive {
		if res := m.post(t, "/mail/import/imap", form()); res.code != http.StatusSeeOther {
			t.Fatalf("move %d: %d", i+1, res.code)
		}
	}
	if res := m.post(t, "/mail/import/imap", form()); res.code != http.StatusTooManyRequests || !strings.Contains(res.body, "You have 3 moves under way") {
		t.Errorf("one more: %d %s", res.code, firstError(res.body))
	}
	if code, _, body := m.create(t, "a.mbox", 10); code != http.StatusTooManyRequests {
		t.Errorf("an upload: %d %s", code, body)
	}
	jobs := m.jobs(t)
	if res := m.post(t, fmt.Sprintf("/mail/import/jobs/%d/cancel", jobs[0].ID), nil); res.code != http.StatusSeeOther {
		t.Fatalf("cancel: %d", res.code)
	}
	if res := m.post(t, "/mail/import/imap", form()); res.code != http.StatusSeeOther {
		t.Errorf("after one ended: %d", res.code)
	}
}

// countingLister lists one running and two finished jobs and counts the
// progress reads.
type countingLister struct{ progress *int }

func (c countingLister) Jobs(context.Context, int64) ([]mailimport.Job, error) {
	return []mailimport.Job{{ID: 3, State: mailimport.StateRunning}, {ID: 2, State: mailimport.StateDone}, {ID: 1, State: mailimport.StateFailed}}, nil
}

func (c countingLister) Progress(_ context.Context, id int64) (mailimport.Progress, <-chan struct{}, error) {
	*c.progress++
	return mailimport.Progress{JobID: id, State: mailimport.StateRunning, Copied: 5}, nil, nil
}

// TestLiveViewsSkipEnded: the script's poll reads the progress of the
// active jobs only; the page reads every job's.
func TestLiveViewsSkipEnded(t *testing.T) {
	t.Parallel()
	l := i18n.Builtin().Localizer("en", time.UTC)
	n := 0
	live, err := LiveViews(t.Context(), l, countingLister{&n}, 0, 10)
	if err != nil || n != 1 || len(live) != 3 || live[1].Active || live[1].State != mailimport.StateDone || live[0].Copied != 5 {
		t.Errorf("live: %d progress reads, %+v %v", n, live, err)
	}
	n = 0
	if _, err := Views(t.Context(), l, countingLister{&n}, 0, 10); err != nil || n != 3 {
		t.Errorf("page: %d progress reads, %v", n, err)
	}
}
