package files_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/audit"
)

// Deleting a group hands its folder to the chosen person, revokes the
// shares and links of what was in it and the shares with the group, and
// leaves nothing that a group made later could see.
func TestHandOverGroup(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	carol := e.Member(t, "carol@example.org")
	dave := e.Member(t, "dave@example.org")
	for _, a := range []files.Actor{alice, bob} {
		if err := e.Auth.AddToGroup(ctx, "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	gf := put(t, s, alice, "/Groups/board", "minutes.txt", "m")
	g, _ := s.Stat(ctx, alice, "/Groups/board")
	if _, err := s.Mkdir(ctx, bob, g.ID, "2026"); err != nil {
		t.Fatal(err)
	}
	put(t, s, bob, "/Groups/board/2026", "budget.txt", "bb")
	if _, err := s.Share(ctx, alice, gf.ID, files.Grantee{Login: "carol@example.org"}, false); err != nil {
		t.Fatal(err)
	}
	mine := put(t, s, alice, "/Home", "agenda.txt", "a")
	if _, err := s.Share(ctx, alice, mine.ID, files.Grantee{Group: "board"}, false); err != nil {
		t.Fatal(err)
	}
	token, _, err := s.CreateLink(ctx, alice, gf.ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetGroupQuota(ctx, "admin@example.org", "board", 1000); err != nil {
		t.Fatal(err)
	}
	put(t, s, dave, "/Home", "board", "dave's own file of that name")

	gid, err := e.Auth.GroupID(ctx, "board")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.HandOverGroup(ctx, "admin@example.org", gid, "board", dave.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := files.GroupHandover{Folder: "/Home/board (2)", Files: 2, Folders: 1, Bytes: 3, SharesRevoked: 2, LinksRevoked: 1}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	if _, err := e.Auth.DeleteGroup(ctx, "admin@example.org", "board", ""); err != nil {
		t.Fatal(err)
	}
	// Dave has everything, with its content.
	n, err := s.Stat(ctx, dave, "/Home/board (2)/minutes.txt")
	if err != nil || n.ID != gf.ID || read(t, s, dave, n.ID) != "m" {
		t.Fatalf("dave's copy %+v %v", n, err)
	}
	if _, err := s.Stat(ctx, dave, "/Home/board (2)/2026/budget.txt"); err != nil {
		t.Fatal(err)
	}
	// Nobody else reaches it any more, by path, id, share or link.
	for _, a := range []files.Actor{alice, bob, carol} {
		if _, err := s.Node(ctx, a, gf.ID); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("%s reads the handed-over file: %v", a.Login, err)
		}
	}
	if with, err := s.SharedWith(ctx, carol); err != nil || len(with) != 0 {
		t.Errorf("shared with carol: %+v %v", with, err)
	}
	if sh, err := s.SharesOf(ctx, alice.ID); err != nil || len(sh) != 0 {
		t.Errorf("alice's shares: %+v %v", sh, err)
	}
	if _, _, err := s.ResolveLink(ctx, token); err == nil {
		t.Error("the group file's link still works")
	}
	// A group made now sees none of it, not even with the deleted id.
	if err := e.Auth.AddToGroup(ctx, "", "press", carol.ID); err != nil {
		t.Fatal(err)
	}
	if ls, err := s.List(ctx, carol, "/Groups/press"); err != nil || len(ls) != 0 {
		t.Errorf("new group's folder: %v %v", names(ls), err)
	}
	if with, err := s.SharedWith(ctx, carol); err != nil || len(with) != 0 {
		t.Errorf("shared with the new group: %+v %v", with, err)
	}
	if _, quota, err := s.GroupUsage(ctx, "press"); err != nil || quota == 1000 {
		t.Errorf("new group's quota %d %v", quota, err)
	}
	// A second pass (for what arrived meanwhile) finds nothing to move.
	if rep, err := s.HandOverGroup(ctx, "admin@example.org", gid, "board", dave.ID); err != nil || rep != (files.GroupHandover{}) {
		t.Errorf("second pass %+v %v", rep, err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "files.group_handover"})
	if err != nil || len(recs) != 1 || recs[0].Subject != "board" {
		t.Errorf("audit %+v %v", recs, err)
	}
}

// A download of a group's file under way when the group is deleted ends
// at its next read; one of a home file goes on.
func TestHandOverGroupCutsReads(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{InlineBytes: -1})
	s, ctx := e.Store, t.Context()
	bob := e.Member(t, "bob@example.org")
	dave := e.Member(t, "dave@example.org")
	if err := e.Auth.AddToGroup(ctx, "", "board", bob.ID); err != nil {
		t.Fatal(err)
	}
	gf := put(t, s, bob, "/Groups/board", "big.txt", strings.Repeat("x", 1000))
	hf := put(t, s, bob, "/Home", "mine.txt", strings.Repeat("y", 1000))
	group, _, err := s.Open(ctx, bob, gf.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	home, _, err := s.Open(ctx, bob, hf.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	buf := make([]byte, 100)
	for _, r := range []io.Reader{group, home} {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
	}
	gid, _ := e.Auth.GroupID(ctx, "board")
	if _, err := s.HandOverGroup(ctx, "admin@example.org", gid, "board", dave.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Read(buf); !errors.Is(err, files.ErrGroupDeleted) {
		t.Errorf("read of the group's file after the hand-over: %v", err)
	}
	if rest, err := io.ReadAll(home); err != nil || len(rest) != 900 {
		t.Errorf("home file: %d bytes, %v", len(rest), err)
	}
}
