package console

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

type console struct {
	env   *authtest.Env
	ts    *httptest.Server
	store *store.Store
	ops   *adminops.Ops
	files *recFiles
	h     *Handler
	keys  map[int64]*authtest.Key // admins' software security keys

	exports string         // the mbox export directory (with mail)
	phish   *phish.Service // phishing reports (with mail)
	diaries *fakeDiaries   // group calendars and address books
}

// admin enrols an admin with TOTP and a security key, and proves the key in
// the session: console actions need a fresh WebAuthn proof.
func (c *console) admin(t testing.TB, login string) *authtest.User {
	t.Helper()
	u := c.env.User(t, login, auth.RoleAdmin)
	c.keys[u.Account.ID] = c.env.AddSecurityKey(t, u)
	c.stepUp(t, u)
	return u
}

// stepUp proves u's security key in u's session.
func (c *console) stepUp(t testing.TB, u *authtest.User) {
	t.Helper()
	c.env.StepUpWebAuthn(t, u, c.keys[u.Account.ID])
}

func newConsole(t testing.TB) *console { return newConsoleMail(t, false) }

// newConsoleMail builds the console, with the message store, routing and
// the mail side of offboarding when withMail.
func newConsoleMail(t testing.TB, withMail bool) *console {
	t.Helper()
	return newConsoleWith(t, withMail, nil)
}

// newConsoleWith is newConsoleMail whose server uses cert (nil: the test
// server's own) and whose WebAuthn origin is then https://localhost:PORT,
// for a browser.
func newConsoleWith(t testing.TB, withMail bool, cert *tls.Certificate) *console {
	t.Helper()
	return newConsoleParty(t, withMail, cert, ui.Party{})
}

