package route

import (
	"context"
	"errors"
	"fmt"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/store"
)

// Roles says which addresses are role mailboxes' (*store.Store; see
// mail/store's shared.go). Mail to a role's address is delivered to the
// role by mail/submit before this directory is asked, so the directory
// needs the roles only to keep their addresses from being taken again.
type Roles interface {
	RoleByAddress(ctx context.Context, address string) (store.Role, error)
}

// SetRoles hooks the role mailboxes in, for [Directory.CheckFree]. It is
// called once, while wiring, before any lookup.
func (d *Directory) SetRoles(r Roles) { d.roles = r }

// ErrTaken says that an address already receives mail; the error is a
// [*TakenError] that says by what.
var ErrTaken = errors.New("route: address already in use")

// What a [TakenError] says holds an address.
const (
	TakenByPerson = "person"
	TakenByAlias  = "alias"
	TakenByGroup  = "group"
	TakenByList   = "list"
	TakenByRole   = "role"
	// TakenByPostmaster is postmaster@ (RFC 5321 4.5.1), which reaches
	// the admins when nothing else has it.
	TakenByPostmaster = "postmaster"
)

// TakenError is [ErrTaken] with the address and what holds it (one of
// the TakenBy constants).
type TakenError struct {
	Address string
	By      string
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("route: %s is already in use (%s)", e.Address, e.By)
}

func (e *TakenError) Unwrap() error { return ErrTaken }

// CheckFree is the one check that an address of the party's domains is
// free to be given to a new alias, group, list or role mailbox: nil if
// no person, alias, group, mailing list or role mailbox has it
// ([*TakenError] otherwise), [ErrNotOurs] for an address outside the
// party's domains. A subaddress is checked as its base address (RFC
// 5233). "postmaster" is always taken: it reaches the admins unless a
// person has it (see [Directory.Resolve]).
func (d *Directory) CheckFree(ctx context.Context, address string) error {
	local, domain, ok := split(address)
	if !ok || !d.IsOurs(address) {
		return fmt.Errorf("%w: %q", ErrNotOurs, address)
	}
	address = local + "@" + domain
	by, err := d.takenBy(ctx, local, address)
	if err != nil || by == "" {
		return err
	}
	return &TakenError{Address: address, By: by}
}

// CheckGroupName checks that a group of that name would take no address
// that something else has: a group's address is its name in every one
// of the party's domains.
func (d *Directory) CheckGroupName(ctx context.Context, name string) error {
	for _, domain := range d.domains {
		if err := d.CheckFree(ctx, name+"@"+domain); err != nil {
			return err
		}
	}
	return nil
}

// takenBy says what holds address (local is its local part): one of the
// TakenBy constants, or "" if nothing does.
func (d *Directory) takenBy(ctx context.Context, local, address string) (string, error) {
	if _, err := d.auth.AccountByLogin(ctx, address); err == nil {
		return TakenByPerson, nil
	} else if !errors.Is(err, auth.ErrNotFound) {
		return "", err
	}
	if id, err := d.accountFor(ctx, address); err != nil {
		return "", err
	} else if id != 0 {
		return TakenByAlias, nil
	}
	if isList, err := d.isList(ctx, address); err != nil {
		return "", err
	} else if isList {
		return TakenByList, nil
	}
	if isRole, err := d.isRole(ctx, address); err != nil {
		return "", err
	} else if isRole {
		return TakenByRole, nil
	}
	if _, isGroup, err := d.auth.GroupMembers(ctx, local); err != nil {
		return "", err
	} else if isGroup {
		return TakenByGroup, nil
	}
	if local == "postmaster" {
		return TakenByPostmaster, nil
	}
	return "", nil
}

// isRole reports whether address is a role mailbox's.
func (d *Directory) isRole(ctx context.Context, address string) (bool, error) {
	if d.roles == nil {
		return false, nil
	}
	_, err := d.roles.RoleByAddress(ctx, address)
	switch {
	case errors.Is(err, store.ErrNoRole):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("route: role: %w", err)
	}
	return true, nil
}
