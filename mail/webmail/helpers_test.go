package webmail

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/blob"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

const domain = "example.org"

// env is webmail over a real auth service, message store, directory and
// submission service on a temporary database, served over TLS on
// 127.0.0.1. Mail to other domains has no queue (refused). opts set up
// the sign-in pages (the party, its language).
type env struct {
	a   *authtest.Env
	st  *store.Store
	bus *store.Bus
	dir *route.Directory
	h   *Handler
	ts  *httptest.Server
	// reports keeps the phishing reports the pages record.
	reports *phish.Service
}

func newEnv(t testing.TB, opts ...login.Option) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), store.WebmailComponent(), route.Component(), phish.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	bus := store.NewBus()
	st := store.New(a.DB, blobs, log, store.Options{Changes: bus, Hostname: "mail." + domain})
	dir := route.New(a.DB, a.Auth, []string{domain}, a.Clock.Now)
	sub := submit.New(submit.Config{Hostname: "mail." + domain}, submit.Deps{Store: st, Dir: dir, Roles: st, Log: log, Now: a.Clock.Now})
	pages, err := login.New(a.Auth, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	reports := phish.New(phish.Options{DB: a.DB, Mail: st, Audit: a.Audit, Log: log, Now: a.Clock.Now})
	h, err := New(Deps{
		Store: st, Submit: sub, Accounts: a.Auth, Aliases: dir, Directory: dir, Changes: bus, Login: pages, Audit: a.Audit, Reports: reports,
		Shared: st, ReadAudit: a.Audit, Log: log, Now: a.Clock.Now, Hostname: "mail." + domain, Heartbeat: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(iweb.Secure(mux, 1<<20))
	ts.Config.ConnContext = iweb.ConnContext
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &env{a: a, st: st, bus: bus, dir: dir, h: h, ts: ts, reports: reports}
}

// member is a signed-in person.
type member struct {
	e *env
	u *authtest.User
}

func (e *env) member(t testing.TB, local string) *member {
	t.Helper()
	u := e.a.User(t, local+"@"+domain, auth.RoleMember)
	if err := e.st.EnsureAccount(t.Context(), u.Account.ID); err != nil {
		t.Fatal(err)
	}
	return &member{e: e, u: u}
}

// response is what a test reads of an answer.
type response struct {
	code int
	loc  string
	hdr  http.Header
	body string
}

func (m *member) do(t testing.TB, req *http.Request) response {
	t.Helper()
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: m.u.Session})
	return m.e.do(t, req)
}

// do sends a request as is, without a session unless req has one, and
// follows no redirect.
func (e *env) do(t testing.TB, req *http.Request) response {
	t.Helper()
	cl := e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), res.Header, string(b)}
}

func (m *member) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", m.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.do(t, req)
}

// csrf is the member's session's CSRF token.
func (m *member) csrf(t testing.TB) string {
	t.Helper()
	s, err := m.e.a.Auth.Session(t.Context(), m.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

// post sends a form with the session's CSRF token, unless form has a
// "csrf" of its own already.
func (m *member) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", m.csrf(t))
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", m.e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return m.do(t, req)
}

// file is an attachment for postMultipart.
type file struct{ name, typ, data string }

// postMultipart sends the compose form as a browser does, with the CSRF
// token unless form has one.
func (m *member) postMultipart(t testing.TB, path string, form url.Values, files []file, hdr ...string) response {
	t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", m.csrf(t))
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="attach"; filename=%q`, f.name)}
		h["Content-Type"] = []string{f.typ}
		w, _ := mw.CreatePart(h)
		io.WriteString(w, f.data)
	}
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), "POST", m.e.ts.URL+path, &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return m.do(t, req)
}

// box returns the member's mailbox name.
func (m *member) box(t testing.TB, name string) store.Mailbox {
	t.Helper()
	mb, err := m.e.st.Mailbox(t.Context(), m.u.Account.ID, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	return mb
}

// put appends a message to the member's mailbox and returns its UID.
func (m *member) put(t testing.TB, mailbox, raw string, flags ...imap.Flag) imap.UID {
	t.Helper()
	_, uid, err := m.e.st.Append(t.Context(), m.u.Account.ID, mailbox, strings.NewReader(raw), flags, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// deliver stores a message in the member's INBOX as the MX does after
// its checks (Authentication-Results in this host's name stay, as they
// do not through put's APPEND), and returns its UID.
func (m *member) deliver(t testing.TB, raw string) imap.UID {
	t.Helper()
	uids, err := m.e.st.Deliver(t.Context(), []int64{m.u.Account.ID}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return uids[m.u.Account.ID]
}

// messages returns the messages of the member's mailbox, oldest first.
func (m *member) messages(t testing.TB, name string) []store.Message {
	t.Helper()
	mb := m.box(t, name)
	uids, err := m.e.st.UIDs(t.Context(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := m.e.st.Messages(t.Context(), mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// raw reads a stored message whole.
func (m *member) raw(t testing.TB, msg store.Message) string {
	t.Helper()
	rc, err := m.e.st.OpenBody(msg.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func ref2(mb store.Mailbox, uid imap.UID) string { return fmt.Sprintf("%d/%d", mb.ID, uid) }

// mail is a simple message from outside.
func mail(from, to, subject, body string) string {
	return strings.ReplaceAll(fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nDate: Mon, 1 Jun 2026 09:00:00 +0000\nMessage-ID: <%d@outside.example>\n\n%s\n",
		from, to, subject, time.Now().UnixNano(), body), "\n", "\r\n")
}
