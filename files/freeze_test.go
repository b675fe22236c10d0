package files_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/blob"
)

// switchFreeze is a Freeze a test turns on and off.
type switchFreeze struct {
	on  atomic.Bool
	err error
}

func (f *switchFreeze) Frozen(context.Context) (bool, error) { return f.on.Load(), f.err }

// TestFreezeLinks: during incident mode no new public link is made (the
// existing ones are suspended by admin's incident switch); after it, a
// link is made again. A switch that cannot be read refuses too.
func TestFreezeLinks(t *testing.T) {
	t.Parallel()
	ae := authtest.New(t, auth.Config{}, files.Component())
	bs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	var f switchFreeze
	s := files.New(ae.DB, bs, files.Options{Now: ae.Clock.Now}, files.Deps{Auth: ae.Auth, Audit: ae.Audit, Freeze: &f})
	ctx := t.Context()
	u := ae.User(t, "anna@example.org", auth.RoleMember)
	anna := files.Actor{ID: u.Account.ID, Login: u.Account.Login}
	n := put(t, s, anna, "/Home", "press.pdf", "x")
	f.on.Store(true)
	if _, _, err := s.CreateLink(ctx, anna, n.ID, files.LinkOptions{}); !errors.Is(err, files.ErrFrozen) || !errors.Is(err, files.ErrForbidden) {
		t.Errorf("a public link during incident mode: %v, want ErrFrozen (an ErrForbidden)", err)
	}
	if links, err := s.LinksOf(ctx, anna.ID); err != nil || len(links) != 0 {
		t.Errorf("links after the refusal: %v %v", links, err)
	}
	f.on.Store(false)
	if _, _, err := s.CreateLink(ctx, anna, n.ID, files.LinkOptions{}); err != nil {
		t.Errorf("a public link after incident mode: %v", err)
	}
	f.err = errors.New("database gone")
	if _, _, err := s.CreateLink(ctx, anna, n.ID, files.LinkOptions{}); err == nil {
		t.Error("a public link was made while the incident switch could not be read")
	}
}
