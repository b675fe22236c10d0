package admin

import (
	"errors"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestRoleActions: an admin makes a role mailbox for a free address of
// the party, grants and revokes access, each audited; taken or foreign
// addresses and grants to people who left are refused.
func TestRoleActions(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	alice := e.User(t, "alice@"+domain, auth.RoleMember)
	if err := e.Auth.AddToGroup(ctx, "test", "board", alice.Account.ID); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"alice@" + domain, "board@" + domain, "postmaster@" + domain, "press@elsewhere.example", "not an address", "press+x@" + domain} {
		if _, err := e.ops.CreateRole(ctx, e.actor, addr, "x"); !errors.Is(err, ErrRoleAddress) {
			t.Errorf("CreateRole(%q): %v, want ErrRoleAddress", addr, err)
		}
	}
	ro, err := e.ops.CreateRole(ctx, e.actor, "Press@"+domain, "Press office")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ops.CreateRole(ctx, e.actor, "press@"+domain, "again"); !errors.Is(err, ErrRoleAddress) {
		t.Errorf("second CreateRole: %v", err)
	}
	if err := e.ops.GrantRole(ctx, e.actor, ro.ID, alice.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.GrantRole(ctx, e.actor, ro.ID, 1<<40, false); !errors.Is(err, ErrRoleMember) {
		t.Errorf("grant to nobody: %v", err)
	}
	list, err := e.ops.RoleMailboxes(ctx)
	if err != nil || len(list) != 1 || len(list[0].Grants) != 1 || list[0].Grants[0].Account.Login != alice.Account.Login {
		t.Fatalf("RoleMailboxes %+v, %v", list, err)
	}
	if err := e.ops.RevokeRole(ctx, e.actor, ro.ID, alice.Account.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.RevokeRole(ctx, e.actor, ro.ID, alice.Account.ID); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	for kind, subject := range map[string]string{"role.create": "press@" + domain, "role.grant": alice.Account.Login, "role.revoke": alice.Account.Login} {
		recs, err := e.Audit.List(ctx, audit.Filter{Kind: kind})
		if err != nil || len(recs) != 1 || recs[0].Actor != e.actor.Login || recs[0].Subject != subject {
			t.Errorf("audit %s: %+v, %v", kind, recs, err)
		}
	}
	// Mail to the role now goes to it, not nowhere.
	if _, err := e.ops.CreateRole(ctx, e.actor, "press@"+domain, ""); !errors.Is(err, ErrRoleAddress) {
		t.Errorf("taken: %v", err)
	}
	// Nobody can be invited under a role's address.
	if _, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: "press@" + domain, Name: "Press"}); !errors.Is(err, ErrRoleAddress) {
		t.Errorf("invite under the role's address: %v, want ErrRoleAddress", err)
	}
	// A person who left cannot be granted it.
	bob := e.User(t, "bob@"+domain, auth.RoleMember)
	if err := e.Auth.SetState(ctx, "test", bob.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.GrantRole(ctx, e.actor, ro.ID, bob.Account.ID, true); !errors.Is(err, ErrRoleMember) {
		t.Errorf("grant to an offboarded person: %v", err)
	}
}
