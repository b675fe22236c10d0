package notice_test

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/notice"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/ui"
)

// firefox is a real Firefox on Windows.
const firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []sent
}

type sent struct {
	from string
	to   []string
	raw  []byte
}

func (m *mailbox) Send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, sent{from, to, append([]byte(nil), msg...)})
	return nil
}

// env is a file store with auth, and notices about both.
type env struct {
	*filestest.Env
	box *mailbox
	n   *notice.Notifier
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fe := filestest.New(t, files.Options{})
	if err := fe.DB.Migrate(t.Context(), notice.Component()); err != nil {
		t.Fatal(err)
	}
	e := &env{Env: fe, box: &mailbox{}}
	e.n = e.notifier(t)
	return e
}

// notifier builds a notifier on e's storage, as the server does at start.
func (e *env) notifier(t *testing.T) *notice.Notifier {
	t.Helper()
	return e.notifierSettle(t, 0)
}

// notifierSettle is notifier with the wait after a wake-up given.
func (e *env) notifierSettle(t *testing.T, settle time.Duration) *notice.Notifier {
	t.Helper()
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	n, err := notice.New(t.Context(), notice.Config{
		From: "postmaster@example.org", BaseURL: "https://mail.example.org",
		Party:  ui.Party{Name: "Partito Esempio", Language: "en", TimeZone: rome},
		Settle: settle,
	}, notice.Deps{DB: e.DB, Audit: e.Audit, Accounts: e.Auth, Mailer: e.box, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// step lets the notifier handle what happened.
func (e *env) step(t *testing.T) {
	t.Helper()
	if _, err := e.n.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// msg is a notice as a mail client reads it.
type msg struct {
	header mail.Header
	subj   string
	body   string
	raw    string
}

// to parses the messages sent to login.
func (e *env) to(t *testing.T, login string) []msg {
	t.Helper()
	e.box.mu.Lock()
	defer e.box.mu.Unlock()
	var out []msg
	for _, s := range e.box.msgs {
		if len(s.to) != 1 {
			t.Fatalf("a notice to %d addresses: %v", len(s.to), s.to)
		}
		if s.to[0] != login {
			continue
		}
		m, err := mail.ReadMessage(strings.NewReader(string(s.raw)))
		if err != nil {
			t.Fatalf("notice does not parse: %v\n%s", err, s.raw)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg{header: m.Header, subj: subj, body: string(body), raw: string(s.raw)})
	}
	return out
}

// checkHeaders checks what every notice carries: who sends it, that it is
// automatic (RFC 3834), its language and its form.
func checkHeaders(t *testing.T, m msg, lang string) {
	t.Helper()
	from, err := mail.ParseAddress(m.header.Get("From"))
	if err != nil || from.Address != "postmaster@example.org" || from.Name != "Partito Esempio" {
		t.Errorf("From %q (%v), want the party's postmaster", m.header.Get("From"), err)
	}
	for k, want := range map[string]string{
		"Auto-Submitted":            "auto-generated",
		"Content-Language":          lang,
		"Content-Type":              `text/plain; charset="utf-8"`,
		"Content-Transfer-Encoding": "quoted-printable",
		"MIME-Version":              "1.0",
	} {
		if got := m.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if _, err := m.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := m.header.Get("Message-Id"); !strings.HasPrefix(id, "<notice.") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
}

// noSecret fails if the message holds any of the secrets.
func noSecret(t *testing.T, m msg, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && (strings.Contains(m.raw, s) || strings.Contains(m.body, s)) {
			t.Errorf("the notice holds a secret %q:\n%s", s, m.body)
		}
	}
}

// signIn signs u in with password and TOTP from the browser c, and
// returns the session token.
func (e *env) signIn(t *testing.T, u *authtest.User, c auth.Client) string {
	t.Helper()
	tok, _, err := e.Auth.PasswordSignIn(t.Context(), u.Account.Login, u.Password, c)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Auth.Session(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	full, err := e.Auth.VerifyTOTP(t.Context(), sess, e.Code(t, u), c)
	if err != nil {
		t.Fatal(err)
	}
	u.Session = full
	return full
}

func (e *env) session(t *testing.T, u *authtest.User) auth.Session {
	t.Helper()
	s, err := e.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A sign-in from a new browser is mailed to the member, with the browser,
// system, time and network and what to do; the same browser again (it
// holds the device cookie it got) is not.
func TestNewDeviceSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "anna@example.org", auth.RoleMember)
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 0 {
		t.Fatalf("enrolment mailed %d notices: %s", len(got), got[0].subj)
	}
	browser := auth.Client{Addr: netip.MustParseAddr("198.51.100.23"), UserAgent: firefox}
	tok := e.signIn(t, u, browser)
	e.step(t)
	got := e.to(t, u.Account.Login)
	if len(got) != 1 {
		t.Fatalf("%d notices after a sign-in from a new browser, want 1", len(got))
	}
	m := got[0]
	checkHeaders(t, m, "en")
	if m.subj != "New sign-in to your Partito Esempio account" {
		t.Errorf("subject %q", m.subj)
	}
	for _, want := range []string{"Hello Test member,", "anna@example.org", "Firefox on Windows", "198.51.100.0/24",
		"If this was not you", "https://mail.example.org/account", "Partito Esempio", "CEST"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("the notice does not say %q:\n%s", want, m.body)
		}
	}
	noSecret(t, m, "198.51.100.23", u.Password, tok, u.TOTPSecret)

	// The browser comes back with the device cookie it was given.
	browser.Device = e.Auth.DeviceToken(u.Account.Login)
	e.Clock.Advance(2 * time.Hour)
	e.signIn(t, u, browser)
	e.Clock.Advance(2 * time.Minute)
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 1 {
		t.Errorf("the same browser signing in again sent %d notices in all, want 1", len(got))
	}
}

// A member whose language is Italian gets the notice in Italian.
func TestNoticeInMemberLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "bruno@example.org", auth.RoleMember)
	if err := e.Auth.SetLanguage(t.Context(), u.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, u, auth.Client{Addr: netip.MustParseAddr("2001:db8:1234:5678::9"), UserAgent: firefox})
	e.step(t)
	got := e.to(t, u.Account.Login)
	if len(got) != 1 {
		t.Fatalf("%d notices, want 1", len(got))
	}
	checkHeaders(t, got[0], "it")
	for _, want := range []string{"Nuovo accesso", "Partito Esempio"} {
		if !strings.Contains(got[0].subj, want) {
			t.Errorf("subject %q does not say %q", got[0].subj, want)
		}
	}
	for _, want := range []string{"Ciao", "Firefox su Windows", "2001:db8:1234::/48"} {
		if !strings.Contains(got[0].body, want) {
			t.Errorf("the notice does not say %q:\n%s", want, got[0].body)
		}
	}
	noSecret(t, got[0], "5678")
}

// A script that creates a hundred app passwords within a minute sends
// the member one notice at once and one more when the minute ends, which
// counts the rest; no app password is in them.
func TestAppPasswordsCoalesced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "carla@example.org", auth.RoleMember)
	var secrets []string
	for i := range 100 {
		secrets = append(secrets, e.AppPassword(t, u, fmt.Sprintf("script %d", i), auth.ScopeMail))
		if i%10 == 0 {
			e.step(t)
		}
		e.Clock.Advance(100 * time.Millisecond)
	}
	e.step(t)
	got := e.to(t, u.Account.Login)
	if len(got) != 1 {
		t.Fatalf("%d notices within the minute, want 1", len(got))
	}
	if got[0].subj != "New app password for your Partito Esempio account" || !strings.Contains(got[0].body, "“script 0”") {
		t.Errorf("first notice: %q\n%s", got[0].subj, got[0].body)
	}
	e.Clock.Advance(time.Minute)
	e.step(t)
	got = e.to(t, u.Account.Login)
	if len(got) != 2 {
		t.Fatalf("%d notices after the minute, want 2", len(got))
	}
	m := got[1]
	checkHeaders(t, m, "en")
	if m.subj != "99 new app passwords for your Partito Esempio account" {
		t.Errorf("second notice's subject %q", m.subj)
	}
	if !strings.Contains(m.body, "“script 1”") || !strings.Contains(m.body, "… and 89 more.") {
		t.Errorf("second notice:\n%s", m.body)
	}
	for _, m := range got {
		noSecret(t, m, secrets...)
	}
	e.Clock.Advance(time.Hour)
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 2 {
		t.Errorf("%d notices after an hour of quiet, want still 2", len(got))
	}
}

