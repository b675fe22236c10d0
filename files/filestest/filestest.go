// Package filestest builds a real file store on a temporary database and
// blob directory for the tests of files, files/dav and files/fileweb.
package filestest

import (
	"path/filepath"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/blob"
)

// Env is a store with its auth environment.
type Env struct {
	*authtest.Env
	Store   *files.Store
	BlobDir string
}

// New builds an Env; opts.Now defaults to the test clock.
func New(t testing.TB, opts files.Options) *Env {
	t.Helper()
	ae := authtest.New(t, auth.Config{}, files.Component())
	dir := filepath.Join(t.TempDir(), "blobs", "files")
	bs, err := blob.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Now == nil {
		opts.Now = ae.Clock.Now
	}
	st := files.New(ae.DB, bs, opts, files.Deps{Auth: ae.Auth, Audit: ae.Audit})
	return &Env{Env: ae, Store: st, BlobDir: dir}
}

// Member enrols login as a member and returns the Actor for it.
func (e *Env) Member(t testing.TB, login string) files.Actor {
	t.Helper()
	u := e.User(t, login, auth.RoleMember)
	return files.Actor{ID: u.Account.ID, Login: u.Account.Login}
}

// Person enrols login as a member and returns the person (for app passwords
// and sessions) with its Actor.
func (e *Env) Person(t testing.TB, login string) (*authtest.User, files.Actor) {
	t.Helper()
	u := e.User(t, login, auth.RoleMember)
	return u, files.Actor{ID: u.Account.ID, Login: u.Account.Login}
}
