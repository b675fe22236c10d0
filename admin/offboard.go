package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// OffboardOptions are the admin's choices for an offboarding.
type OffboardOptions struct {
	Successor        int64                 // account that receives files, forwarded mail, read access; 0: none
	Links            files.LinkDisposition // the departing person's shares and links: moved to the successor or revoked
	Forward          bool                  // forward mail for the address to the successor
	AutoReply        string                // answer mail for the address with this text ("" for none)
	AutoReplySubject string                // "" for "Auto: <subject>"
	RetainDays       int                   // keep the mailbox this many days, then delete it; 0: DefaultRetentionDays
	Export           bool                  // write the mailbox as an mbox file before it is deleted
	SuccessorRead    bool                  // the successor gets a read copy of the mailbox for the retention period
}

// linksPast says what happened to the links, for the plan.
func linksPast(l files.LinkDisposition) string {
	if l == files.LinksRevoke {
		return "revoked"
	}
	return "moved"
}

// MaxAutoReply bounds the auto-reply text.
const MaxAutoReply = 8 << 10

// OffboardPlan is exactly what an offboarding will do, shown to the admin
// before it runs and given back to Offboard.
type OffboardPlan struct {
	Account   auth.Account
	Successor *auth.Account // nil: none
	Options   OffboardOptions
	Groups    []string      // groups the account leaves
	Roles     []store.Grant // role mailboxes the account loses (roles.go)
	Sessions  int           // web sessions that end
	Factors   int           // passkeys, security keys and TOTP apps removed
	AppPass   int           // app passwords revoked
	Live      int           // live IMAP/SMTP/WebDAV connections closed now
	RetainTil time.Time     // mailbox deleted after this
	Steps     []Step        // the steps, all OutcomePlanned
}

// PlanOffboard says what offboarding the account with opts will do. It
// changes nothing. It refuses what Offboard would refuse: the last admin,
// a missing or inactive successor, bad options.
func (o *Ops) PlanOffboard(ctx context.Context, accountID int64, opts OffboardOptions) (OffboardPlan, error) {
	a, err := o.d.Auth.Account(ctx, accountID)
	if err != nil {
		return OffboardPlan{}, err
	}
	if a.State == auth.StateOffboarded {
		return OffboardPlan{}, fmt.Errorf("%w: %s is already offboarded", ErrState, a.Login)
	}
	if err := o.guardTarget(ctx, Actor{}, a); err != nil {
		return OffboardPlan{}, err
	}
	p := OffboardPlan{Account: a, Options: opts}
	switch {
	case opts.RetainDays < 0 || opts.RetainDays > MaxRetentionDays:
		return p, problem(ErrBadOptions, i18n.Key("admin.err.retention"), "max", MaxRetentionDays)
	case len(opts.AutoReply) > MaxAutoReply || len(opts.AutoReplySubject) > route.MaxAutoReplySubject:
		return p, problem(ErrBadOptions, i18n.Key("admin.err.autoreply_long"), "max", MaxAutoReply)
	case opts.Links != files.LinksMove && opts.Links != files.LinksRevoke:
		return p, problem(ErrBadOptions, i18n.Key("admin.err.links"))
	}
	if opts.RetainDays == 0 {
		p.Options.RetainDays = DefaultRetentionDays
	}
	p.RetainTil = o.d.Now().AddDate(0, 0, p.Options.RetainDays)
	if opts.Successor != 0 {
		s, err := o.d.Auth.Account(ctx, opts.Successor)
		if errors.Is(err, auth.ErrNotFound) || (err == nil && (s.ID == a.ID || s.State != auth.StateActive)) {
			return p, ErrSuccessor
		}
		if err != nil {
			return p, err
		}
		p.Successor = &s
	} else if opts.Forward || opts.SuccessorRead {
		return p, problem(ErrBadOptions, i18n.Key("admin.err.need_successor"))
	}
	if p.Groups, err = o.d.Auth.GroupsOf(ctx, a.ID); err != nil {
		return p, err
	}
	if err := o.planRoles(ctx, &p); err != nil {
		return p, err
	}
	fs, err := o.d.Auth.Factors(ctx, a.ID)
	if err != nil {
		return p, err
	}
	p.Factors = len(fs)
	aps, err := o.d.Auth.AppPasswords(ctx, a.ID)
	if err != nil {
		return p, err
	}
	for _, ap := range aps {
		if ap.RevokedAt.IsZero() {
			p.AppPass++
		}
	}
	ss, err := o.d.Auth.Sessions(ctx, a.ID)
	if err != nil {
		return p, err
	}
	p.Sessions = len(ss)
	p.Live = o.d.Auth.Hub().Live(a.ID)
	for _, s := range p.describe() {
		p.Steps = append(p.Steps, Step{Name: s[0], Detail: s[1], Outcome: OutcomePlanned})
	}
	return p, nil
}

