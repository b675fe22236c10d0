package admin

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/route"
)

// newFrozenEnv is Ops with the real file store and routes following
// incident mode's switch, as the server wires them.
func newFrozenEnv(t *testing.T) *groupEnv {
	t.Helper()
	env := authtest.New(t, auth.Config{}, route.Component(), files.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &groupEnv{Env: env}
	e.files = files.New(env.DB, blobs, files.Options{Now: env.Clock.Now}, files.Deps{Auth: env.Auth, Audit: env.Audit, Freeze: NewFreeze(env.DB)})
	e.dir = route.New(env.DB, env.Auth, []string{domain}, env.Clock.Now)
	e.dir.SetFreeze(NewFreeze(env.DB))
	e.ops = NewOps(OpsDeps{Auth: env.Auth, DB: env.DB, Route: e.dir, Files: e.files, Log: log, Now: env.Clock.Now})
	e.admin = env.User(t, "boss@"+domain, auth.RoleAdmin)
	e.actor = Actor{Login: e.admin.Account.Login, AccountID: e.admin.Account.ID}
	return e
}

// TestIncidentFreezes: while incident mode is on, a forwarding rule to
// an outside address and a new public link are refused; once it is
// lifted, both are allowed.
func TestIncidentFreezes(t *testing.T) {
	t.Parallel()
	e := newFrozenEnv(t)
	ctx := t.Context()
	anna := e.User(t, "anna@"+domain, auth.RoleMember)
	f := e.put(t, actorOf(anna), "/Home", "minutes.txt", "x")
	if _, err := e.ops.Incident(ctx, e.actor, true); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.SetForwarding(ctx, e.actor.Login, anna.Account.ID, "anna@example.net", false); !errors.Is(err, route.ErrFrozen) {
		t.Errorf("an outside forward during incident mode: %v, want route.ErrFrozen", err)
	}
	if _, _, err := e.files.CreateLink(ctx, actorOf(anna), f.ID, files.LinkOptions{}); !errors.Is(err, files.ErrFrozen) {
		t.Errorf("a public link during incident mode: %v, want files.ErrFrozen", err)
	}
	if _, err := e.ops.Incident(ctx, e.actor, false); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.SetForwarding(ctx, e.actor.Login, anna.Account.ID, "anna@example.net", false); err != nil {
		t.Errorf("an outside forward after incident mode: %v", err)
	}
	if _, _, err := e.files.CreateLink(ctx, actorOf(anna), f.ID, files.LinkOptions{}); err != nil {
		t.Errorf("a public link after incident mode: %v", err)
	}
}

// countBackup is a Backup that counts its calls.
type countBackup struct{ n atomic.Int32 }

func (b *countBackup) Backup(context.Context) (backup.Result, error) {
	b.n.Add(1)
	return backup.Result{ID: "20260601T100000Z-test", Files: 7, Size: 4096}, nil
}

// TestIncidentPrepared: the message prepared in advance is kept per
// language (refused: an unknown language, a subject without text, too
// long), and a member gets it in their language, else the party's, else
// English. Switching incident mode on takes a backup at once and the
// report says the members are told with it.
func TestIncidentPrepared(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	b := &countBackup{}
	d := e.ops.Deps()
	d.Backup, d.Language = b, "it"
	ops := NewOps(d)
	for name, m := range map[string][3]string{
		"unknown language":  {"xx", "S", "B"},
		"subject only":      {"en", "S", ""},
		"subject too long":  {"en", strings.Repeat("s", MaxIncidentSubject+1), "B"},
		"subject two lines": {"en", "S\r\nBcc: eve@example.net", "B"},
		"body too long":     {"en", "S", strings.Repeat("b", MaxIncidentBody+1)},
	} {
		if err := ops.SetIncidentMessage(ctx, e.actor, m[0], m[1], m[2]); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("%s: %v, want it refused", name, err)
		}
	}
	if lang, _, _, err := ops.PreparedIncidentMessage(ctx, "fr"); err != nil || lang != "" {
		t.Errorf("nothing prepared: %q %v", lang, err)
	}
	for _, m := range [][3]string{{"en", "Security incident", "We are dealing with an incident."}, {"it", "Incidente", "Stiamo gestendo un incidente."}} {
		if err := ops.SetIncidentMessage(ctx, e.actor, m[0], m[1], m[2]); err != nil {
			t.Fatal(err)
		}
	}
	for lang, want := range map[string]string{"it": "it", "fr": "it", "": "it", "en": "en"} {
		if got, _, body, err := ops.PreparedIncidentMessage(ctx, lang); err != nil || got != want || body == "" {
			t.Errorf("a member in %q gets the message in %q (%v), want %q", lang, got, err, want)
		}
	}
	rep, err := ops.Incident(ctx, e.actor, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Text())
	}
	if b.n.Load() != 1 {
		t.Errorf("%d backups at the switch, want 1", b.n.Load())
	}
	got := outcomes(rep)
	for _, s := range []string{stepFrozen, stepBackup, stepTold} {
		if got[s] != OutcomeOK {
			t.Errorf("step %q: %q\n%s", s, got[s], rep.Text())
		}
	}
	if !strings.Contains(rep.Text(), "en, it") {
		t.Errorf("the report does not say the prepared message's languages:\n%s", rep.Text())
	}
	if err := ops.SetIncidentMessage(ctx, e.actor, "it", "", ""); err != nil {
		t.Fatal(err)
	}
	if ms, _ := ops.IncidentMessages(ctx); len(ms) != 1 || ms[0].Lang != "en" {
		t.Errorf("after removing the Italian message: %+v", ms)
	}
}

