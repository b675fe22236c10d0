package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// PersonEdit is what an admin changes of a person on their page.
type PersonEdit struct {
	Name    string
	Role    auth.Role
	LastDay string   // the last day of access, YYYY-MM-DD; "" for none
	Groups  []string // every group they are to be in
}

// EditPerson changes a person's name, role, last day of access and groups
// (auth.ChangeAccount, auth.AddToGroup, auth.RemoveFromGroup; each change
// in the audit log). An admin cannot take away their own admin role, nor
// the last active admin's.
func (o *Ops) EditPerson(ctx context.Context, actor Actor, id int64, e PersonEdit) error {
	a, err := o.d.Auth.Account(ctx, id)
	if err != nil {
		return err
	}
	if err := checkName(strings.TrimSpace(e.Name)); err != nil {
		return err
	}
	if err := checkRole(e.Role); err != nil {
		return err
	}
	ch := auth.AccountChange{Name: &e.Name, Role: &e.Role}
	var end time.Time
	if e.LastDay != "" {
		if end, err = ParseLastDay(e.LastDay, o.zone()); err != nil {
			return err
		}
	}
	ch.Expires = &end
	if a.IsAdmin() && e.Role != auth.RoleAdmin {
		if err := o.guardTarget(ctx, actor, a); err != nil {
			return err
		}
	}
	for i, g := range e.Groups {
		e.Groups[i] = strings.ToLower(strings.TrimSpace(g)) // as groups are made
		if err := checkGroup(e.Groups[i]); err != nil {
			return err
		}
	}
	if err := o.groupsFree(ctx, e.Groups); err != nil { // taken.go: joining makes the group
		return err
	}
	c := actor.client()
	if err := o.d.Auth.ChangeAccount(ctx, actor.Login, id, ch, c); err != nil {
		return err
	}
	have, err := o.d.Auth.GroupsOf(ctx, id)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range e.Groups {
		if !slices.Contains(have, strings.ToLower(g)) {
			errs = append(errs, o.d.Auth.AddToGroup(ctx, actor.Login, g, id))
		}
	}
	for _, g := range have {
		if !slices.ContainsFunc(e.Groups, func(x string) bool { return strings.EqualFold(x, g) }) {
			errs = append(errs, o.d.Auth.RemoveFromGroup(ctx, actor.Login, g, id))
		}
	}
	return errors.Join(errs...)
}