// Step names of an offboarding, in order.
const (
	stepDisable   = "sign-in disabled"
	stepRevoke    = "access revoked"
	stepFactors   = "factors removed"
	stepGroups    = "removed from groups"
	stepFiles     = "files"
	stepForward   = "mail forwarded"
	stepAutoReply = "auto-reply"
	stepRetain    = "mailbox retained"
	stepRead      = "successor read access"
)

// describe lists the plan's steps with what each will do.
func (p OffboardPlan) describe() [][2]string {
	o := p.Options
	succ := ""
	if p.Successor != nil {
		succ = p.Successor.Login
	}
	steps := [][2]string{
		{stepRevoke, fmt.Sprintf("%d sessions, %d app passwords, %d live connections closed", p.Sessions, p.AppPass, p.Live)},
		{stepDisable, "state offboarded: " + p.Account.Login + " can no longer sign in"},
		{stepFactors, fmt.Sprintf("%d passkeys, security keys and TOTP apps, and every recovery code", p.Factors)},
	}
	if len(p.Groups) > 0 {
		steps = append(steps, [2]string{stepGroups, strings.Join(p.Groups, ", ")})
	} else {
		steps = append(steps, [2]string{stepGroups, "none"})
	}
	steps = append(steps, [2]string{stepRoles, cmp.Or(roleNames(p.Roles), "none")})
	if succ != "" {
		steps = append(steps, [2]string{stepFiles, "everything owned transferred to " + succ + "; shares and links " + linksPast(o.Links)})
	} else {
		steps = append(steps, [2]string{stepFiles, "no successor: shares and links revoked, files kept"})
	}
	if o.Forward {
		steps = append(steps, [2]string{stepForward, "to " + succ})
	}
	if o.AutoReply != "" {
		steps = append(steps, [2]string{stepAutoReply, "answers mail until the mailbox is deleted"})
	}
	what := "then deleted"
	if o.Export {
		what = "then exported as mbox and deleted"
	}
	steps = append(steps, [2]string{stepRetain, fmt.Sprintf("kept %d days, until %s, %s", o.RetainDays, p.RetainTil.UTC().Format(time.DateOnly), what)})
	if o.SuccessorRead {
		steps = append(steps, [2]string{stepRead, succ + " gets a copy under Offboarded/" + p.Account.Login})
	}
	return steps
}

// offboardMail are the mail steps of an offboarding: forward, auto-reply,
// retention and the successor's read copy.
func (o *Ops) offboardMail(ctx context.Context, r *run, actor Actor, p OffboardPlan) {
	a, opts, mail := p.Account, p.Options, o.d.MailOffboard
	if opts.Forward {
		r.step(stepForward, func() (Words, error) {
			if mail == nil {
				return Words{}, mailMissing()
			}
			return say(i18n.Key("admin.step.forward"), "succ", p.Successor.Login), mail.Forward(ctx, actor.Login, a.ID, p.Successor.Login)
		})
	}
	if opts.AutoReply != "" {
		r.step(stepAutoReply, func() (Words, error) {
			if mail == nil {
				return Words{}, mailMissing()
			}
			return say(i18n.Key("admin.step.until"), "day", p.RetainTil), mail.AutoReply(ctx, actor.Login, a.ID, opts.AutoReplySubject, opts.AutoReply, p.RetainTil)
		})
	}
	retained := r.step(stepRetain, func() (Words, error) {
		if mail == nil {
			return Words{}, mailMissing()
		}
		w := say(i18n.Key("admin.step.until"), "day", p.RetainTil)
		if opts.Export {
			w = say(i18n.Key("admin.step.until_export"), "day", p.RetainTil)
		}
		return w, mail.Retain(ctx, actor.Login, a.ID, p.RetainTil, opts.Export)
	})
	if opts.SuccessorRead {
		r.step(stepRead, func() (Words, error) {
			if mail == nil {
				return Words{}, mailMissing()
			}
			if retained != nil {
				return Words{}, errors.New("mailbox not retained")
			}
			folder, n, err := mail.GrantSuccessor(ctx, actor.Login, a.ID, p.Successor.ID)
			return say(i18n.Key("admin.step.read"), "n", n, "succ", p.Successor.Login, "folder", folder), err
		})
	}
}

