package files_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestVersionsFollowShare is issue 12 item 11: a read-only recipient sees
// only a file's current version; a read-write recipient sees the versions
// made since the share (and the current one), never the owner's earlier
// drafts; the owner sees them all.
func TestVersionsFollowShare(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	carol := e.Member(t, "carol@example.org")
	bob := e.Member(t, "bob@example.org")
	dave := e.Member(t, "dave@example.org")
	home, _ := s.Stat(ctx, carol, "/Home")
	dir, _ := s.Mkdir(ctx, carol, home.ID, "Speech")
	put(t, s, carol, "/Home/Speech", "speech.txt", "draft 1: the embarrassing one")
	e.Clock.Advance(time.Minute)
	f := put(t, s, carol, "/Home/Speech", "speech.txt", "draft 2")
	e.Clock.Advance(time.Minute)
	if _, err := s.Share(ctx, carol, dir.ID, files.Grantee{Login: "bob@example.org"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Share(ctx, carol, dir.ID, files.Grantee{Login: "dave@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	put(t, s, dave, "/Shared/carol@example.org/Speech", "speech.txt", "draft 3 by dave")

	all, err := s.Versions(ctx, carol, f.ID)
	if err != nil || len(all) != 3 {
		t.Fatalf("carol's versions: %d %v", len(all), err)
	}
	first, second := all[2].ID, all[1].ID

	bv, err := s.Versions(ctx, bob, f.ID)
	if err != nil || len(bv) != 1 || !bv[0].Current {
		t.Fatalf("read-only bob sees %d versions (%v), want the current one", len(bv), err)
	}
	if n, _ := s.Node(ctx, bob, f.ID); n.Versions != 1 {
		t.Fatalf("bob's node says %d versions", n.Versions)
	}
	if _, _, err := s.OpenVersion(ctx, bob, f.ID, first); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("read-only bob opens the first draft: %v", err)
	}
	dv, err := s.Versions(ctx, dave, f.ID)
	if err != nil || len(dv) != 1 {
		t.Fatalf("dave sees %d versions (%v), want only his own since the share", len(dv), err)
	}
	for _, id := range []int64{first, second} {
		if _, _, err := s.OpenVersion(ctx, dave, f.ID, id); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("dave opens version %d from before the share: %v", id, err)
		}
		if _, err := s.RestoreVersion(ctx, dave, f.ID, id); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("dave restores version %d from before the share: %v", id, err)
		}
	}
	if rc, _, err := s.OpenVersion(ctx, carol, f.ID, first); err != nil {
		t.Fatalf("carol opens her first draft: %v", err)
	} else {
		rc.Close()
	}
}
