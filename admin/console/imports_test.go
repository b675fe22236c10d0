package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// importsConsole is the console with the mail importer (not running:
// jobs stay queued unless a test runs it).
type importsConsole struct {
	*console
	im *mailimport.Importer
}

func newImportsConsole(t testing.TB) *importsConsole {
	t.Helper()
	c := newConsoleMail(t, true)
	if err := c.env.DB.Migrate(t.Context(), mailimport.Component()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	im, err := mailimport.New(mailimport.Options{DB: c.env.DB, Store: c.store, Key: make([]byte, 32), Audit: c.env.Audit, Log: log, Now: c.env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := login.New(c.env.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Deps{Ops: c.ops, Login: pages, Log: log, Imports: im})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(web.Secure(mux, 1<<20))
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c.ts, c.h = ts, h
	return &importsConsole{console: c, im: im}
}

// startMbox starts an mbox job of two messages for u, as the CLI would.
func (c *importsConsole) startMbox(t testing.TB, u *authtest.User) int64 {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.mbox")
	mbox := "From a@old.example Mon Jan  5 10:00:00 2026\nSubject: one\n\nBody\n\nFrom a@old.example Mon Jan  5 10:00:00 2026\nSubject: two\n\nBody\n"
	if err := os.WriteFile(p, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := c.im.Start(t.Context(), mailimport.Request{AccountID: u.Account.ID, Actor: "cli:root", Subject: u.Account.Login,
		Source: mailimport.SourceSpec{Kind: mailimport.KindMbox, Paths: []string{p}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// postCSV sends the CSV form as a browser does.
func (c *importsConsole) postCSV(t *testing.T, u *authtest.User, csrf, csv string) (int, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", "people.csv")
	io.WriteString(fw, csv)
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.ts.URL+"/admin/imports/csv", &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	cl := c.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// TestImportsPage: the admin sees every member's jobs with the member,
// the source and the state; members do not reach the page.
func TestImportsPage(t *testing.T) {
	t.Parallel()
	c := newImportsConsole(t)
	admin := c.admin(t, "boss@example.org")
	anna := c.env.User(t, "anna@example.org", auth.RoleMember)
	bob := c.env.User(t, "bob@example.org", auth.RoleMember)
	c.startMbox(t, anna)
	c.startMbox(t, bob)
	code, _, body := c.do(t, admin, "GET", "/admin/imports", nil)
	if code != http.StatusOK || !strings.Contains(body, "anna@example.org") || !strings.Contains(body, "bob@example.org") ||
		strings.Count(body, `class="job"`) != 2 || !strings.Contains(body, "Waiting to start") {
		t.Errorf("page: %d\n%s", code, body)
	}
	if !strings.Contains(body, `href="/admin/imports"`) {
		t.Error("the console's navigation has no link to the imports")
	}
	code, _, body = c.do(t, admin, "GET", "/admin/imports.json", nil)
	if code != http.StatusOK || strings.Count(body, `"id":`) != 2 {
		t.Errorf("json: %d %s", code, body)
	}
	for _, path := range []string{"/admin/imports", "/admin/imports.json", "/admin/imports/1/report.txt"} {
		if code, _, _ := c.do(t, anna, "GET", path, nil); code == http.StatusOK {
			t.Errorf("member GET %s: %d", path, code)
		}
	}
}

// TestImportsCSV: an admin starts jobs for many members from a CSV; a row
// for no member is reported and the others start. The file's app
// passwords never show and, without a fresh step-up, nothing starts and
// nothing is kept: the admin is sent to confirm first.
func TestImportsCSV(t *testing.T) {
	t.Parallel()
	c := newImportsConsole(t)
	admin := c.admin(t, "boss@example.org")
	anna := c.env.User(t, "anna@example.org", auth.RoleMember)
	csv := "address,server,login,password\nanna@example.org,imap.old.example,anna@old.example,s3cret-one\nnobody@example.org,imap.old.example,x@old.example,s3cret-two\n"
	c.env.Clock.Advance(6 * time.Minute)
	if code, loc := c.postCSV(t, admin, c.csrf(t, admin), csv); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Fatalf("stale step-up: %d %s, want /reauth", code, loc)
	}
	if jobs, _ := c.im.Jobs(t.Context(), 0); len(jobs) != 0 {
		t.Fatalf("jobs started without a step-up: %+v", jobs)
	}
	if n := len(c.h.pending.m); n != 0 {
		t.Errorf("%d pending actions kept (with app passwords)", n)
	}
	_, _, page := c.do(t, admin, "GET", "/admin/imports", nil)
	if !strings.Contains(page, `id="csvconfirm"`) || strings.Contains(page, `id="csvsend"`) {
		t.Error("stale step-up: the page should ask to confirm before the file")
	}
	c.stepUp(t, admin)
	if code, loc := c.postCSV(t, admin, "bad", csv); code != http.StatusForbidden {
		t.Errorf("bad CSRF: %d %s", code, loc)
	}
	code, loc := c.postCSV(t, admin, c.csrf(t, admin), csv)
	if code != http.StatusSeeOther || loc != "/admin/imports" {
		t.Fatalf("post: %d %s", code, loc)
	}
	jobs, _ := c.im.Jobs(t.Context(), 0)
	if len(jobs) != 1 || jobs[0].AccountID != anna.Account.ID || jobs[0].Source != "imap.old.example:993" || jobs[0].StartedBy != "boss@example.org" {
		t.Fatalf("jobs: %+v", jobs)
	}
	_, _, page = c.do(t, admin, "GET", "/admin/imports", nil)
	if !strings.Contains(page, "1 move started.") || !strings.Contains(page, "nobody@example.org: not started") ||
		!strings.Contains(page, fmt.Sprintf("anna@example.org: move %d started", jobs[0].ID)) {
		t.Errorf("outcome not shown:\n%s", page)
	}
	if strings.Contains(page, "s3cret") {
		t.Error("the page shows an app password")
	}
	// The sample parses, and is the shape the form takes.
	_, _, sample := c.do(t, admin, "GET", "/admin/imports/sample.csv", nil)
	if rows, err := mailimport.ParseCSV(strings.NewReader(sample)); err != nil || len(rows) != 1 || rows[0].Addr != "imap.gmail.com:993" {
		t.Errorf("sample: %v %+v\n%s", err, rows, sample)
	}
	if code, _ := c.postCSV(t, admin, c.csrf(t, admin), "not,a,csv\n"); code != http.StatusSeeOther {
		t.Errorf("bad file: %d", code)
	}
	if _, _, page = c.do(t, admin, "GET", "/admin/imports", nil); !strings.Contains(page, "The file could not be read") {
		t.Error("bad file: no error shown")
	}
}

// TestImportsCancelAndReport: the admin stops a job (a step-up action)
// and downloads a job's report as a file; unknown jobs answer 404.
func TestImportsCancelAndReport(t *testing.T) {
	t.Parallel()
	c := newImportsConsole(t)
	admin := c.admin(t, "boss@example.org")
	anna := c.env.User(t, "anna@example.org", auth.RoleMember)
	id := c.startMbox(t, anna)
	path := fmt.Sprintf("/admin/imports/%d/cancel", id)
	if code, loc := c.act(t, admin, path, url.Values{}); code != http.StatusOK || !strings.Contains(loc, fmt.Sprintf("Move %d is stopped.", id)) {
		t.Errorf("cancel: %d %.300s", code, loc)
	}
	if jobs, _ := c.im.Jobs(t.Context(), 0); jobs[0].State != mailimport.StateCancelled {
		t.Errorf("state %s", jobs[0].State)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", c.ts.URL+fmt.Sprintf("/admin/imports/%d/report.txt", id), nil)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: admin.Session})
	res, err := c.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "anna-at-example.org") || !strings.Contains(string(b), "cancelled") {
		t.Errorf("report: %d %q\n%s", res.StatusCode, res.Header.Get("Content-Disposition"), b)
	}
	for _, p := range []string{"/admin/imports/999/report.txt", "/admin/imports/x/report.txt"} {
		if code, _, _ := c.do(t, admin, "GET", p, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

// manyJobs is an importer with n jobs, none running.
type manyJobs struct {
	Imports
	n int
}

func (f manyJobs) Jobs(context.Context, int64) ([]mailimport.Job, error) {
	out := make([]mailimport.Job, f.n)
	for i := range out {
		out[i] = mailimport.Job{ID: int64(f.n - i), Kind: mailimport.KindIMAP, Source: "imap.old.example:993", State: mailimport.StateDone}
	}
	return out, nil
}

func (f manyJobs) Progress(_ context.Context, id int64) (mailimport.Progress, <-chan struct{}, error) {
	return mailimport.Progress{JobID: id, State: mailimport.StateDone}, nil, nil
}

// TestImportsListLimit: the page lists the newest maxImportRows jobs.
func TestImportsListLimit(t *testing.T) {
	t.Parallel()
	c := newImportsConsole(t)
	log := slog.New(slog.DiscardHandler)
	pages, err := login.New(c.env.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Deps{Ops: c.ops, Login: pages, Log: log, Imports: manyJobs{n: maxImportRows + 5}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(web.Secure(mux, 1<<20))
	ts.StartTLS()
	defer ts.Close()
	c.ts = ts
	admin := c.admin(t, "boss@example.org")
	_, _, body := c.do(t, admin, "GET", "/admin/imports", nil)
	if n := strings.Count(body, `class="job"`); n != maxImportRows || !strings.Contains(body, fmt.Sprintf(`id="job-%d"`, maxImportRows+5)) {
		t.Errorf("%d jobs listed, want the newest %d", n, maxImportRows)
	}
}
