package auth

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// groupID returns the id of the named group, failing the test if missing.
func groupID(t *testing.T, s *Service, name string) int64 {
	t.Helper()
	gs, err := s.Groups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == name {
			return g.ID
		}
	}
	t.Fatalf("no group %s in %+v", name, gs)
	return 0
}

// A deleted group's id is never given to a new group: file spaces and
// shares are keyed by group id, and SQLite without AUTOINCREMENT reuses
// the largest id.
func TestDeleteGroupIDNotReused(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	anna, _ := invite(t, s, "anna@example.org", RoleMember)
	if err := s.CreateGroup(ctx, testAdmin, "press"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToGroup(ctx, testAdmin, "campaign", anna); err != nil {
		t.Fatal(err)
	}
	old := groupID(t, s, "campaign")
	g, err := s.DeleteGroup(ctx, testAdmin, "Campaign", "files to admin@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != old || g.Name != "campaign" || !slices.Equal(g.Members, []string{"anna@example.org"}) {
		t.Errorf("deleted %+v, want id %d with anna", g, old)
	}
	if gs, _ := s.GroupsOf(ctx, anna); len(gs) != 0 {
		t.Errorf("anna still in %v", gs)
	}
	if _, ok, _ := s.GroupMembers(ctx, "campaign"); ok {
		t.Error("campaign still exists")
	}
	if _, err := s.DeleteGroup(ctx, testAdmin, "campaign", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	// Both ways of making a group: neither takes the old id.
	if err := s.CreateGroup(ctx, testAdmin, "newcomers"); err != nil {
		t.Fatal(err)
	}
	if id := groupID(t, s, "newcomers"); id == old {
		t.Errorf("new group took the deleted group's id %d", id)
	}
	if _, err := s.DeleteGroup(ctx, testAdmin, "newcomers", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToGroup(ctx, testAdmin, "campaign", anna); err != nil {
		t.Fatal(err)
	}
	if id := groupID(t, s, "campaign"); id <= old {
		t.Errorf("recreated campaign has id %d, want above %d", id, old)
	}
	recs, err := s.Audit().List(ctx, audit.Filter{Kind: "group.delete"})
	if err != nil || len(recs) != 2 || recs[1].Actor != testAdmin || recs[1].Detail != "campaign (1 member): files to admin@example.org" {
		t.Errorf("audit: %+v, %v", recs, err)
	}
}

// The migration that makes group ids never reused keeps every group, its
// id and its members.
func TestGroupsMigrationKeepsMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if dbtest.Engine() != db.SQLite {
		t.Skip("a SQLite migration: PostgreSQL's schema starts where it ends")
	}
	d := dbtest.Open(t)
	v3 := Component()
	v3.Migrations = v3.Migrations[:3]
	if err := d.Migrate(ctx, audit.Component(), v3); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO accounts (id, login, display_name, role, state, webauthn_id, created_at) VALUES (7, 'a@example.org', 'A', 'member', 'active', x'01', 0);
		INSERT INTO groups (id, name, created_at) VALUES (3, 'press', 0), (9, 'campaign', 0);
		INSERT INTO group_members VALUES (3, 7), (9, 7);`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, audit.Component(), Component()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM group_members WHERE account_id = 7 AND group_id IN (3, 9)`).Scan(&n); err != nil || n != 2 {
		t.Errorf("members after migration: %d, %v", n, err)
	}
	if _, err := d.ExecContext(ctx, `DELETE FROM groups WHERE id = 9`); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := d.QueryRowContext(ctx, `INSERT INTO groups (name, created_at) VALUES ('new', 0) RETURNING id`).Scan(&id); err != nil || id != 10 {
		t.Errorf("new group id %d, %v; want 10", id, err)
	}
	if err := d.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(new(any), new(any), new(any), new(any)); err == nil {
		t.Error("foreign key violations after the migration")
	}
}