// Offboard carries out a plan made by PlanOffboard (made anew here, so
// that nothing changed in between slips through): sign-in disabled,
// everything revoked and live connections closed, factors removed, groups
// left, role mailboxes given up, files transferred, mail forwarded and/or answered, the mailbox kept
// and later deleted. Every step is run even when an earlier one failed
// (after the account is disabled), and the report says which did what.
func (o *Ops) Offboard(ctx context.Context, actor Actor, plan OffboardPlan) (Report, error) {
	p, err := o.PlanOffboard(ctx, plan.Account.ID, plan.Options)
	if err != nil {
		return Report{}, err
	}
	if err := o.guardTarget(ctx, actor, p.Account); err != nil {
		return Report{}, err
	}
	r := o.newRun("offboard", actor, p.Account.Login)
	o.offboardSteps(ctx, r, actor, p)
	rep := r.finish(ctx, actor)
	return rep, reportErr(rep)
}

// offboardSteps carries out plan p as steps of r: an offboarding's own
// report, or a cohort's end, whose one report has the steps of each
// volunteer (run.who).
func (o *Ops) offboardSteps(ctx context.Context, r *run, actor Actor, p OffboardPlan) {
	a, opts, c := p.Account, p.Options, actor.client()
	// Revoke first for the counts; the state change revokes again anything
	// that raced in between, and disables sign-in. Nothing else runs on an
	// account that still signs in.
	r.step(stepRevoke, func() (Words, error) {
		rr, err := o.d.Auth.Revoke(ctx, actor.Login, a.ID, c)
		return revoked(rr), err
	})
	if err := r.step(stepDisable, func() (Words, error) {
		return say(i18n.Key("admin.step.offboarded")), o.d.Auth.SetState(ctx, actor.Login, a.ID, auth.StateOffboarded, c)
	}); err != nil {
		return
	}
	r.step(stepFactors, func() (Words, error) {
		return say(i18n.Key("admin.step.factors"), "n", p.Factors), o.d.Auth.RemoveAllFactors(ctx, actor.Login, a.ID, c)
	})
	r.step(stepGroups, func() (Words, error) {
		if len(p.Groups) == 0 {
			return Words{}, skipped{say(i18n.Key("admin.step.no_groups"))}
		}
		var errs []error
		for _, g := range p.Groups {
			errs = append(errs, o.d.Auth.RemoveFromGroup(ctx, actor.Login, g, a.ID))
		}
		return say(i18n.Key("admin.step.groups"), "groups", strings.Join(p.Groups, ", ")), errors.Join(errs...)
	})
	o.offboardRoles(ctx, r, a)
	r.step(stepFiles, func() (Words, error) {
		if o.d.Files == nil {
			return Words{}, filesMissing()
		}
		if p.Successor == nil {
			n, err := o.d.Files.RevokeLinksOf(ctx, actor.Login, a.ID)
			return say(i18n.Key("admin.step.files_none"), "n", n), err
		}
		tr, err := o.d.Files.TransferOwnership(ctx, actor.Login, a.ID, p.Successor.ID, opts.Links)
		return say(i18n.Key("admin.step.files"), "files", tr.Files, "folders", tr.Folders, "size", byteCount(tr.Bytes), "succ", p.Successor.Login,
			"folder", tr.Folder, "shares", tr.SharesMoved, "moved", tr.LinksMoved, "revoked", tr.LinksRevoked), err
	})
	o.offboardMail(ctx, r, actor, p)
}