// TestIncidentChecklist: during incident mode the checklist shows what
// caucus did as done, and the items left to people as ticked or not;
// ticks are kept (a new Ops sees them), an item caucus does cannot be
// ticked, there is no checklist outside incident mode, and a new
// incident starts with no ticks.
func TestIncidentChecklist(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	if _, err := e.ops.IncidentChecklist(ctx); !errors.Is(err, ErrNoIncident) {
		t.Errorf("checklist outside incident mode: %v", err)
	}
	if err := e.ops.TickIncidentItem(ctx, e.actor, "lead", true); !errors.Is(err, ErrNoIncident) {
		t.Errorf("a tick outside incident mode: %v", err)
	}
	if _, err := e.ops.Incident(ctx, e.actor, true); err != nil {
		t.Log(err) // no backup configured: skipped, not failed
	}
	for _, id := range []string{"signout", "nonsense"} {
		if err := e.ops.TickIncidentItem(ctx, e.actor, id, true); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("ticking %q: %v, want it refused", id, err)
		}
	}
	if err := e.ops.TickIncidentItem(ctx, e.actor, "lead", true); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.TickIncidentItem(ctx, e.actor, "evidence", true); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.TickIncidentItem(ctx, e.actor, "evidence", false); err != nil {
		t.Fatal(err)
	}
	items, err := NewOps(e.ops.Deps()).IncidentChecklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, it := range items {
		switch {
		case it.Failed:
			state[it.ID] = "failed"
		case it.Done:
			state[it.ID] = "done"
		default:
			state[it.ID] = "open"
		}
		if it.Words.English() == "" || it.Guide == "" {
			t.Errorf("item %s has no words or guide", it.ID)
		}
	}
	want := map[string]string{"signout": "done", "links": "done", "forwarding": "done", "backup": "open", "members": "done", "lead": "done", "evidence": "open", "review": "open"}
	for id, w := range want {
		if state[id] != w {
			t.Errorf("item %s is %s, want %s", id, state[id], w)
		}
	}
	if _, err := e.ops.Incident(ctx, e.actor, false); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Hour)
	if _, err := e.ops.Incident(ctx, e.actor, true); err != nil {
		t.Log(err)
	}
	items, err = e.ops.IncidentChecklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.ID == "lead" && it.Done {
			t.Error("a new incident starts with the last one's ticks")
		}
	}
}

// leavingBackup is a Backup during which the admin's browser goes away:
// it cancels the request's context, then reports whether it was still
// allowed to finish.
type leavingBackup struct{ cancel context.CancelFunc }

func (b leavingBackup) Backup(ctx context.Context) (backup.Result, error) {
	b.cancel()
	return backup.Result{ID: "x"}, ctx.Err()
}

// TestIncidentOutlivesRequest: incident mode, once switched on, runs to
// its end when the admin's browser goes away during the (long) backup:
// the backup finishes, the report is kept and the audit record that
// mails the members is written.
func TestIncidentOutlivesRequest(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx, cancel := context.WithCancel(t.Context())
	d := e.ops.Deps()
	d.Backup = leavingBackup{cancel: cancel}
	rep, err := NewOps(d).Incident(ctx, e.actor, true)
	if err != nil || rep.ID == 0 {
		t.Fatalf("incident mode with the browser gone: %v, report %d\n%s", err, rep.ID, rep.Text())
	}
	if recs, _ := e.Audit.List(t.Context(), audit.Filter{Kind: "admin.incident.on"}); len(recs) == 0 || recs[0].Kind != "admin.incident.on" {
		t.Errorf("no admin.incident.on record: %+v", recs)
	}
}
