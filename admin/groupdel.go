package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/i18n"
)

// Steps of a group's deletion.
const (
	stepGroupFiles   = "group files handed over"
	stepGroupDeleted = "group deleted"
	stepGroupLate    = "files added meanwhile handed over"
	stepGroupRoutes  = "mail routes removed"
)

// DeleteGroup deletes a group, in this order:
//
//  1. its folder is handed to recipient (files.HandOverGroup): everything
//     in it moves into recipient's home under a folder named after the
//     group; the shares and public links of what was in it, and the
//     shares with the group, are revoked, and downloads of its files
//     under way end. A failure here stops the deletion, so nothing is
//     lost.
//  2. the group and its memberships are deleted (auth.DeleteGroup): from
//     the next request on, its members' web and WebDAV access to the
//     folder is gone (every files request reads the member's groups), its
//     list address takes no mail and its members may no longer send as it.
//     Its id is never given to another group.
//  3. what a member put in the folder between 1 and 2 is handed over too.
//  4. forwards to the group's address are removed (route.DropGroupRoutes).
//
// recipient 0 means the admin who deletes the group; the CLI, which has no
// account, must name one. The recipient must be active or invited. The
// report of the steps is saved and audited, like an offboarding's.
func (o *Ops) DeleteGroup(ctx context.Context, actor Actor, name string, recipient int64) (Report, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	gid, err := o.d.Auth.GroupID(ctx, name)
	if err != nil {
		return Report{}, err
	}
	if recipient == 0 {
		recipient = actor.AccountID
	}
	if recipient == 0 {
		return Report{}, problem(ErrBadOptions, i18n.Key("admin.err.group_recipient"))
	}
	to, err := o.d.Auth.Account(ctx, recipient)
	if err != nil {
		return Report{}, err
	}
	if to.State != auth.StateActive && to.State != auth.StateInvited {
		return Report{}, problem(ErrSuccessor, i18n.Key("admin.err.group_recipient_state"), "login", to.Login)
	}
	r := o.newRun("group.delete", actor, name)
	var handed files.GroupHandover
	err = r.step(stepGroupFiles, func() (Words, error) {
		if o.d.Files == nil {
			return Words{}, filesMissing()
		}
		handed, err = o.d.Files.HandOverGroup(ctx, actor.Login, gid, name, to.ID)
		return handoverWords(to.Login, handed), err
	})
	if err == nil {
		o.deleteGroupSteps(ctx, r, actor, gid, name, to, handed)
	}
	rep := r.finish(ctx, actor)
	return rep, reportErr(rep)
}

// deleteGroupSteps are the steps after the files are handed over.
func (o *Ops) deleteGroupSteps(ctx context.Context, r *run, actor Actor, gid int64, name string, to auth.Account, handed files.GroupHandover) {
	err := r.step(stepGroupDeleted, func() (Words, error) {
		g, err := o.d.Auth.DeleteGroup(ctx, actor.Login, name, handoverText(to.Login, handed))
		if err != nil {
			return Words{}, err
		}
		if len(g.Members) == 0 {
			return say(i18n.Key("admin.step.no_members")), nil
		}
		return say(i18n.Key("admin.step.members_left"), "n", len(g.Members), "members", strings.Join(g.Members, ", ")), nil
	})
	if err != nil {
		return
	}
	if o.d.Files != nil {
		late, err := o.d.Files.HandOverGroup(ctx, actor.Login, gid, name, to.ID)
		if err != nil || late != (files.GroupHandover{}) {
			r.step(stepGroupLate, func() (Words, error) { return handoverWords(to.Login, late), err })
		}
	}
	r.step(stepGroupRoutes, func() (Words, error) {
		if o.d.Route == nil {
			return Words{}, mailMissing()
		}
		dropped, err := o.d.Route.DropGroupRoutes(ctx, actor.Login, name)
		if len(dropped) == 0 {
			return say(i18n.Key("admin.step.routes_none")), err
		}
		return say(i18n.Key("admin.step.routes"), "from", strings.Join(dropped, ", ")), err
	})
}

// handoverWords says what a hand-over did, for the report.
func handoverWords(to string, h files.GroupHandover) Words {
	if h.Folder == "" {
		return say(i18n.Key("admin.step.handover_empty"), "shares", h.SharesRevoked, "links", h.LinksRevoked)
	}
	return say(i18n.Key("admin.step.handover"), "files", h.Files, "folders", h.Folders, "size", byteCount(h.Bytes), "to", to, "folder", h.Folder,
		"shares", h.SharesRevoked, "links", h.LinksRevoked)
}

// handoverText says in a line what a hand-over did, for the report and
// the audit log.
func handoverText(to string, h files.GroupHandover) string {
	if h.Folder == "" {
		return fmt.Sprintf("folder empty; %d shares and %d links revoked", h.SharesRevoked, h.LinksRevoked)
	}
	return fmt.Sprintf("%d files, %d folders (%d bytes) to %s in %s; %d shares and %d links revoked",
		h.Files, h.Folders, h.Bytes, to, h.Folder, h.SharesRevoked, h.LinksRevoked)
}