// newConsoleParty is newConsoleWith for a party with its own language,
// time zone and name.
func newConsoleParty(t testing.TB, withMail bool, cert *tls.Certificate, party ui.Party) *console {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg := auth.Config{}
	if cert != nil {
		ts.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
		cfg.RPID, cfg.Origins = "localhost", []string{"https://localhost:" + port}
	}
	env := authtest.New(t, cfg, store.Component(), route.Component(), offboard.Component(), backup.Component(), adminops.Component(), phish.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	pages, err := login.New(env.Auth, log, login.WithParty(party))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	c := &console{env: env, ts: ts, files: &recFiles{}, keys: map[int64]*authtest.Key{}, diaries: &fakeDiaries{ro: map[int64]bool{}}}
	deps := adminops.OpsDeps{Auth: env.Auth, DB: env.DB, Files: c.files, Log: log, Now: env.Clock.Now, BaseURL: "https://caucus.test", TimeZone: party.TimeZone}
	if withMail {
		blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		c.store = store.New(env.DB, blobs, log, store.Options{Now: env.Clock.Now})
		dir := route.New(env.DB, env.Auth, []string{"example.org"}, env.Clock.Now)
		dir.SetRoles(c.store) // as the server wires it
		deps.Mail, deps.Route, deps.Roles = c.store, dir, c.store
		c.exports = filepath.Join(t.TempDir(), "exports")
		deps.MailOffboard = offboard.New(offboard.Config{ExportDir: c.exports, Now: env.Clock.Now},
			offboard.Deps{DB: env.DB, Store: c.store, Auth: env.Auth, Dir: dir, Log: log})
		c.phish = phish.New(phish.Options{DB: env.DB, Mail: c.store, Audit: env.Audit, Log: log, Now: env.Clock.Now})
	}
	c.ops = adminops.NewOps(deps)
	var reports Phish
	var msgs Messages
	if c.phish != nil {
		reports, msgs = c.phish, c.store
	}
	c.h, err = New(Deps{Ops: c.ops, Login: pages, Log: log, Phish: reports, Messages: msgs, Diaries: c.diaries,
		Queue:      emptyQueue{},
		CertExpiry: func() (time.Time, error) { return env.Clock.Now().Add(10 * 24 * time.Hour), nil },
		LastBackup: func(ctx context.Context) (time.Time, int64, error) { return backup.LastSuccess(ctx, env.DB) },
		DNS:        &dns.Mock{MX: map[string][]*net.MX{"example.org": {{Host: "mail.example.org.", Pref: 10}}}},
		Records:    dnsrec.Records("mail.example.org", []string{"example.org"}, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.h.Register(mux)
	ts.Config.Handler = web.Secure(mux, 1<<20)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return c
}

type emptyQueue struct{}

func (emptyQueue) List(context.Context) ([]queue.Item, error) { return nil, nil }

// do sends a request with u's session cookie and returns status, Location
// and body.
func (c *console) do(t *testing.T, u *authtest.User, method, path string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, c.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if u != nil {
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	}
	cl := c.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func (c *console) csrf(t *testing.T, u *authtest.User) string {
	t.Helper()
	s, err := c.env.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

func TestOnlyAdmins(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	if code, loc, _ := c.do(t, nil, "GET", "/admin/people", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("signed out: %d %q, want redirect to /login", code, loc)
	}
	if code, _, _ := c.do(t, member, "GET", "/admin/people", nil); code != http.StatusForbidden {
		t.Errorf("member: status %d, want 403", code)
	}
	if code, _, _ := c.do(t, member, "POST", "/admin/invites", url.Values{"csrf": {c.csrf(t, member)}, "login": {"x@example.org"}, "name": {"X"}, "role": {"admin"}}); code != http.StatusForbidden {
		t.Errorf("member invite: status %d, want 403", code)
	}
	if _, err := c.env.Auth.AccountByLogin(t.Context(), "x@example.org"); !errors.Is(err, auth.ErrNotFound) {
		t.Error("a member created an account")
	}
}

var linkRE = regexp.MustCompile(`https://caucus\.test/enrol/([A-Za-z0-9_-]{43})`)

func TestInviteFromConsole(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	form := url.Values{"csrf": {c.csrf(t, admin)}, "login": {"anna@example.org"}, "name": {"Anna Volunteer"}, "role": {"member"}, "groups": {"campaign, press"}, "expires": {"2026-12-31"}}
	code, body := c.act(t, admin, "/admin/invites", form)
	m := linkRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("invite: status %d, no link in page", code)
	}
	// The link is shown once: a reload of its page does not show it.
	if code, _, body := c.do(t, admin, "GET", "/admin/invites/link", nil); code != http.StatusNotFound || linkRE.MatchString(body) {
		t.Errorf("the link's page reloaded: %d, want 404 without the link", code)
	}
	inv, err := c.env.Auth.PeekInvite(t.Context(), m[1])
	if err != nil || inv.Account.DisplayName != "Anna Volunteer" || inv.Account.ExpiresAt.IsZero() {
		t.Fatalf("invite behind the link: %+v, %v", inv, err)
	}
	groups, _ := c.env.Auth.GroupsOf(t.Context(), inv.Account.ID)
	if strings.Join(groups, ",") != "campaign,press" {
		t.Errorf("groups %v", groups)
	}
	// A duplicate and a bad address are refused with words, not a 500.
	for _, bad := range []string{"anna@example.org", "not-an-address"} {
		form.Set("login", bad)
		if code, _, body := c.do(t, admin, "POST", "/admin/invites", form); code != http.StatusBadRequest || !strings.Contains(body, `class="error"`) {
			t.Errorf("invite %q: status %d, want 400 with an error", bad, code)
		}
	}
	// Missing CSRF token.
	form.Del("csrf")
	form.Set("login", "zed@example.org")
	if code, _, _ := c.do(t, admin, "POST", "/admin/invites", form); code != http.StatusForbidden {
		t.Errorf("no csrf: %d, want 403", code)
	}
	recs, err := c.env.Audit.List(t.Context(), audit.Filter{Kind: "invite.create", Account: "anna@example.org"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "boss@example.org" || recs[0].Addr == "" {
		t.Errorf("audit of the invite: %+v, %v; want one record by boss, with the address", recs, err)
	}
}

func TestSuspendClosesEverything(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	secret := c.env.AppPassword(t, member, "phone", auth.ScopeMail)
	g, err := c.env.Auth.AppPassword(ctx, member.Account.Login, secret, auth.ScopeMail, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	live, release := c.env.Auth.Connect(context.Background(), g)
	defer release()

	path := "/admin/people/" + itoa(member.Account.ID)
	code, body := c.act(t, admin, path+"/suspend", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "suspended") {
		t.Fatalf("suspend: status %d", code)
	}
	if !strings.Contains(body, "ok  access revoked: ") || !strings.Contains(body, "ok  sign-in disabled: ") {
		t.Errorf("suspend: the person page does not list the steps:\n%s", body)
	}
	// The revocation hub cancels live connections before the suspension
	// returns, so the connection's context has ended by now: an ordering,
	// not a race against a clock.
	select {
	case <-live.Done():
		if !errors.Is(context.Cause(live), auth.ErrRevoked) {
			t.Errorf("live connection cause %v, want ErrRevoked", context.Cause(live))
		}
	default:
		t.Fatal("live connection not cancelled when the suspension returned")
	}
	if _, err := c.env.Auth.Session(ctx, member.Session); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Errorf("member's session after suspension: %v", err)
	}
	if _, err := c.env.Auth.AppPassword(ctx, member.Account.Login, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("app password still works after suspension")
	}
	if _, _, err := c.env.Auth.PasswordSignIn(ctx, member.Account.Login, member.Password, auth.Client{}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("password sign-in after suspension: %v, want ErrBadCredentials (as a wrong password)", err)
	}
	// Reactivation lets them sign in again with their own factors.
	if code, _ := c.act(t, admin, path+"/reactivate", url.Values{}); code != http.StatusOK {
		t.Fatalf("reactivate: status %d", code)
	}
	c.env.SignIn(t, member)
}

func TestStepUpRequired(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	c.env.Clock.Advance(6 * time.Minute)
	path := "/admin/people/" + itoa(member.Account.ID) + "/suspend"
	code, loc, _ := c.do(t, admin, "POST", path, url.Values{"csrf": {c.csrf(t, admin)}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Fatalf("stale admin session: %d %q, want redirect to /reauth", code, loc)
	}
	if a, _ := c.env.Auth.Account(t.Context(), member.Account.ID); a.State != auth.StateActive {
		t.Fatalf("member state %s after refused action", a.State)
	}
	// A TOTP step-up is not enough: a TOTP code can be phished.
	sess, _ := c.env.Auth.Session(t.Context(), admin.Session)
	if _, err := c.env.Auth.VerifyTOTP(t.Context(), sess, c.env.Code(t, admin), auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if code, loc, _ := c.do(t, admin, "POST", path, url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Fatalf("after a TOTP step-up: %d %q, want redirect to /reauth", code, loc)
	}
	// A security key's step-up is, then it works.
	c.stepUp(t, admin)
	if code, _ := c.act(t, admin, path, url.Values{}); code != http.StatusOK {
		t.Fatalf("after step-up: %d", code)
	}
}

func TestReenrolRemovesFactors(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	code, body := c.act(t, admin, "/admin/people/"+itoa(member.Account.ID)+"/reenrol", url.Values{})
	m := linkRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("reenrol: %d, no link", code)
	}
	f, _ := c.env.Auth.Factors(t.Context(), member.Account.ID)
	if len(f) != 0 {
		t.Errorf("factors after reset: %+v", f)
	}
	if _, _, err := c.env.Auth.PasswordSignIn(t.Context(), member.Account.Login, member.Password, auth.Client{}); !errors.Is(err, auth.ErrNeedsFactor) {
		t.Errorf("old password without factors: %v, want ErrNeedsFactor", err)
	}
	if _, err := c.env.Auth.PeekInvite(t.Context(), m[1]); err != nil {
		t.Errorf("new link: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMailQuota(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	path := "/admin/people/" + itoa(member.Account.ID)
	if code, _, body := c.do(t, admin, "GET", path, nil); code != http.StatusOK || !strings.Contains(body, "no quota") {
		t.Fatalf("person page: %d, mail section missing", code)
	}
	for _, bad := range []string{"-1", "lots", ""} {
		c.do(t, admin, "POST", path+"/quota", url.Values{"csrf": {c.csrf(t, admin)}, "quota_mb": {bad}})
	}
	if _, q, _ := c.store.Usage(t.Context(), member.Account.ID); q != 0 {
		t.Fatalf("a bad quota value was saved: %d", q)
	}
	if code, body := c.act(t, admin, path+"/quota", url.Values{"quota_mb": {"250"}}); code != http.StatusOK || !strings.Contains(body, "of 250.0 MB") {
		t.Fatalf("set quota: %d", code)
	}
	if _, q, err := c.store.Usage(t.Context(), member.Account.ID); err != nil || q != 250_000_000 {
		t.Errorf("quota %d, %v; want 250 MB", q, err)
	}
	recs, _ := c.env.Audit.List(t.Context(), audit.Filter{Kind: "mail.quota"})
	if len(recs) != 1 || recs[0].Actor != "boss@example.org" {
		t.Errorf("quota change audit: %+v", recs)
	}
}

// TestPendingActionKept: an action refused for want of a step-up is kept
// for its own session only, and a token that is not kept says so.
func TestPendingActionKept(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	other := c.admin(t, "other@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	c.env.Clock.Advance(6 * time.Minute)
	c.stepUp(t, other)
	path := "/admin/people/" + itoa(member.Account.ID) + "/suspend"
	code, loc, _ := c.do(t, admin, "POST", path, url.Values{"csrf": {c.csrf(t, admin)}})
	next, err := url.QueryUnescape(strings.TrimPrefix(loc, "/reauth?next="))
	if code != http.StatusSeeOther || err != nil || !strings.HasPrefix(next, "/admin/pending/") {
		t.Fatalf("stale session: %d %q, want to confirm, then the pending action", code, loc)
	}
	if code, _, body := c.do(t, other, "GET", next, nil); code != http.StatusNotFound || !strings.Contains(body, "nothing was done") {
		t.Errorf("another admin's view of the pending action: %d, want 404 saying it is not kept", code)
	}
	c.stepUp(t, admin)
	code, _, body := c.do(t, admin, "GET", next, nil)
	if code != http.StatusOK || !strings.Contains(body, "Suspend Test member (vol@example.org)") || !strings.Contains(body, `action="`+path+`"`) {
		t.Fatalf("pending page: %d\n%s", code, body)
	}
	c.env.Clock.Advance(pendingTTL + time.Minute)
	if code, _, body := c.do(t, admin, "GET", next, nil); code != http.StatusNotFound || !strings.Contains(body, "nothing was done") {
		t.Errorf("an expired pending action: %d, want 404 saying so", code)
	}
}
