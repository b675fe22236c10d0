package auth

import (
	"errors"
	"slices"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
)

func TestCreateRenameGroup(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	id, _ := invite(t, s, "anna@example.org", RoleMember)
	if err := s.CreateGroup(ctx, testAdmin, " Press "); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, testAdmin, "press"); !errors.Is(err, ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "Bad Name", "a/b", string(make([]byte, 65))} {
		if err := s.CreateGroup(ctx, testAdmin, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("create %q: %v, want ErrInvalid", bad, err)
		}
	}
	if err := s.AddToGroup(ctx, testAdmin, "press", id); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, testAdmin, "campaign"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameGroup(ctx, testAdmin, "press", "campaign"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto another group: %v", err)
	}
	if err := s.RenameGroup(ctx, testAdmin, "nosuch", "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename a missing group: %v", err)
	}
	if err := s.RenameGroup(ctx, testAdmin, "press", "bad name"); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename to a bad name: %v", err)
	}
	if err := s.RenameGroup(ctx, testAdmin, "Press", "media"); err != nil {
		t.Fatal(err)
	}
	if gs, _ := s.GroupsOf(ctx, id); !slices.Equal(gs, []string{"media"}) {
		t.Errorf("groups after rename: %v (members must stay)", gs)
	}
	for kind, detail := range map[string]string{"group.create": "campaign", "group.rename": "press -> media"} {
		recs, err := s.Audit().List(ctx, audit.Filter{Kind: kind})
		if err != nil || len(recs) == 0 || recs[0].Actor != testAdmin || recs[0].Detail != detail {
			t.Errorf("audit %s: %+v, %v", kind, recs, err)
		}
	}
}

func TestAccountGroups(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	anna, _ := invite(t, s, "anna@example.org", RoleMember)
	ben, _ := invite(t, s, "ben@example.org", RoleMember)
	for _, g := range []string{"press", "board", "campaign"} {
		if err := s.CreateGroup(ctx, testAdmin, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		group string
		id    int64
	}{{"press", anna}, {"board", anna}, {"board", ben}, {"campaign", ben}} {
		if err := s.AddToGroup(ctx, testAdmin, m.group, m.id); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, g := range all {
		ids[g.Name] = g.ID
	}
	got, err := s.AccountGroups(ctx, anna)
	want := []Group{{ID: ids["board"], Name: "board"}, {ID: ids["press"], Name: "press"}}
	if err != nil || !slices.EqualFunc(got, want, func(a, b Group) bool { return a.ID == b.ID && a.Name == b.Name && a.Members == nil }) {
		t.Errorf("AccountGroups(anna) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.AccountGroups(ctx, 9999); err != nil || len(got) != 0 {
		t.Errorf("AccountGroups of no account = %+v, %v; want none", got, err)
	}
}
