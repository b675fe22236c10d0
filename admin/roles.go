package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/store"
)

// Role mailboxes (press@, info@, treasurer@) belong to the party: an
// admin makes one and grants members access, to read it or to read it and
// send as its address; nobody holds a password for it (see mail/store's
// shared.go for the model). Each action is audited with the admin's name;
// offboarding ends every grant of the person who leaves ([Ops.Offboard]).

// RoleStore is what the role actions need of the message store
// (*store.Store).
type RoleStore interface {
	CreateRole(ctx context.Context, address, name string) (store.Role, error)
	Roles(ctx context.Context) ([]store.Role, error)
	RoleByID(ctx context.Context, id int64) (store.Role, error)
	RoleByAddress(ctx context.Context, address string) (store.Role, error)
	RoleGrants(ctx context.Context, roleID int64) ([]store.Grant, error)
	GrantsOf(ctx context.Context, accountID int64) ([]store.Grant, error)
	SetGrant(ctx context.Context, actor string, roleID, accountID int64, sendAs bool) error
	RevokeGrant(ctx context.Context, roleID, accountID int64) (store.Grant, error)
	RevokeGrants(ctx context.Context, accountID int64) ([]store.Grant, error)
}

// Errors of the role actions.
var (
	// ErrRoleAddress refuses a role address that is not the party's or is
	// already someone's, a group's, an alias or another role.
	ErrRoleAddress = errors.New("admin: the address cannot be a role mailbox")
	// ErrRoleMember refuses a grant to someone who left or does not exist.
	ErrRoleMember = errors.New("admin: only active or invited members can be given a role mailbox")
)

// RoleMailbox is a role mailbox with who may use it.
type RoleMailbox struct {
	store.Role
	Grants []RoleGrant
}

// RoleGrant is one member's access to a role mailbox.
type RoleGrant struct {
	store.Grant
	Account auth.Account
}

// roles returns the role store, or ErrNotAvailable.
func (o *Ops) roles() (RoleStore, error) {
	if o.d.Roles == nil {
		return nil, ErrNotAvailable
	}
	return o.d.Roles, nil
}

// RoleMailboxes lists the role mailboxes with their grants, by address.
func (o *Ops) RoleMailboxes(ctx context.Context) ([]RoleMailbox, error) {
	rs, err := o.roles()
	if err != nil {
		return nil, err
	}
	roles, err := rs.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RoleMailbox, 0, len(roles))
	for _, ro := range roles {
		gs, err := rs.RoleGrants(ctx, ro.ID)
		if err != nil {
			return nil, err
		}
		rm := RoleMailbox{Role: ro}
		for _, g := range gs {
			a, err := o.d.Auth.Account(ctx, g.AccountID)
			if err != nil && !errors.Is(err, auth.ErrNotFound) {
				return nil, err
			}
			rm.Grants = append(rm.Grants, RoleGrant{Grant: g, Account: a})
		}
		out = append(out, rm)
	}
	return out, nil
}

// RoleByAddress returns the role mailbox of an address;
// [store.ErrNoRole] if there is none.
func (o *Ops) RoleByAddress(ctx context.Context, address string) (store.Role, error) {
	rs, err := o.roles()
	if err != nil {
		return store.Role{}, err
	}
	return rs.RoleByAddress(ctx, address)
}

// CreateRole makes a role mailbox for an address of the party that is no
// person's, alias, group or other role ([ErrRoleAddress]); name is what
// people see ("Press office").
func (o *Ops) CreateRole(ctx context.Context, actor Actor, address, name string) (store.Role, error) {
	rs, err := o.roles()
	if err != nil {
		return store.Role{}, err
	}
	a, err := store.NormalizeRoleAddress(address)
	if err != nil {
		return store.Role{}, problem(ErrRoleAddress, i18n.Key("admin.err.role_address"), "addr", address)
	}
	if err := o.roleAddressFree(ctx, a); err != nil {
		return store.Role{}, err
	}
	ro, err := rs.CreateRole(ctx, a, name)
	if errors.Is(err, store.ErrRoleExists) {
		return ro, problem(ErrRoleAddress, i18n.Key("admin.err.role_taken"), "addr", a)
	}
	if errors.Is(err, store.ErrRoleName) {
		return ro, problem(ErrRoleAddress, i18n.Key("admin.err.role_address"), "addr", address)
	}
	if err != nil {
		return ro, err
	}
	o.record(ctx, actor, a, "role.create", "", fmt.Sprintf("name=%q", ro.Name))
	return ro, nil
}

