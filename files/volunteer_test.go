package files_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestVolunteerLinks: a volunteer's public link lasts at most a week (by
// default too); a member's may last longer.
func TestVolunteerLinks(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	u := e.User(t, "vol@example.org", auth.RoleVolunteer)
	vol := files.Actor{ID: u.Account.ID, Login: u.Account.Login}
	member := e.Member(t, "anna@example.org")
	fv := put(t, s, vol, "/Home", "flyer.pdf", "x")
	fm := put(t, s, member, "/Home", "flyer.pdf", "x")
	now := e.Clock.Now()
	if _, _, err := s.CreateLink(ctx, vol, fv.ID, files.LinkOptions{ExpiresAt: now.Add(8 * 24 * time.Hour)}); !errors.Is(err, files.ErrLifetime) {
		t.Errorf("a volunteer's 8-day link: %v, want ErrLifetime", err)
	}
	_, l, err := s.CreateLink(ctx, vol, fv.ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.ExpiresAt.After(now.Add(auth.VolunteerLinkDays * 24 * time.Hour)) {
		t.Errorf("a volunteer's default link lasts until %v", l.ExpiresAt)
	}
	if _, _, err := s.CreateLink(ctx, member, fm.ID, files.LinkOptions{ExpiresAt: now.Add(8 * 24 * time.Hour)}); err != nil {
		t.Errorf("a member's 8-day link: %v", err)
	}
}
