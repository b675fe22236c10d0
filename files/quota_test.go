package files_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestQuotaMeasuresContents is issue 21's quota: a space's usage is the
// size of each content it holds, current, older version or trash, counted
// once however many of its files, versions or trashed copies share it.
// So a copy inside the space, a trashed copy and a restored version cost
// nothing more; a copy into another space counts there in full.
func TestQuotaMeasuresContents(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	if err := s.SetQuota(ctx, "admin@example.org", alice.ID, 100); err != nil {
		t.Fatal(err)
	}
	usage := func(want int64) {
		t.Helper()
		if u, _, err := s.Usage(ctx, alice.ID); err != nil || u != want {
			t.Fatalf("usage %d (%v), want %d", u, err, want)
		}
	}
	home, _ := s.Stat(ctx, alice, "/Home")
	a := put(t, s, alice, "/Home", "a.txt", strings.Repeat("a", 60))
	c, err := s.Copy(ctx, alice, a.ID, home.ID, "copy.txt")
	if err != nil {
		t.Fatalf("a copy inside the space, 60 of 100 bytes used: %v", err)
	}
	usage(60)
	if err := s.Delete(ctx, alice, c.ID); err != nil {
		t.Fatal(err)
	}
	usage(60) // the trashed copy holds the same content
	put(t, s, alice, "/Home", "a.txt", strings.Repeat("b", 30))
	usage(90)
	vs, _ := s.Versions(ctx, alice, a.ID)
	if _, err := s.RestoreVersion(ctx, alice, a.ID, vs[1].ID); err != nil {
		t.Fatalf("restoring a version the space holds, 90 of 100 used: %v", err)
	}
	usage(90)
	// Into a group folder with its own quota: counted there in full.
	if err := e.Auth.AddToGroup(ctx, "", "press", alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGroupQuota(ctx, "admin@example.org", "press", 50); err != nil {
		t.Fatal(err)
	}
	g, _ := s.Stat(ctx, alice, "/Groups/press")
	if _, err := s.Copy(ctx, alice, a.ID, g.ID, "a.txt"); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("60 bytes into a 50-byte group folder: %v", err)
	}
}
