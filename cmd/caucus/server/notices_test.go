package server

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/config"
)

// startNoticesDev starts a --dev server with the notices by mail on (the
// shared helpers turn them off), shut down when the test ends.
func startNoticesDev(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, dir
}

// webMember is a member who signs in with a browser: password, TOTP and
// recovery codes, and a mail app password to read their INBOX.
type webMember struct {
	mailAccount
	totp     string
	recovery []string
	session  string // the full session of enrolment
}

// enrolWebMember enrols login (called name) on srv as the pages would and makes
// recovery codes and a mail app password.
func enrolWebMember(t *testing.T, srv *Server, login, name string) webMember {
	t.Helper()
	ctx := t.Context()
	m := webMember{mailAccount: mailAccount{login: login, password: "Motion-Quorum-7731-Seconded"}}
	tok, err := srv.auth.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: name, Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := srv.auth.AcceptInvite(ctx, tok, m.password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, enrol)
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	m.totp = key.Secret()
	if sess, err = srv.auth.Session(ctx, enrol); err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(m.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	full, err := srv.auth.FinishTOTP(ctx, sess, code, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, full); err != nil {
		t.Fatal(err)
	}
	m.session = full
	if m.recovery, err = srv.auth.NewRecoveryCodes(ctx, sess, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if m.secret, _, err = srv.auth.CreateAppPassword(ctx, sess, "phone", auth.ScopeMail, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	m.id = sess.Account.ID
	if err := srv.mail.EnsureAccount(ctx, m.id); err != nil {
		t.Fatal(err)
	}
	return m
}

// noticeMsg is a notice as read from the INBOX over IMAP.
type noticeMsg struct {
	header  mail.Header
	subject string
	body    string
}

// inboxNotices waits (at most 30 s: a hang, not a timing check) until
// the member's INBOX holds n messages, reads them over IMAP and parses
// them.
func inboxNotices(t *testing.T, srv *Server, m webMember, n int) []noticeMsg {
	t.Helper()
	c, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, srv.cfg.DataDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(m.login, m.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if int(sel.NumMessages) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's INBOX holds %d messages after 30 s, want %d", m.login, sel.NumMessages, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, 0)
	fetched, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []noticeMsg
	for _, f := range fetched {
		raw := f.FindBodySection(section)
		pm, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("a message in the INBOX does not parse: %v\n%s", err, raw)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(pm.Body))
		if err != nil {
			t.Fatal(err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, noticeMsg{header: pm.Header, subject: subj, body: string(body)})
	}
	return out
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webSignIn signs m in from client c, with the password and then a TOTP
// code (totpAt) or, when totpAt is zero, a recovery code; the client's
// cookie jar keeps what the server gives the browser.
func webSignIn(t *testing.T, c *http.Client, base string, m *webMember, totpAt time.Time) {
	t.Helper()
	post := func(path string, form url.Values, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", firefoxUA)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("POST %s: %s", path, res.Status)
		}
	}
	post("/login", url.Values{"login": {m.login}, "password": {m.password}}, http.StatusSeeOther)
	req, err := http.NewRequest(http.MethodGet, base+"/login/second", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", firefoxUA)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := csrfField.FindSubmatch(page)
	if err != nil || csrf == nil {
		t.Fatalf("second step page (%s) has no form token: %v\n%s", res.Status, err, page)
	}
	if totpAt.IsZero() {
		code := m.recovery[0]
		m.recovery = m.recovery[1:]
		post("/login/recovery", url.Values{"csrf": {string(csrf[1])}, "code": {code}}, http.StatusOK) // "code used, n left"
		return
	}
	code, err := totp.GenerateCode(m.totp, totpAt)
	if err != nil {
		t.Fatal(err)
	}
	post("/login/totp", url.Values{"csrf": {string(csrf[1])}, "code": {code}}, http.StatusSeeOther)
}

const firefoxUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"

// TestNoticesEndToEnd: in the running server, a member's new app password
// and a sign-in from a new browser each land in their INBOX as a notice,
// read over IMAP; the same browser signing in again sends none; after
// the member chooses Italian, the next notice is in Italian.
func TestNoticesEndToEnd(t *testing.T) {
	t.Parallel()
	srv, dir := startNoticesDev(t)
	m := enrolWebMember(t, srv, "vera@localhost", "Vera Volontaria")
	got := inboxNotices(t, srv, m, 1)
	if len(got) != 1 || !strings.Contains(got[0].subject, "New app password") || !strings.Contains(got[0].body, "“phone”") {
		t.Fatalf("after the app password: %d messages, first %q", len(got), got[0].subject)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := devClient(t, dir)
	browser.Jar = jar
	base := srv.url
	webSignIn(t, browser, base, &m, time.Now().Add(30*time.Second)) // enrolment used this step's code
	got = inboxNotices(t, srv, m, 2)
	sign := got[1]
	if sign.subject != "New sign-in to your "+partyName(t, srv)+" account" {
		t.Errorf("sign-in notice subject %q", sign.subject)
	}
	from, err := mail.ParseAddress(sign.header.Get("From"))
	if err != nil || from.Address != "postmaster@localhost" {
		t.Errorf("From %q: %v", sign.header.Get("From"), err)
	}
	if sign.header.Get("Auto-Submitted") != "auto-generated" || sign.header.Get("Content-Language") != "en" {
		t.Errorf("headers: %v", sign.header)
	}
	for _, want := range []string{"Firefox on Windows", "127.0.0.0/24", base + "/account"} {
		if !strings.Contains(sign.body, want) {
			t.Errorf("the sign-in notice does not say %q:\n%s", want, sign.body)
		}
	}
	for _, secret := range []string{m.password, m.secret, m.totp, "127.0.0.1"} {
		if strings.Contains(sign.body, secret) {
			t.Errorf("the sign-in notice holds %q", secret)
		}
	}

	// The same browser again, then a change that is mailed about: when
	// its notice is in the INBOX, the sign-in before it was handled.
	webSignIn(t, browser, base, &m, time.Time{})
	// A second notice would wait for the end of the first one's minute;
	// what decides it is how the sign-in was recorded.
	recs, err := srv.audit.List(t.Context(), audit.Filter{Account: m.login, Kind: "login.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, r := range recs {
		if r.Kind == "login.totp" || r.Kind == "login.recovery" { // the web's second steps
			details = append(details, r.Kind+" "+r.Detail)
		}
	}
	if want := []string{"login.recovery ", "login.totp " + auth.DetailNewDevice}; !slices.Equal(details, want) {
		t.Errorf("sign-ins recorded as %q, want %q", details, want)
	}
	acct, err := srv.auth.AccountByLogin(t.Context(), m.login)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.SetLanguage(t.Context(), acct.ID, "it"); err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(t.Context(), cookieValue(t, jar, base, "__Host-caucus"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.ChangePassword(t.Context(), sess, m.password, "Amber-Lantern-Quiet-4471", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	got = inboxNotices(t, srv, m, 3)
	if len(got) != 3 {
		t.Errorf("%d messages: the same browser's second sign-in was mailed about", len(got))
	}
	last := got[len(got)-1]
	if !strings.Contains(last.subject, "La password del tuo account") || last.header.Get("Content-Language") != "it" {
		t.Errorf("the password notice after choosing Italian: %q, %q", last.subject, last.header.Get("Content-Language"))
	}
}

// cookieValue is the value of the named cookie the jar holds for base.
func cookieValue(t *testing.T, jar http.CookieJar, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no cookie %s", name)
	return ""
}

// TestNoticesShareAndIncident: in the running server, a file shared with
// a member, a security key added and incident mode each land in the
// member's INBOX as a notice.
func TestNoticesShareAndIncident(t *testing.T) {
	t.Parallel()
	srv, _ := startNoticesDev(t)
	ctx := t.Context()
	vera := enrolWebMember(t, srv, "vera@localhost", "Vera Volontaria")
	ugo := enrolWebMember(t, srv, "ugo@localhost", "Ugo Umile")
	inboxNotices(t, srv, vera, 1) // the app password's

	by := files.Actor{ID: ugo.id, Login: ugo.login}
	home, err := srv.files.Stat(ctx, by, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	n, err := srv.files.Put(ctx, by, home.ID, "volantino.pdf", strings.NewReader("%PDF-1.4"), 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.files.Share(ctx, by, n.ID, files.Grantee{Login: vera.login}, false); err != nil {
		t.Fatal(err)
	}
	got := inboxNotices(t, srv, vera, 2)
	share := got[1]
	if share.subject != "Ugo Umile shared “volantino.pdf” with you" ||
		!strings.Contains(share.body, srv.url+"/files/item/Shared/ugo@localhost/volantino.pdf") {
		t.Errorf("share notice %q:\n%s", share.subject, share.body)
	}
	if share.header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("share notice headers %v", share.header)
	}

	// A security key added (by the software key of authtest).
	(&authtest.Env{Auth: srv.auth}).AddSecurityKey(t, &authtest.User{Session: vera.session})
	got = inboxNotices(t, srv, vera, 3)
	if key := got[2]; key.subject != "A sign-in method of your "+partyName(t, srv)+" account changed" ||
		!strings.Contains(key.body, "Added: the security key “test key”") {
		t.Errorf("factor notice %q:\n%s", key.subject, key.body)
	}

	// Incident mode ends every app password: the INBOX is read from the
	// store.
	if _, err := srv.ops.Incident(ctx, admin.Actor{Login: "admin@localhost"}, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range []webMember{vera, ugo} {
		want := 4
		if m.login == ugo.login {
			want = 2 // no share to him
		}
		raws := waitInbox(t, srv, m.id, want)
		pm, err := mail.ReadMessage(strings.NewReader(raws[len(raws)-1]))
		if err != nil {
			t.Fatal(err)
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
		if subj != partyName(t, srv)+": everyone was signed out" {
			t.Errorf("%s: last message %q, want the incident notice", m.login, subj)
		}
	}
}
