package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/caucus-org/caucus/files"
	"io"
	"log/slog"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// *offboard.Service is the mail side of offboarding.
var _ MailOffboard = (*offboard.Service)(nil)

// recFiles stands in for the file store (package files lives on another
// branch): it records each call.
type recFiles struct {
	mu    sync.Mutex
	calls []string
}

func (f *recFiles) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *recFiles) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *recFiles) TransferOwnership(_ context.Context, actor string, from, to int64, links files.LinkDisposition) (files.TransferReport, error) {
	word := map[files.LinkDisposition]string{files.LinksMove: "move", files.LinksRevoke: "revoke"}[links]
	f.add("transfer %s %d->%d links=%s", actor, from, to, word)
	return files.TransferReport{Files: 3, Bytes: 1234, LinksMoved: 1}, nil
}

func (f *recFiles) RevokeLinksOf(_ context.Context, actor string, id int64) (int, error) {
	f.add("revoke-links %s %d", actor, id)
	return 2, nil
}

func (f *recFiles) SuspendPublicLinks(_ context.Context, actor string) (int, error) {
	f.add("suspend-links %s", actor)
	return 5, nil
}

func (f *recFiles) ResumePublicLinks(_ context.Context, actor string) (int, error) {
	f.add("resume-links %s", actor)
	return 5, nil
}

func (f *recFiles) Usage(context.Context, int64) (int64, int64, error) { return 10, 100, nil }

// recMailer records the messages it is given; the party's outbound path
// (queue) has its own tests.
type recMailer struct {
	mu   sync.Mutex
	msgs [][]byte
	to   [][]string
}

func (m *recMailer) Send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs, m.to = append(m.msgs, msg), append(m.to, to)
	return nil
}

type opsEnv struct {
	*authtest.Env
	ops    *Ops
	store  *store.Store
	dir    *route.Directory
	off    *offboard.Service
	files  *recFiles
	mailer *recMailer
	admin  *authtest.User
	actor  Actor
}

const domain = "example-party.org"

