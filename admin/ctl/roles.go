package ctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/mail/store"
)

// Operations on role mailboxes (press@, info@): `caucus admin roles`,
// `role-create`, `role-grant` and `role-revoke`, calling package admin's
// functions that the console's role mailboxes page calls.
const (
	OpRoles      = "roles"
	OpRoleCreate = "role-create"
	OpRoleGrant  = "role-grant"
	OpRoleRevoke = "role-revoke"
)

// RoleArgs names a role mailbox by address, and for a grant or a
// revocation the member.
type RoleArgs struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`  // role-create: the name people see
	Login   string `json:"login,omitempty"` // role-grant, role-revoke
	SendAs  bool   `json:"send_as,omitempty"`
}

// RoleRow is one role mailbox and who may use it.
type RoleRow struct {
	Address string      `json:"address"`
	Name    string      `json:"name,omitempty"`
	Grants  []RoleGrant `json:"grants,omitempty"`
}

// RoleGrant is one member's access.
type RoleGrant struct {
	Login     string    `json:"login"`
	SendAs    bool      `json:"send_as,omitempty"`
	GrantedBy string    `json:"granted_by"`
	GrantedAt time.Time `json:"granted_at"`
}

// roleHandlers are the role mailbox operations.
func roleHandlers(ops *admin.Ops) map[string]Handler {
	return map[string]Handler{
		OpRoles:      rolesHandler(ops),
		OpRoleCreate: roleCreateHandler(ops),
		OpRoleGrant:  roleGrantHandler(ops, true),
		OpRoleRevoke: roleGrantHandler(ops, false),
	}
}

func rolesHandler(ops *admin.Ops) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		list, err := ops.RoleMailboxes(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]RoleRow, 0, len(list))
		for _, r := range list {
			row := RoleRow{Address: r.Address, Name: r.Name}
			for _, g := range r.Grants {
				row.Grants = append(row.Grants, RoleGrant{Login: g.Account.Login, SendAs: g.SendAs, GrantedBy: g.GrantedBy, GrantedAt: g.GrantedAt})
			}
			out = append(out, row)
		}
		return out, nil
	}
}

func roleCreateHandler(ops *admin.Ops) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a RoleArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		ro, err := ops.CreateRole(ctx, actor(c), a.Address, a.Name)
		if err != nil {
			return nil, err
		}
		return RoleRow{Address: ro.Address, Name: ro.Name}, nil
	}
}

// roleGrantHandler grants (grant set) or revokes a member's access.
func roleGrantHandler(ops *admin.Ops, grant bool) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a RoleArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		acct, err := account(ctx, ops, a.Login)
		if err != nil {
			return nil, err
		}
		ro, err := ops.RoleByAddress(ctx, a.Address)
		if errors.Is(err, store.ErrNoRole) {
			return nil, fmt.Errorf("no role mailbox %q", a.Address)
		}
		if err != nil {
			return nil, err
		}
		if grant {
			err = ops.GrantRole(ctx, actor(c), ro.ID, acct.ID, a.SendAs)
		} else {
			err = ops.RevokeRole(ctx, actor(c), ro.ID, acct.ID)
		}
		if err != nil {
			return nil, err
		}
		return RoleRow{Address: ro.Address, Name: ro.Name}, nil
	}
}