// Adding and removing sign-in methods and changing the password are each
// mailed; the factor of enrolment is not.
func TestFactorAndPasswordNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "dario@example.org", auth.RoleMember)
	e.AddSecurityKey(t, u)
	e.step(t)
	got := e.to(t, u.Account.Login)
	if len(got) != 1 || !strings.Contains(got[0].body, "Added: the security key “test key”") {
		t.Fatalf("after adding a key: %d notices %v", len(got), got)
	}
	e.Clock.Advance(2 * time.Minute)
	e.step(t)
	if err := e.Auth.RemoveFactor(t.Context(), e.session(t, u), 0, auth.Client{}); err != nil { // the TOTP app
		t.Fatal(err)
	}
	e.step(t)
	if got = e.to(t, u.Account.Login); len(got) != 2 || !strings.Contains(got[1].body, "Removed:") {
		t.Fatalf("after removing the app: %d notices", len(got))
	}
	const newPW = "a much longer new passphrase 42"
	if err := e.Auth.ChangePassword(t.Context(), e.session(t, u), u.Password, newPW, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	e.step(t)
	got = e.to(t, u.Account.Login)
	if len(got) != 3 || got[2].subj != "The password of your Partito Esempio account was changed" {
		t.Fatalf("after the password change: %d notices", len(got))
	}
	for _, m := range got {
		checkHeaders(t, m, "en")
		noSecret(t, m, u.Password, newPW)
	}
}

