package listweb

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/lists"
)

// sender records what the lists send.
type sender struct {
	mu   sync.Mutex
	msgs map[string][]byte // by recipient
}

func (s *sender) SendBulk(_ context.Context, _ string, to []string, msg []byte) error {
	return s.Send(context.Background(), "", to, msg)
}

func (s *sender) Send(_ context.Context, _ string, to []string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range to {
		s.msgs[r] = bytes.Clone(msg)
	}
	return nil
}

func (s *sender) get(rcpt string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[rcpt]
}

// env is the pages over a real lists service, served over TLS on
// 127.0.0.1, with a list news@example-party.org of the group "members"
// (anna, bob), open to outside subscribers, moderated by anna.
type env struct {
	a      *authtest.Env
	svc    *lists.Service
	sent   *sender
	ts     *httptest.Server
	list   int64
	anna   *authtest.User
	bob    *authtest.User
	eve    *authtest.User
	postID int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, lists.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	pages, err := login.New(a.Auth, log, login.WithParty(ui.Party{Name: "Test", Language: "en"}))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{a: a, sent: &sender{msgs: map[string][]byte{}}}
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = lists.New(lists.Config{Domains: []string{"example-party.org"}, BaseURL: "https://mail.example-party.org", Key: bytes.Repeat([]byte{9}, 32)},
		lists.Deps{DB: a.DB, Auth: a.Auth, Sender: e.sent, Blobs: blobs, Log: log, Now: a.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Deps{Lists: e.svc, Login: pages, Log: log, Now: a.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	e.ts = httptest.NewUnstartedServer(iweb.Secure(mux, 1<<20))
	e.ts.Config.ConnContext = iweb.ConnContext
	e.ts.StartTLS()
	t.Cleanup(e.ts.Close)

	ctx := t.Context()
	e.anna = a.User(t, "anna@example-party.org", auth.RoleMember)
	e.bob = a.User(t, "bob@example-party.org", auth.RoleMember)
	e.eve = a.User(t, "eve@example-party.org", auth.RoleMember)
	for _, u := range []*authtest.User{e.anna, e.bob} {
		if err := a.Auth.AddToGroup(ctx, "", "members", u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.list, err = e.svc.Create(ctx, "admin", lists.List{Address: "news@example-party.org", Name: "Party News", Group: "members", Open: true, Moderators: []string{"anna@example-party.org"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("From: Anna <anna@example-party.org>\r\nSubject: Rally on Saturday\r\n\r\nBring <b>leaflets</b>.\r\n")
	if err := e.svc.Accept(ctx, lists.Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: msg}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendPending(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

type response struct {
	code int
	loc  string
	body string
}

// do sends req, with the session of u if not nil.
func (e *env) do(t *testing.T, u *authtest.User, req *http.Request) response {
	t.Helper()
	if u != nil {
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	}
	cl := e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), string(b)}
}

func (e *env) req(t *testing.T, method, path string, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

func (e *env) state(t *testing.T, addr string) string {
	t.Helper()
	subs, err := e.svc.Subscribers(t.Context(), e.list)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Address == addr {
			return s.State
		}
	}
	return ""
}

// TestOneClickUnsubscribe: the List-Unsubscribe link of a delivered copy,
// POSTed as RFC 8058 section 3.2 says (no cookie, no sign-in), takes the
// address off the list and records it; a GET only shows the button; the
// link with another address, or a changed token, does nothing.
func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, err := mail.ReadMessage(bytes.NewReader(e.sent.get("bob@example-party.org")))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Fatalf("List-Unsubscribe-Post = %q", got)
	}
	u, err := url.Parse(strings.Trim(m.Header.Get("List-Unsubscribe"), "<>"))
	if err != nil {
		t.Fatal(err)
	}
	path := u.RequestURI()
	if r := e.do(t, nil, e.req(t, "GET", path, "")); r.code != http.StatusOK || !strings.Contains(r.body, `id="unsubscribe"`) {
		t.Fatalf("GET of the link: %d %s", r.code, r.body)
	}
	if st := e.state(t, "bob@example-party.org"); st != "" {
		t.Fatalf("a GET changed the state to %q", st)
	}
	q := u.Query()
	q.Set("a", "anna@example-party.org")
	tampered := u.Path + "?" + q.Encode()
	q = u.Query()
	q.Set("t", strings.Repeat("A", len(q.Get("t"))))
	forged := u.Path + "?" + q.Encode()
	for _, p := range []string{tampered, forged} {
		if r := e.do(t, nil, e.req(t, "POST", p, "List-Unsubscribe=One-Click")); r.code != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p, r.code)
		}
	}
	if st := e.state(t, "anna@example-party.org"); st != "" {
		t.Fatalf("a tampered link unsubscribed anna: %q", st)
	}
	// The page's button posts the form to the same link.
	page := e.do(t, nil, e.req(t, "GET", path, ""))
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(page.body)
	if action == nil || !sameLink(t, html.UnescapeString(action[1]), path) {
		t.Fatalf("the button posts to %q, want %q", action, path)
	}
	if r := e.do(t, nil, e.req(t, "POST", path, "List-Unsubscribe=One-Click")); r.code != http.StatusOK || !strings.Contains(r.body, `id="done"`) {
		t.Fatalf("one-click POST: %d %s", r.code, r.body)
	}
	if st := e.state(t, "bob@example-party.org"); st != lists.StateUnsubscribed {
		t.Fatalf("after the POST bob is %q", st)
	}
	recs, err := e.a.Audit.List(t.Context(), audit.Filter{Kind: "list.unsubscribe"})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, "bob@example-party.org") {
		t.Errorf("audit: %+v, %v", recs, err)
	}
}

// TestArchiveMembersOnly: a member of the list reads its archive and a
// post; another member of the party is refused both, and a person not
// signed in is sent to sign in.
func TestArchiveMembersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do(t, e.bob, e.req(t, "GET", "/mail/lists/", "")); r.code != http.StatusOK || !strings.Contains(r.body, `href="/mail/lists/1/"`) {
		t.Errorf("member's index: %d %s", r.code, r.body)
	}
	if r := e.do(t, e.eve, e.req(t, "GET", "/mail/lists/", "")); r.code != http.StatusOK || strings.Contains(r.body, "Party News") || !strings.Contains(r.body, `id="empty"`) {
		t.Errorf("non-member's index: %d %s", r.code, r.body)
	}
	r := e.do(t, e.bob, e.req(t, "GET", "/mail/lists/1/", ""))
	if r.code != http.StatusOK || !strings.Contains(r.body, "Rally on Saturday") {
		t.Fatalf("member's archive: %d %s", r.code, r.body)
	}
	link := regexp.MustCompile(`href="(/mail/lists/1/\d+)"`).FindStringSubmatch(r.body)
	if link == nil {
		t.Fatal("no link to the post")
	}
	if r := e.do(t, e.bob, e.req(t, "GET", link[1], "")); r.code != http.StatusOK || !strings.Contains(r.body, "Bring &lt;b&gt;leaflets&lt;/b&gt;.") {
		t.Fatalf("member's post: %d %s", r.code, r.body)
	}
	for _, p := range []string{"/mail/lists/1/", link[1]} {
		r := e.do(t, e.eve, e.req(t, "GET", p, ""))
		if r.code != http.StatusForbidden || strings.Contains(r.body, "Rally") || strings.Contains(r.body, "leaflets") {
			t.Errorf("non-member GET %s: %d %s", p, r.code, r.body)
		}
		if r := e.do(t, nil, e.req(t, "GET", p, "")); r.code != http.StatusSeeOther && r.code != http.StatusFound {
			t.Errorf("signed out GET %s: %d", p, r.code)
		}
	}
}

// TestSubscribeForm: the help page's form mails a confirmation link, and
// only its POST subscribes (double opt-in); the answer does not tell
// whether the address was known; a sender is limited per day.
func TestSubscribeForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, nil, e.req(t, "POST", "/mail/lists/1/subscribe", "address=Sup%40Outside.example"))
	if r.code != http.StatusSeeOther || r.loc != "/mail/lists/1/help?n=asked" {
		t.Fatalf("subscribe: %d %q", r.code, r.loc)
	}
	if st := e.state(t, "sup@outside.example"); st != lists.StatePending {
		t.Fatalf("state after asking: %q", st)
	}
	m, err := mail.ReadMessage(bytes.NewReader(e.sent.get("sup@outside.example")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	link := regexp.MustCompile(`https://\S+/mail/lists/confirm\?\S+`).Find(body)
	u, err := url.Parse(string(link))
	if err != nil || link == nil {
		t.Fatalf("no confirmation link")
	}
	r = e.do(t, nil, e.req(t, "GET", u.RequestURI(), ""))
	if r.code != http.StatusOK || e.state(t, "sup@outside.example") != lists.StatePending {
		t.Fatalf("GET of the confirmation link: %d, state %s", r.code, e.state(t, "sup@outside.example"))
	}
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(r.body)
	if action == nil {
		t.Fatalf("no form on the confirmation page: %s", r.body)
	}
	if r := e.do(t, nil, e.req(t, "POST", html.UnescapeString(action[1]), "")); r.code != http.StatusOK || !strings.Contains(r.body, `id="done"`) {
		t.Fatalf("confirm: %d %s", r.code, r.body)
	}
	if st := e.state(t, "sup@outside.example"); st != lists.StateActive {
		t.Fatalf("after confirming: %q", st)
	}
	if r := e.do(t, nil, e.req(t, "POST", "/mail/lists/1/subscribe", "address=not-an-address")); r.code != http.StatusBadRequest {
		t.Errorf("bad address: %d", r.code)
	}
	code := 0
	for i := range RequestsPerDay + 1 {
		code = e.do(t, nil, e.req(t, "POST", "/mail/lists/1/subscribe", "address=x"+string(rune('a'+i))+"%40outside.example")).code
	}
	if code != http.StatusTooManyRequests {
		t.Errorf("request over the daily limit: %d, want 429", code)
	}
}

// sameLink reports whether two links have the same path and query values.
func sameLink(t *testing.T, a, b string) bool {
	t.Helper()
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ua.Path == ub.Path && ua.Query().Encode() == ub.Query().Encode()
}

// TestHelpOpenListsOnly: the public help page names an open list; a
// closed list's answers 404 as an id that does not exist does, so that
// trying ids does not reveal the names of the party's closed lists
// (issue 19).
func TestHelpOpenListsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	closed, err := e.svc.Create(t.Context(), "admin", lists.List{Address: "board-talk@example-party.org", Name: "Secret Board Talk", Group: "members"})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, nil, e.req(t, "GET", "/mail/lists/1/help", "")); r.code != http.StatusOK || !strings.Contains(r.body, "Party News") {
		t.Errorf("open list's help: %d %s", r.code, r.body)
	}
	missing := e.do(t, nil, e.req(t, "GET", "/mail/lists/999/help", ""))
	if missing.code != http.StatusNotFound {
		t.Fatalf("no such list: %d", missing.code)
	}
	for _, who := range []*authtest.User{nil, e.bob} {
		r := e.do(t, who, e.req(t, "GET", "/mail/lists/"+strconv.FormatInt(closed, 10)+"/help", ""))
		if r.code != http.StatusNotFound || strings.Contains(r.body, "Secret Board Talk") || strings.Contains(r.body, "board-talk") || r.body != missing.body {
			t.Errorf("closed list's help (signed in: %v): %d %s", who != nil, r.code, r.body)
		}
	}
}
