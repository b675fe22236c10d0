package admin

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
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
