package admin

import (
	"context"
	"errors"
	"strings"

	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/route"
)

// takenKeys are the sentences for an address that is already in use, by
// what holds it ([route.TakenError]).
var takenKeys = map[string]string{
	route.TakenByPerson:     i18n.Key("admin.err.taken_person"),
	route.TakenByAlias:      i18n.Key("admin.err.taken_alias"),
	route.TakenByGroup:      i18n.Key("admin.err.taken_group"),
	route.TakenByList:       i18n.Key("admin.err.taken_list"),
	route.TakenByRole:       i18n.Key("admin.err.taken_role"),
	route.TakenByPostmaster: i18n.Key("admin.err.taken_postmaster"),
}

// explainTaken turns route's refusal of an address that is already in
// use into a [Problem] that is sentinel and that says what holds the
// address; other errors are returned as they are.
func explainTaken(sentinel, err error) error {
	var te *route.TakenError
	if !errors.As(err, &te) {
		return err
	}
	if key, ok := takenKeys[te.By]; ok {
		return problem(sentinel, key, "addr", te.Address)
	}
	return problem(sentinel, i18n.Key("admin.err.role_taken"), "addr", te.Address)
}

// ErrAddressTaken refuses a group whose address (its name in each of the
// party's domains) a person, an alias, a mailing list or a role mailbox
// already has: mail to it would not reach the group, and nobody would
// be told.
var ErrAddressTaken = errors.New("admin: the address is already in use")

// CreateGroup creates an empty group, if its address is free in every
// one of the party's domains ([route.Directory.CheckGroupName]).
func (o *Ops) CreateGroup(ctx context.Context, actor Actor, name string) error {
	if err := o.groupNameFree(ctx, name); err != nil {
		return err
	}
	return o.d.Auth.CreateGroup(ctx, actor.Login, name)
}

// RenameGroup renames a group, if its new address is free as for
// [Ops.CreateGroup].
func (o *Ops) RenameGroup(ctx context.Context, actor Actor, from, to string) error {
	if err := o.groupNameFree(ctx, to); err != nil {
		return err
	}
	return o.d.Auth.RenameGroup(ctx, actor.Login, from, to)
}

// groupNameFree checks a group's name against what else has addresses.
// A name that is not a valid group name is left to auth to refuse.
func (o *Ops) groupNameFree(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name)) // as auth makes groups
	if o.d.Route == nil || checkGroup(name) != nil {
		return nil
	}
	err := o.d.Route.CheckGroupName(ctx, name)
	var te *route.TakenError
	if errors.As(err, &te) && te.By == route.TakenByGroup {
		return nil // the group itself: auth says it exists
	}
	return explainTaken(ErrAddressTaken, err)
}

// groupsFree checks the names of the groups a person is to join: a
// group that does not exist yet is made by joining it (auth), so its
// address must be free as for [Ops.CreateGroup].
func (o *Ops) groupsFree(ctx context.Context, groups []string) error {
	for _, g := range groups {
		if err := o.groupNameFree(ctx, g); err != nil {
			return err
		}
	}
	return nil
}