// roleAddressFree checks that a is one of the party's addresses and that
// mail to it goes nowhere yet.
func (o *Ops) roleAddressFree(ctx context.Context, a string) error {
	if o.d.Route == nil {
		return nil
	}
	if !o.d.Route.IsOurs(a) {
		return problem(ErrRoleAddress, i18n.Key("admin.err.role_domain"), "addr", a)
	}
	return explainTaken(ErrRoleAddress, o.d.Route.CheckFree(ctx, a))
}

// notARole refuses a login that is a role mailbox's address: mail to it
// would go to the role, not to the person.
func (o *Ops) notARole(ctx context.Context, login string) error {
	if o.d.Roles == nil {
		return nil
	}
	_, err := o.d.Roles.RoleByAddress(ctx, login)
	switch {
	case errors.Is(err, store.ErrNoRole):
		return nil
	case err != nil:
		return err
	}
	return problem(ErrRoleAddress, i18n.Key("admin.err.role_taken"), "addr", login)
}

// GrantRole gives a member access to a role mailbox: read, or read and
// send as its address; called again, it changes the access.
func (o *Ops) GrantRole(ctx context.Context, actor Actor, roleID, accountID int64, sendAs bool) error {
	rs, err := o.roles()
	if err != nil {
		return err
	}
	ro, err := rs.RoleByID(ctx, roleID)
	if err != nil {
		return err
	}
	a, err := o.d.Auth.Account(ctx, accountID)
	if errors.Is(err, auth.ErrNotFound) || (err == nil && a.State != auth.StateActive && a.State != auth.StateInvited) {
		return problem(ErrRoleMember, i18n.Key("admin.err.role_member"))
	}
	if err != nil {
		return err
	}
	if err := rs.SetGrant(ctx, actor.Login, ro.ID, a.ID, sendAs); err != nil {
		return err
	}
	g := store.Grant{SendAs: sendAs}
	o.record(ctx, actor, a.Login, "role.grant", "", fmt.Sprintf("role=%s access=%s", ro.Address, g.Level()))
	return nil
}

// RevokeRole ends a member's access to a role mailbox; the member's IMAP
// connections that have it open are closed at once. No grant: nothing to
// do, no error.
func (o *Ops) RevokeRole(ctx context.Context, actor Actor, roleID, accountID int64) error {
	rs, err := o.roles()
	if err != nil {
		return err
	}
	g, err := rs.RevokeGrant(ctx, roleID, accountID)
	if errors.Is(err, store.ErrNoGrant) {
		return nil
	}
	if err != nil {
		return err
	}
	subject := fmt.Sprintf("account %d", accountID)
	if a, err := o.d.Auth.Account(ctx, accountID); err == nil {
		subject = a.Login
	}
	o.record(ctx, actor, subject, "role.revoke", "", fmt.Sprintf("role=%s access=%s", g.Role.Address, g.Level()))
	return nil
}

// stepRoles is the offboarding step that ends the role mailbox grants.
const stepRoles = "role mailboxes"

// roleNames lists grants as "press@… (read+send-as)".
func roleNames(gs []store.Grant) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Role.Address + " (" + g.Level() + ")"
	}
	return strings.Join(names, ", ")
}

// planRoles fills in the role mailboxes an offboarding will take away.
func (o *Ops) planRoles(ctx context.Context, p *OffboardPlan) error {
	if o.d.Roles == nil {
		return nil
	}
	var err error
	p.Roles, err = o.d.Roles.GrantsOf(ctx, p.Account.ID)
	return err
}

// offboardRoles is the offboarding step that ends every grant of the
// person who leaves, listing them in the report.
func (o *Ops) offboardRoles(ctx context.Context, r *run, a auth.Account) {
	r.step(stepRoles, func() (Words, error) {
		if o.d.Roles == nil {
			return Words{}, mailMissing()
		}
		gs, err := o.d.Roles.RevokeGrants(ctx, a.ID)
		if err != nil {
			return Words{}, err
		}
		if len(gs) == 0 {
			return Words{}, skipped{say(i18n.Key("admin.step.no_roles"))}
		}
		return say(i18n.Key("admin.step.roles"), "roles", roleNames(gs)), nil
	})
}
