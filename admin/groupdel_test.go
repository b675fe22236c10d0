package admin

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/route"
)

// groupEnv is Ops with the real file store and routes.
type groupEnv struct {
	*authtest.Env
	ops   *Ops
	files *files.Store
	dir   *route.Directory
	admin *authtest.User
	actor Actor
}

func newGroupEnv(t *testing.T) *groupEnv {
	t.Helper()
	env := authtest.New(t, auth.Config{}, route.Component(), files.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &groupEnv{Env: env}
	e.files = files.New(env.DB, blobs, files.Options{Now: env.Clock.Now}, files.Deps{Auth: env.Auth, Audit: env.Audit})
	e.dir = route.New(env.DB, env.Auth, []string{domain}, env.Clock.Now)
	e.ops = NewOps(OpsDeps{Auth: env.Auth, DB: env.DB, Route: e.dir, Files: e.files, Log: log, Now: env.Clock.Now})
	e.admin = env.User(t, "boss@"+domain, auth.RoleAdmin)
	e.actor = Actor{Login: e.admin.Account.Login, AccountID: e.admin.Account.ID}
	return e
}

func (e *groupEnv) put(t *testing.T, a files.Actor, dir, name, content string) files.Node {
	t.Helper()
	parent, err := e.files.Stat(t.Context(), a, dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.files.Put(t.Context(), a, parent.ID, name, strings.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func actorOf(u *authtest.User) files.Actor {
	return files.Actor{ID: u.Account.ID, Login: u.Account.Login}
}

// Deleting a group: its files go to the person the admin chose (by
// default the admin), its members lose the folder, its list address stops,
// a new group gets a new id and none of the old files, and the audit log
// and the report say what was done.
func TestDeleteGroup(t *testing.T) {
	t.Parallel()
	e := newGroupEnv(t)
	ctx := t.Context()
	anna := e.User(t, "anna@"+domain, auth.RoleMember)
	bea := e.User(t, "bea@"+domain, auth.RoleMember)
	for _, u := range []*authtest.User{anna, bea} {
		if err := e.Auth.AddToGroup(ctx, "", "campaign", u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	plan := e.put(t, actorOf(anna), "/Groups/campaign", "plan.txt", "secret plan")
	old, _ := e.Auth.GroupID(ctx, "campaign")

	// The CLI has no account: it must say who gets the files.
	if _, err := e.ops.DeleteGroup(ctx, CLIActor("root"), "campaign", 0); !errors.Is(err, ErrBadOptions) {
		t.Errorf("CLI without recipient: %v", err)
	}
	if _, err := e.ops.DeleteGroup(ctx, e.actor, "nosuch", 0); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("missing group: %v", err)
	}
	rep, err := e.ops.DeleteGroup(ctx, e.actor, "Campaign", bea.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name+"="+s.Outcome)
	}
	if want := []string{"group files handed over=ok", "group deleted=ok", "mail routes removed=ok"}; !slices.Equal(names, want) {
		t.Errorf("steps %v, want %v", names, want)
	}
	// Bea has the file; anna lost it with the group.
	n, err := e.files.Stat(ctx, actorOf(bea), "/Home/campaign/plan.txt")
	if err != nil || n.ID != plan.ID {
		t.Fatalf("bea's file: %+v %v", n, err)
	}
	if _, err := e.files.Node(ctx, actorOf(anna), plan.ID); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("anna still reads the file: %v", err)
	}
	if _, err := e.dir.Resolve(ctx, "campaign@"+domain); !errors.Is(err, route.ErrUnknown) {
		t.Errorf("list address: %v", err)
	}
	// A new group: a new id, an empty folder.
	if err := e.Auth.AddToGroup(ctx, "", "newgroup", anna.Account.ID); err != nil {
		t.Fatal(err)
	}
	if id, _ := e.Auth.GroupID(ctx, "newgroup"); id == old {
		t.Errorf("new group reuses id %d", id)
	}
	if ls, err := e.files.List(ctx, actorOf(anna), "/Groups/newgroup"); err != nil || len(ls) != 0 {
		t.Errorf("new group's folder: %d items, %v", len(ls), err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "group.delete"})
	if err != nil || len(recs) != 1 || recs[0].Actor != e.actor.Login ||
		recs[0].Detail != "campaign (2 members): 1 files, 0 folders (11 bytes) to bea@example-party.org in /Home/campaign; 0 shares and 0 links revoked" {
		t.Errorf("audit %+v %v", recs, err)
	}
	if saved, err := e.ops.Report(ctx, rep.ID); err != nil || saved.Kind != "group.delete" || saved.Subject != "campaign" {
		t.Errorf("saved report %+v %v", saved, err)
	}

	// By default the files go to the admin who deletes the group.
	e.put(t, actorOf(anna), "/Groups/newgroup", "notes.txt", "n")
	if _, err := e.ops.DeleteGroup(ctx, e.actor, "newgroup", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.files.Stat(ctx, files.Actor{ID: e.admin.Account.ID, Login: e.admin.Account.Login}, "/Home/newgroup/notes.txt"); err != nil {
		t.Errorf("admin's copy: %v", err)
	}
}
