package files_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/audit"
)

func trashNames(t *testing.T, s *files.Store, a files.Actor) string {
	t.Helper()
	items, err := s.Trash(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func audited(t *testing.T, e *filestest.Env, kind, detail string) bool {
	t.Helper()
	recs, err := e.Audit.List(context.Background(), audit.Filter{Kind: kind, Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(r.Detail, detail) {
			return true
		}
	}
	return false
}

// TestMoveOutOfShare is issue 12 item 4: a write recipient who moves part
// of a share into his own home takes a copy of what is live in it; the
// owner keeps the original, its old versions and her trash, with a trash
// entry for what was moved away, and the move is audited.
func TestMoveOutOfShare(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	carol := e.Member(t, "carol@example.org")
	bob := e.Member(t, "bob@example.org")
	home, _ := s.Stat(ctx, carol, "/Home")
	camp, _ := s.Mkdir(ctx, carol, home.ID, "Campaign")
	sub, _ := s.Mkdir(ctx, carol, camp.ID, "Sub")
	secret := put(t, s, carol, "/Home/Campaign/Sub", "secret.txt", "deleted before sharing")
	put(t, s, carol, "/Home/Campaign/Sub", "keep.txt", "old draft")
	put(t, s, carol, "/Home/Campaign/Sub", "keep.txt", "final")
	loose := put(t, s, carol, "/Home/Campaign", "a.txt", "loose file")
	if err := s.Delete(ctx, carol, secret.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Share(ctx, carol, camp.ID, files.Grantee{Login: "bob@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	bobHome, _ := s.Stat(ctx, bob, "/Home")
	moved, err := s.Move(ctx, bob, sub.ID, bobHome.ID, "Sub")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Path != "/Home/Sub" {
		t.Fatalf("moved to %q", moved.Path)
	}
	if got := trashNames(t, s, bob); got != "" {
		t.Fatalf("bob's trash after the move: %q; carol's trash went with the folder", got)
	}
	if got := trashNames(t, s, carol); got != "Sub,secret.txt" {
		t.Fatalf("carol's trash after the move: %q, want Sub,secret.txt (sorted)", got)
	}
	keep, err := s.Stat(ctx, bob, "/Home/Sub/keep.txt")
	if err != nil || read(t, s, bob, keep.ID) != "final" {
		t.Fatalf("bob's copy: %+v %v", keep, err)
	}
	if vs, err := s.Versions(ctx, bob, keep.ID); err != nil || len(vs) != 1 {
		t.Fatalf("bob's copy has %d versions (%v); carol's old versions came with it", len(vs), err)
	}
	if _, err := s.Stat(ctx, bob, "/Home/Sub/secret.txt"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("carol's deleted file in bob's home: %v", err)
	}
	// Carol restores her folder whole, old versions and all.
	if _, err := s.Restore(ctx, carol, sub.ID); err != nil {
		t.Fatal(err)
	}
	ck, err := s.Stat(ctx, carol, "/Home/Campaign/Sub/keep.txt")
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.Versions(ctx, carol, ck.ID); len(vs) != 2 {
		t.Fatalf("carol's keep.txt has %d versions, want 2", len(vs))
	}
	if _, err := s.Restore(ctx, carol, secret.ID); err != nil {
		t.Fatalf("carol restores her own deleted file: %v", err)
	}

	// A single file moved out of the share leaves carol a trash entry.
	if _, err := s.Move(ctx, bob, loose.ID, bobHome.ID, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if got := trashNames(t, s, carol); got != "a.txt" {
		t.Fatalf("carol's trash after bob took a.txt: %q", got)
	}
	if !audited(t, e, "files.move", "/Shared/carol@example.org/Campaign/a.txt") {
		t.Fatal("the move out of carol's share is not in the audit log")
	}
	// A rename inside the share stays carol's and is audited.
	if _, err := s.Rename(ctx, bob, ck.ID, "kept.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, carol, "/Home/Campaign/Sub/kept.txt"); err != nil {
		t.Fatal(err)
	}
	if !audited(t, e, "files.move", "kept.txt") {
		t.Fatal("the rename in carol's share is not in the audit log")
	}
}

// TestMoveOutOfGroup: what a member moves from a group folder into their
// home is a copy; the group's trash and versions stay the group's.
func TestMoveOutOfGroup(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	for _, a := range []files.Actor{alice, bob} {
		if err := e.Auth.AddToGroup(ctx, "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := s.Stat(ctx, alice, "/Groups/board")
	docs, _ := s.Mkdir(ctx, alice, g.ID, "Docs")
	old := put(t, s, alice, "/Groups/board/Docs", "old.txt", "old")
	put(t, s, alice, "/Groups/board/Docs", "minutes.txt", "m")
	if err := s.Delete(ctx, alice, old.ID); err != nil {
		t.Fatal(err)
	}
	bobHome, _ := s.Stat(ctx, bob, "/Home")
	if _, err := s.Move(ctx, bob, docs.ID, bobHome.ID, "Docs"); err != nil {
		t.Fatal(err)
	}
	if got := trashNames(t, s, bob); got != "Docs,old.txt" {
		// bob is a member: he sees the group's trash, never in his home.
		t.Fatalf("bob's trash: %q", got)
	}
	items, _ := s.Trash(ctx, bob)
	for _, it := range items {
		if it.Space.Kind != files.SpaceGroup {
			t.Fatalf("trash item %q in %+v, want the group's", it.Name, it.Space)
		}
	}
	if _, err := s.Stat(ctx, bob, "/Home/Docs/minutes.txt"); err != nil {
		t.Fatal(err)
	}
	if !audited(t, e, "files.move", "/Groups/board/Docs") {
		t.Fatal("the move out of the group folder is not audited")
	}
}