func newOps(t testing.TB) *opsEnv {
	t.Helper()
	env := authtest.New(t, auth.Config{}, store.Component(), route.Component(), offboard.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &opsEnv{Env: env, files: &recFiles{}, mailer: &recMailer{}}
	e.store = store.New(env.DB, blobs, log, store.Options{Now: env.Clock.Now})
	e.dir = route.New(env.DB, env.Auth, []string{domain}, env.Clock.Now)
	e.dir.SetRoles(e.store) // as the server wires it
	e.off = offboard.New(offboard.Config{ExportDir: filepath.Join(t.TempDir(), "exports"), Now: env.Clock.Now},
		offboard.Deps{DB: env.DB, Store: e.store, Auth: env.Auth, Dir: e.dir, Log: log})
	e.ops = NewOps(OpsDeps{Auth: env.Auth, DB: env.DB, Mail: e.store, Route: e.dir, Files: e.files, Mailer: e.mailer,
		MailOffboard: e.off, Roles: e.store, Log: log, Now: env.Clock.Now, BaseURL: "https://caucus.test/", MailFrom: "postmaster@" + domain})
	e.admin = env.User(t, "boss@"+domain, auth.RoleAdmin)
	e.actor = Actor{Login: e.admin.Account.Login, AccountID: e.admin.Account.ID}
	return e
}

// live opens a connection with an app password of u, as IMAP would.
func (e *opsEnv) live(t *testing.T, u *authtest.User) (ctx context.Context, secret string) {
	t.Helper()
	secret = e.AppPassword(t, u, "phone", auth.ScopeMail)
	g, err := e.Auth.AppPassword(t.Context(), u.Account.Login, secret, auth.ScopeMail, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, release := e.Auth.Connect(context.Background(), g)
	t.Cleanup(release)
	return ctx, secret
}

// cut checks that a live connection was closed by revocation. Revocation
// cancels the context synchronously, so it is done by now.
func cut(t *testing.T, what string, ctx context.Context) {
	t.Helper()
	if ctx.Err() == nil || !errors.Is(context.Cause(ctx), auth.ErrRevoked) {
		t.Errorf("%s: live connection still open (cause %v)", what, context.Cause(ctx))
	}
}

func outcomes(rep Report) map[string]string {
	m := map[string]string{}
	for _, s := range rep.Steps {
		m[s.Name] = s.Outcome
	}
	return m
}

func TestOffboard(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	alice := e.User(t, "alice@"+domain, auth.RoleMember)
	bob := e.User(t, "bob@"+domain, auth.RoleMember)
	if err := e.Auth.AddToGroup(ctx, "test", "press", alice.Account.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Deliver(ctx, []int64{alice.Account.ID}, strings.NewReader("From: x@elsewhere.example\r\nSubject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	conn, secret := e.live(t, alice)
	info, err := e.ops.CreateRole(ctx, e.actor, "info@"+domain, "Information")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ops.GrantRole(ctx, e.actor, info.ID, alice.Account.ID, true); err != nil {
		t.Fatal(err)
	}

	opts := OffboardOptions{Successor: bob.Account.ID, Forward: true, AutoReply: "Alice has left; write to Bob.", SuccessorRead: true}
	plan, err := e.ops.PlanOffboard(ctx, alice.Account.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if plan.AppPass != 1 || plan.Live != 1 || plan.Factors == 0 || !slices.Equal(plan.Groups, []string{"press"}) || plan.Options.RetainDays != DefaultRetentionDays ||
		roleNames(plan.Roles) != "info@"+domain+" (read+send-as)" {
		t.Errorf("plan: %+v", plan)
	}
	if conn.Err() != nil {
		t.Fatal("planning changed something")
	}
	rep, err := e.ops.Offboard(ctx, e.actor, plan)
	if err != nil {
		t.Fatalf("offboard: %v\n%s", err, rep.Text())
	}
	t.Log("\n" + rep.Text())
	want := map[string]string{stepRevoke: "ok", stepDisable: "ok", stepFactors: "ok", stepGroups: "ok", stepRoles: "ok", stepFiles: "ok",
		stepForward: "ok", stepAutoReply: "ok", stepRetain: "ok", stepRead: "ok"}
	if got := outcomes(rep); !maps(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	cut(t, "offboarded", conn)
	if _, err := e.Auth.AppPassword(ctx, alice.Account.Login, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("app password still accepted")
	}
	if _, err := e.Auth.Session(ctx, alice.Session); err == nil {
		t.Error("session still valid")
	}
	if fs, _ := e.Auth.Factors(ctx, alice.Account.ID); len(fs) != 0 {
		t.Errorf("factors left: %v", fs)
	}
	if gs, _ := e.Auth.GroupsOf(ctx, alice.Account.ID); len(gs) != 0 {
		t.Errorf("groups left: %v", gs)
	}
	// Her role mailbox went in the same step, and the report says which.
	if gs, _ := e.store.GrantsOf(ctx, alice.Account.ID); len(gs) != 0 {
		t.Errorf("role mailbox grants left: %+v", gs)
	}
	if !strings.Contains(rep.Text(), "info@"+domain+" (read+send-as)") {
		t.Errorf("report does not list the role mailbox:\n%s", rep.Text())
	}
	if calls := e.files.Calls(); !slices.Equal(calls, []string{fmt.Sprintf("transfer boss@%s %d->%d links=move", domain, alice.Account.ID, bob.Account.ID)}) {
		t.Errorf("files calls %v", calls)
	}
	// Mail to Alice now reaches Bob.
	tg, err := e.dir.Resolve(ctx, "alice@"+domain)
	if err != nil || !slices.Contains(tg.Accounts, bob.Account.ID) {
		t.Errorf("alice@ resolves to %+v, %v; want bob", tg, err)
	}
	boxes, err := e.store.Mailboxes(ctx, bob.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(boxes, func(m store.Mailbox) bool { return m.Name == "Offboarded/alice@"+domain+"/INBOX" }) {
		t.Errorf("bob's mailboxes lack Alice's copy: %+v", boxes)
	}
	// The report is saved and in the audit log.
	saved, err := e.ops.Report(ctx, rep.ID)
	if err != nil || saved.Text() != rep.Text() {
		t.Errorf("saved report differs: %v\n%s", err, saved.Text())
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Account: alice.Account.Login, Kind: "admin.offboard"})
	if err != nil {
		t.Fatal(err)
	}
	var steps, summary int
	for _, r := range recs {
		if r.Actor != e.actor.Login {
			t.Errorf("audit actor %q", r.Actor)
		}
		switch r.Kind {
		case "admin.offboard.step":
			steps++
		case "admin.offboard":
			summary++
		}
	}
	if steps != len(rep.Steps) || summary != 1 {
		t.Errorf("audit: %d step records and %d summaries, want %d and 1", steps, summary, len(rep.Steps))
	}
	// Twice is refused.
	if _, err := e.ops.PlanOffboard(ctx, alice.Account.ID, opts); !errors.Is(err, ErrState) {
		t.Errorf("second offboarding: %v, want ErrState", err)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Without files, mail or a successor, the steps that need them are
// reported as skipped, and links are revoked rather than moved.
func TestOffboardWithoutParts(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	alice := e.User(t, "alice@"+domain, auth.RoleMember)
	bare := NewOps(OpsDeps{Auth: e.Auth, DB: e.DB, Now: e.Clock.Now})
	plan, err := bare.PlanOffboard(ctx, alice.Account.ID, OffboardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bare.Offboard(ctx, CLIActor("root"), plan)
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(rep)
	if got[stepFiles] != OutcomeSkipped || got[stepRetain] != OutcomeSkipped || got[stepDisable] != OutcomeOK {
		t.Errorf("steps %v", got)
	}
	if !strings.Contains(rep.Text(), "files not available") {
		t.Errorf("report does not say why files were skipped:\n%s", rep.Text())
	}
	bob := e.User(t, "bob@"+domain, auth.RoleMember)
	for _, opts := range []OffboardOptions{
		{Forward: true},       // forwarding needs a successor
		{RetainDays: -1},      // bad retention
		{RetainDays: 1 << 20}, // too long
		{Successor: 1 << 40},  // no such account
		{Successor: bob.Account.ID, Links: 7},
		{AutoReply: strings.Repeat("x", MaxAutoReply+1)},
	} {
		if _, err := e.ops.PlanOffboard(ctx, bob.Account.ID, opts); !errors.Is(err, ErrBadOptions) && !errors.Is(err, ErrSuccessor) {
			t.Errorf("options %+v: %v, want refusal", opts, err)
		}
	}
	// An offboarded successor is refused.
	if _, err := e.ops.PlanOffboard(ctx, bob.Account.ID, OffboardOptions{Successor: alice.Account.ID}); !errors.Is(err, ErrSuccessor) {
		t.Errorf("offboarded successor: %v", err)
	}
}

func TestLastAdminGuard(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	cli := CLIActor("root")
	id := e.admin.Account.ID
	if _, err := e.ops.Suspend(ctx, cli, id); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("suspend last admin: %v", err)
	}
	if _, err := e.ops.PlanOffboard(ctx, id, OffboardOptions{}); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("plan offboarding of the last admin: %v", err)
	}
	if _, err := e.ops.Offboard(ctx, cli, OffboardPlan{Account: e.admin.Account}); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("offboard last admin: %v", err)
	}
	// A second admin who is only invited does not count.
	if _, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: "deputy@" + domain, Name: "Deputy", Role: auth.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ops.Suspend(ctx, cli, id); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("suspend with only an invited second admin: %v", err)
	}
	second := e.User(t, "second@"+domain, auth.RoleAdmin)
	// Nobody suspends themselves.
	if _, err := e.ops.Suspend(ctx, e.actor, id); !errors.Is(err, ErrSelf) {
		t.Errorf("suspend oneself: %v", err)
	}
	rep, err := e.ops.Suspend(ctx, Actor{Login: second.Account.Login, AccountID: second.Account.ID}, id)
	if err != nil {
		t.Fatalf("suspend with another admin active: %v", err)
	}
	if a, _ := e.Auth.Account(ctx, id); a.State != auth.StateSuspended {
		t.Errorf("state %s", a.State)
	}
	// Now second is the last active admin.
	if _, err := e.ops.Suspend(ctx, cli, second.Account.ID); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("suspend the now last admin: %v", err)
	}
	if _, err := e.ops.Resume(ctx, cli, id); err != nil {
		t.Errorf("resume: %v", err)
	}
	if a, _ := e.Auth.Account(ctx, id); a.State != auth.StateActive {
		t.Errorf("state after resume %s", a.State)
	}
	if rep.Kind != "suspend" || rep.Subject != e.admin.Account.Login {
		t.Errorf("report %+v", rep)
	}
}

func TestExpireDue(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	// One expiring account is still invited, one enrolled (authtest
	// enrols without an expiry, so it is set in the database).
	if _, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: "temp@" + domain, Name: "Temp", Expires: e.Clock.Now().Add(10 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	perm := e.User(t, "perm@"+domain, auth.RoleMember) // never expires
	vol := e.User(t, "vol@"+domain, auth.RoleMember)
	if _, err := e.DB.ExecContext(ctx, `UPDATE accounts SET expires_at = ? WHERE id = ?`, e.Clock.Now().Add(10*24*time.Hour).Unix(), vol.Account.ID); err != nil {
		t.Fatal(err)
	}
	conn, _ := e.live(t, vol)
	people, err := e.ops.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	soon := map[string]bool{}
	for _, p := range people {
		soon[p.Login] = p.ExpiringSoon
	}
	if !soon["vol@"+domain] || !soon["temp@"+domain] || soon["perm@"+domain] {
		t.Errorf("expiring soon: %v", soon)
	}
	if n, err := e.ops.ExpireDue(ctx); n != 0 || err != nil {
		t.Errorf("before expiry: %d, %v", n, err)
	}
	e.Clock.Advance(11 * 24 * time.Hour)
	n, err := e.ops.ExpireDue(ctx)
	if n != 2 || err != nil {
		t.Fatalf("ExpireDue: %d, %v; want 2 (the enrolled and the invited)", n, err)
	}
	cut(t, "expired", conn)
	for _, login := range []string{"vol@" + domain, "temp@" + domain} {
		a, _ := e.Auth.AccountByLogin(ctx, login)
		if a.State != auth.StateSuspended {
			t.Errorf("%s: state %s", login, a.State)
		}
	}
	if a, _ := e.Auth.Account(ctx, perm.Account.ID); a.State != auth.StateActive {
		t.Errorf("unexpiring account: %s", a.State)
	}
	// An expired account is not simply resumed.
	if _, err := e.ops.Resume(ctx, e.actor, vol.Account.ID); !errors.Is(err, ErrState) {
		t.Errorf("resume expired: %v", err)
	}
	recs, _ := e.Audit.List(ctx, audit.Filter{Kind: "admin.expire", Account: "vol@" + domain})
	if len(recs) == 0 || recs[0].Actor != "system" {
		t.Errorf("expiry audit: %+v", recs)
	}
	// Idle: no sign-in for 60 days.
	e.Clock.Advance(60 * 24 * time.Hour)
	people, _ = e.ops.List(ctx)
	for _, p := range people {
		if p.Login == "perm@"+domain && !p.Idle {
			t.Error("perm not idle after 71 days")
		}
		if p.Login == "vol@"+domain && p.Idle {
			t.Error("suspended account counted as idle")
		}
	}
}

func TestInviteMail(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	res, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: " Anna@Example-Party.org ", Name: "Anna Ünal", Groups: []string{"press"}, MailTo: "anna@home.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Mailed || res.Account.Login != "anna@"+domain || !strings.HasPrefix(res.Link, "https://caucus.test/enrol/") {
		t.Fatalf("result %+v", res)
	}
	if want := e.Clock.Now().Add(72 * time.Hour); !res.ExpiresAt.Equal(want) {
		t.Errorf("link expires %v, want %v", res.ExpiresAt, want)
	}
	if len(e.mailer.msgs) != 1 || !slices.Equal(e.mailer.to[0], []string{"anna@home.example"}) {
		t.Fatalf("mailed %v", e.mailer.to)
	}
	m, err := mail.ReadMessage(bytes.NewReader(e.mailer.msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body) // quoted-printable; the link has no '=' or long lines
	if !strings.Contains(string(body), res.Link) || m.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("message:\n%s", e.mailer.msgs[0])
	}
	for _, bad := range []InviteRequest{
		{Login: "x@" + domain, Name: "X", MailTo: "x@home.example\r\nBcc: evil@example.com"},
		{Login: "x@" + domain, Name: "X\r\nBcc: evil@example.com"},
		{Login: "x@" + domain, Name: "X", Role: "root"},
		{Login: "x@" + domain, Name: "X", Groups: []string{"Bad Group"}},
		{Login: "x@" + domain, Name: "X", Expires: e.Clock.Now().Add(-time.Hour)},
		{Login: "not-an-address", Name: "X"},
		{Login: "x@" + domain},
	} {
		if _, err := e.ops.Invite(ctx, e.actor, bad); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("invite %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := e.Auth.AccountByLogin(ctx, "x@"+domain); !errors.Is(err, auth.ErrNotFound) {
		t.Error("a refused invite created an account")
	}
}

func TestImportCSV(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	e.User(t, "taken@"+domain, auth.RoleMember)
	bad := "login,name,role,groups,expires,mail_to\n" +
		"ok1@" + domain + ",One,member,press;campaign,2030-01-31,\n" +
		"not-an-address,Two\n" +
		"ok1@" + domain + ",Again\n" +
		"taken@" + domain + ",Taken\n" +
		"r@" + domain + ",Role,boss\n" +
		"d@" + domain + ",Date,member,,31/01/2030\n" +
		"g@" + domain + ",Group,member,Bad Group\n" +
		"lonely@" + domain + "\n" +
		"\n" +
		"ok2@" + domain + ",Two,admin\n"
	pv, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader(bad), false)
	if err != nil {
		t.Fatal(err)
	}
	var errLines []int
	for _, r := range pv.Rows {
		if r.Err != "" {
			errLines = append(errLines, r.Line)
		}
	}
	if len(pv.Rows) != 9 || pv.Errors != 7 || !slices.Equal(errLines, []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("preview: %d rows, %d errors on lines %v", len(pv.Rows), pv.Errors, errLines)
		for _, r := range pv.Rows {
			t.Logf("line %d: %q", r.Line, r.Err)
		}
	}
	if pv.Rows[2].Err != "The address is also on line 2." {
		t.Errorf("duplicate: %q", pv.Rows[2].Err)
	}
	// Commit refuses a file with errors and creates nothing.
	if _, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader(bad), true); !errors.Is(err, ErrCSVInvalid) {
		t.Errorf("commit with errors: %v", err)
	}
	if _, err := e.Auth.AccountByLogin(ctx, "ok1@"+domain); !errors.Is(err, auth.ErrNotFound) {
		t.Error("a file with errors created an account")
	}
	good := "\xef\xbb\xbfok1@" + domain + ",One,member,press;campaign,2030-01-31\nok2@" + domain + ",\"Two, Jr.\",admin\n"
	pv, err = e.ops.ImportCSV(ctx, e.actor, strings.NewReader(good), true)
	if err != nil || pv.Created != 2 || pv.Rows[0].Link == "" {
		t.Fatalf("commit: %+v, %v", pv, err)
	}
	a, err := e.Auth.AccountByLogin(ctx, "ok2@"+domain)
	if err != nil || a.DisplayName != "Two, Jr." || a.Role != auth.RoleAdmin || a.State != auth.StateInvited {
		t.Errorf("ok2: %+v, %v", a, err)
	}
	ok1, err := e.Auth.AccountByLogin(ctx, "ok1@"+domain)
	if err != nil || ok1.ExpiresAt.IsZero() {
		t.Fatalf("ok1: %+v, %v", ok1, err)
	}
	if gs, _ := e.Auth.GroupsOf(ctx, ok1.ID); !slices.Equal(gs, []string{"campaign", "press"}) {
		t.Errorf("groups %v", gs)
	}
}

func TestImportCSVLimits(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	big := strings.Repeat("a", MaxCSVBytes+1)
	if _, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader(big), false); !errors.Is(err, ErrCSVTooBig) {
		t.Errorf("too big: %v", err)
	}
	var b strings.Builder
	for i := range MaxCSVRows + 1 {
		fmt.Fprintf(&b, "p%d@%s,P\n", i, domain)
	}
	if b.Len() > MaxCSVBytes {
		t.Fatal("test file too big for the row limit test")
	}
	if _, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader(b.String()), false); !errors.Is(err, ErrCSVTooBig) {
		t.Errorf("too many rows: %v", err)
	}
	if _, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader("a,\"b\n"), false); !errors.Is(err, ErrCSVInvalid) {
		t.Errorf("broken quoting: %v", err)
	}
}

func FuzzImportCSV(f *testing.F) {
	f.Add([]byte("login,name\nanna@example-party.org,Anna,member,press;x,2030-01-01,anna@home.example\n"))
	f.Add([]byte("a,\"b\n"))
	f.Add([]byte("\xef\xbb\xbf\n\n,,,,,,,,\n"))
	f.Add([]byte("Name;E-mail;Groups;Last day\nAnna;anna@example-party.org;a,b;2030-01-01\n"))
	f.Add([]byte("address,name,address\n"))
	f.Add([]byte(CSVSample(domain)))
	e := newOps(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pv, err := e.ops.ImportCSV(t.Context(), e.actor, bytes.NewReader(data), false)
		if err != nil {
			if !errors.Is(err, ErrCSVInvalid) && !errors.Is(err, ErrCSVTooBig) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		n := 0
		for _, r := range pv.Rows {
			if r.Err != "" {
				if len(r.Errs) == 0 {
					t.Fatalf("row with an error and no list: %+v", r)
				}
				n++
				continue
			}
			if auth.ValidateLogin(r.Request.Login) != nil || r.Request.Name == "" || r.Link != "" {
				t.Fatalf("row accepted: %+v", r)
			}
		}
		if n != pv.Errors || pv.Created != 0 {
			t.Fatalf("preview counts: %+v", pv)
		}
	})
}

func TestIncident(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	vol := e.User(t, "vol@"+domain, auth.RoleMember)
	conn, secret := e.live(t, vol)
	rep, err := e.ops.Incident(ctx, e.actor, true)
	if err != nil {
		t.Fatalf("incident on: %v\n%s", err, rep.Text())
	}
	t.Log("\n" + rep.Text())
	cut(t, "incident", conn)
	for _, u := range []*authtest.User{vol, e.admin} {
		if _, err := e.Auth.Session(ctx, u.Session); !errors.Is(err, auth.ErrSessionInvalid) {
			t.Errorf("%s: session after incident: %v", u.Account.Login, err)
		}
	}
	if _, err := e.Auth.AppPassword(ctx, vol.Account.Login, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("app password accepted during incident")
	}
	st, err := e.ops.IncidentState(ctx)
	if err != nil || !st.On || st.By != e.actor.Login {
		t.Errorf("state %+v, %v", st, err)
	}
	// People sign in again (admins afresh); new app passwords work.
	e.SignIn(t, vol)
	e.AppPassword(t, vol, "new phone", auth.ScopeMail)
	if _, err := e.ops.Incident(ctx, e.actor, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ops.Incident(ctx, e.actor, false); !errors.Is(err, ErrState) {
		t.Errorf("lifting twice: %v", err)
	}
	if st, _ := e.ops.IncidentState(ctx); st.On {
		t.Error("still on")
	}
	if calls := e.files.Calls(); !slices.Equal(calls, []string{"suspend-links boss@" + domain, "resume-links boss@" + domain}) {
		t.Errorf("files calls %v", calls)
	}
	for _, kind := range []string{"admin.incident.on", "admin.incident.off"} {
		if recs, _ := e.Audit.List(ctx, audit.Filter{Kind: kind}); len(recs) == 0 {
			t.Errorf("no %s audit record", kind)
		}
	}
}

// TestAuditChainDetectsEdit: an admin report edited in the database is
// found by Verify, which names the record.
func TestAuditChainDetectsEdit(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	vol := e.User(t, "vol@"+domain, auth.RoleMember)
	if _, err := e.ops.Suspend(ctx, e.actor, vol.Account.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Audit.Verify(ctx); err != nil {
		t.Fatalf("untouched chain: %v", err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "admin.suspend"})
	if err != nil || len(recs) == 0 {
		t.Fatal(recs, err)
	}
	id := recs[len(recs)-1].ID
	if _, err := e.DB.ExecContext(ctx, `UPDATE audit_log SET actor = 'someone-else' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	_, err = e.Audit.Verify(ctx)
	var be *audit.BrokenError
	if !errors.As(err, &be) || !errors.Is(err, audit.ErrBroken) || be.ID != id {
		t.Errorf("Verify after edit of record %d: %v", id, err)
	}
}

// TestImportCSVHeaders: the header row the console's instructions describe
// is accepted, as are the obvious names of the columns in any order; a row
// shows every error it has, not the first (issue 16 bug 4: the header was
// reported as a bad expiry date).
func TestImportCSVHeaders(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	for _, file := range []string{
		"address,name,role,groups,access end date,personal address\nanna@" + domain + ",Anna,member,press,2030-01-31,\n",
		"Name;Email;Groups\nAnna;anna@" + domain + ";press,campaign\n", // as European spreadsheets write it
		"E-mail,Full name,Expires,Groups\nanna@" + domain + ",Anna,2030-01-31,press\n",
		"login,name\r\nanna@" + domain + ",Anna\r\n",
	} {
		pv, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader(file), false)
		if err != nil || len(pv.Rows) != 1 || pv.Errors != 0 || pv.Rows[0].Request.Login != "anna@"+domain || pv.Rows[0].Request.Name != "Anna" {
			t.Errorf("file %q: %+v, %v; want one row for Anna without errors", file, pv, err)
		}
	}
	pv, err := e.ops.ImportCSV(ctx, e.actor, strings.NewReader("address,name,colour\nanna@"+domain+",Anna,red\n"), false)
	if !errors.Is(err, ErrCSVInvalid) || !strings.Contains(fmt.Sprint(err), "colour") {
		t.Errorf("an unknown column: %+v, %v; want ErrCSVInvalid naming it", pv, err)
	}
	pv, err = e.ops.ImportCSV(ctx, e.actor, strings.NewReader("not-an-address,,boss,Bad Group,31/01/2030\n"), false)
	if err != nil || len(pv.Rows) != 1 {
		t.Fatalf("%+v, %v", pv, err)
	}
	if errs := pv.Rows[0].Errs; len(errs) != 5 {
		t.Errorf("a row with five errors shows %d: %q", len(errs), errs)
	}
	// The sample file previews without errors.
	pv, err = e.ops.ImportCSV(ctx, e.actor, strings.NewReader(CSVSample(domain)), false)
	if err != nil || pv.Errors != 0 || len(pv.Rows) < 2 {
		t.Errorf("sample: %+v, %v", pv, err)
	}
}

func (f *recFiles) HandOverGroup(_ context.Context, actor string, groupID int64, name string, to int64) (files.GroupHandover, error) {
	f.add("hand-over-group %s %d %s->%d", actor, groupID, name, to)
	return files.GroupHandover{}, nil
}

// TestExpireDueOnce: RunExpiry on two nodes at once (on PostgreSQL two
// Ops, as two nodes have; on SQLite two calls in one process) suspends
// each expired account once, with one report each.
func TestExpireDueOnce(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	var logins []string
	for i := range 4 {
		login := fmt.Sprintf("temp%d@%s", i, domain)
		if _, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: login, Name: "Temp", Expires: e.Clock.Now().Add(10 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		logins = append(logins, login)
	}
	e.Clock.Advance(11 * 24 * time.Hour)
	other := e.ops
	if dbtest.Engine() == db.Postgres {
		other = NewOps(e.ops.d) // another node: only the database is shared
	}
	var wg, start sync.WaitGroup
	start.Add(2)
	ns := make([]int, 2)
	errs := make([]error, 2)
	for i, o := range []*Ops{e.ops, other} {
		wg.Go(func() {
			start.Done()
			start.Wait()
			ns[i], errs[i] = o.ExpireDue(ctx)
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || ns[0]+ns[1] != len(logins) {
		t.Errorf("suspended %d and %d (%v, %v), want %d in all", ns[0], ns[1], errs[0], errs[1], len(logins))
	}
	recs, _ := e.Audit.List(ctx, audit.Filter{Kind: "admin.expire"})
	per := map[string]int{}
	for _, r := range recs {
		if r.Kind == "admin.expire" {
			per[r.Subject]++
		}
	}
	for _, login := range logins {
		if per[login] != 1 {
			t.Errorf("%s: %d reports of its expiry, want 1", login, per[login])
		}
		if a, _ := e.Auth.AccountByLogin(ctx, login); a.State != auth.StateSuspended {
			t.Errorf("%s: %s", login, a.State)
		}
	}
}