// Incident mode mails every active member; a suspended or departed one,
// or one whose last day has passed, gets nothing, for it or any notice.
func TestIncidentAndInactive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	boss := e.User(t, "admin@example.org", auth.RoleAdmin)
	active := e.User(t, "elena@example.org", auth.RoleMember)
	suspended := e.User(t, "fabio@example.org", auth.RoleMember)
	gone := e.User(t, "gina@example.org", auth.RoleMember)
	// A sign-in to be mailed about, before the suspension takes effect.
	e.signIn(t, suspended, auth.Client{UserAgent: firefox})
	if err := e.Auth.SetState(t.Context(), "admin@example.org", suspended.Account.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.SetState(t.Context(), "admin@example.org", gone.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.Migrate(t.Context(), admin.Component()); err != nil {
		t.Fatal(err)
	}
	ops := admin.NewOps(admin.OpsDeps{Auth: e.Auth, DB: e.DB, Audit: e.Audit, Now: e.Clock.Now})
	if _, err := ops.Incident(t.Context(), admin.Actor{Login: "admin@example.org", AccountID: boss.Account.ID}, true); err != nil {
		t.Logf("incident mode on: %v", err) // the files step is skipped here
	}
	e.step(t)
	for _, u := range []*authtest.User{boss, active} {
		got := e.to(t, u.Account.Login)
		if len(got) != 1 || got[0].subj != "Partito Esempio: everyone was signed out" ||
			!strings.Contains(got[0].body, "https://mail.example.org/login") || !strings.Contains(got[0].body, "passkey or security key") {
			t.Errorf("%s: %d notices %v", u.Account.Login, len(got), got)
		}
	}
	for _, u := range []*authtest.User{suspended, gone} {
		if got := e.to(t, u.Account.Login); len(got) != 0 {
			t.Errorf("%s (%s) got %d notices: %s", u.Account.Login, "not active", len(got), got[0].subj)
		}
	}
}

// Shares are mailed to the member, or to each member of the group, with a
// link to the item; coalesced per sharer for an hour; not to the sharer;
// not to a member who turned share mails off.
func TestShareNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, anna := e.Person(t, "anna@example.org")
	_, bob := e.Person(t, "bob@example.org")
	ben, _ := e.Person(t, "ben@example.org")
	cleo, _ := e.Person(t, "cleo@example.org")
	for _, who := range []files.Actor{anna, {ID: ben.Account.ID}, {ID: cleo.Account.ID}} {
		if err := e.Auth.AddToGroup(t.Context(), "", "press", who.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Auth.SetShareMail(t.Context(), cleo.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	share := func(by files.Actor, name string, with files.Grantee) {
		t.Helper()
		home, err := e.Store.Stat(t.Context(), by, "/Home")
		if err != nil {
			t.Fatal(err)
		}
		n, err := e.Store.Put(t.Context(), by, home.ID, name, strings.NewReader("x"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Store.Share(t.Context(), by, n.ID, with, false); err != nil {
			t.Fatal(err)
		}
	}
	share(anna, "plan 2027.odt", files.Grantee{Login: "ben@example.org"})
	e.step(t)
	got := e.to(t, "ben@example.org")
	if len(got) != 1 {
		t.Fatalf("%d share notices, want 1", len(got))
	}
	checkHeaders(t, got[0], "en")
	if got[0].subj != "Test member shared “plan 2027.odt” with you" ||
		!strings.Contains(got[0].body, "https://mail.example.org/files/item/Shared/anna@example.org/plan%202027.odt") {
		t.Errorf("share notice %q:\n%s", got[0].subj, got[0].body)
	}
	share(anna, "budget.ods", files.Grantee{Group: "press"})
	share(anna, "flyer.pdf", files.Grantee{Login: "ben@example.org"})
	share(bob, "minutes.txt", files.Grantee{Login: "ben@example.org"})
	e.Clock.Advance(30 * time.Minute)
	e.step(t)
	if got := e.to(t, "ben@example.org"); len(got) != 2 || got[1].subj != "Test member shared “minutes.txt” with you" {
		t.Fatalf("within anna's hour: %d notices to ben, want 2 (anna's first, bob's)", len(got))
	}
	e.Clock.Advance(31 * time.Minute)
	e.step(t)
	got = e.to(t, "ben@example.org")
	if len(got) != 3 || got[2].subj != "Test member shared 2 items with you" ||
		!strings.Contains(got[2].body, "“budget.ods”, with the group press") || !strings.Contains(got[2].body, "“flyer.pdf”") {
		t.Fatalf("after anna's hour: %d notices to ben; last %v", len(got), got[len(got)-1])
	}
	if got := e.to(t, "anna@example.org"); len(got) != 0 {
		t.Errorf("the sharer was told of her own share: %s", got[0].subj)
	}
	if got := e.to(t, "cleo@example.org"); len(got) != 0 {
		t.Errorf("a member who turned share mails off got %d", len(got))
	}
}

// A restarted notifier goes on where the last one stopped: nothing is
// mailed twice.
func TestRestartNoRepeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "hugo@example.org", auth.RoleMember)
	e.signIn(t, u, auth.Client{UserAgent: firefox})
	e.step(t)
	e.n = e.notifier(t)
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 1 {
		t.Fatalf("%d notices across a restart, want 1", len(got))
	}
}

// Of the notifiers of several nodes one runs at a time (the server runs
// them under a lease); the one that takes over goes on where the other
// stopped, though it was built at its node's start, before: nothing is
// mailed twice.
func TestTakeOverNoRepeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "olga@example.org", auth.RoleMember)
	e.step(t)
	standby := e.notifier(t) // the other node's
	e.signIn(t, u, auth.Client{Addr: netip.MustParseAddr("198.51.100.23"), UserAgent: firefox})
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 1 {
		t.Fatalf("%d notices of a sign-in, want 1", len(got))
	}
	// The first node stops; the other's loop takes over.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { standby.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.Clock.Advance(2 * time.Hour)
	e.signIn(t, u, auth.Client{Addr: netip.MustParseAddr("203.0.113.9"), UserAgent: firefox})
	deadline := time.Now().Add(20 * time.Second) // a hang, not a timing check
	for len(e.to(t, u.Account.Login)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the notifier that took over mailed nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.to(t, u.Account.Login); len(got) != 2 || !strings.Contains(got[1].body, "203.0.113.0/24") {
		t.Fatalf("%d notices after the take-over, want the first sign-in's and then the second's", len(got))
	}
}

// The loop reads the log while other records keep coming: a busy
// server's stream of sign-ins and deliveries does not hold notices back.
func TestRunDuringStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "ines@example.org", auth.RoleMember)
	// Records come far more often than the wait after a wake-up.
	e.n = e.notifierSettle(t, time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.AppPassword(t, u, "laptop", auth.ScopeMail)
	deadline := time.Now().Add(20 * time.Second) // a hang, not a timing check
	for len(e.to(t, u.Account.Login)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no notice while records kept coming")
		}
		if err := e.Audit.Record(t.Context(), audit.Event{Kind: "login.imap", Subject: "someone@example.org"}); err != nil {
			t.Fatal(err)
		}
	}
}

// Many records between two reads (more than one query returns) are all
// read: a notice after a thousand others' records is sent, once, also
// across a restart that comes after it.
func TestManyRecordsBetweenSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.User(t, "luca@example.org", auth.RoleMember)
	e.step(t)
	noise := func(n int) {
		for range n {
			if err := e.Audit.Record(t.Context(), audit.Event{Kind: "login.imap", Subject: "someone@example.org"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	noise(1100)
	e.AppPassword(t, u, "tablet", auth.ScopeMail)
	noise(1100)
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 1 || !strings.Contains(got[0].body, "“tablet”") {
		t.Fatalf("%d notices after 2,200 other records", len(got))
	}
	e.n = e.notifier(t) // a restart
	e.step(t)
	if got := e.to(t, u.Account.Login); len(got) != 1 {
		t.Fatalf("%d notices after a restart, want still 1", len(got))
	}
}
