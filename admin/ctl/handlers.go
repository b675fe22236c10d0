package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
)

// Handlers returns the operations of `caucus admin`, each calling the
// same function of package admin that the console calls, with the actor
// "cli:<unix user>".
func Handlers(ops *admin.Ops, log *audit.Log) map[string]Handler {
	hs := map[string]Handler{
		OpInvite:   inviteHandler(ops),
		OpOffboard: offboardHandler(ops),
		OpSuspend:  stateHandler(ops, ops.Suspend),
		OpResume:   stateHandler(ops, ops.Resume),
		OpList:     listHandler(ops),
		OpAudit:    AuditHandler(log),
	}
	for op, h := range roleHandlers(ops) { // roles.go
		hs[op] = h
	}
	return hs
}

// decode reads a call's arguments into v; no arguments leave v as it is.
func decode(c Call, v any) error {
	if len(c.Args) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Args, v); err != nil {
		return fmt.Errorf("%w: arguments: %w", ErrBadRequest, err)
	}
	return nil
}

func actor(c Call) admin.Actor { return admin.Actor{Login: c.Actor, UserAgent: "caucus admin"} }

// account finds an account by login, saying which login was not found.
func account(ctx context.Context, ops *admin.Ops, login string) (auth.Account, error) {
	a, err := ops.AccountByLogin(ctx, login)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Account{}, fmt.Errorf("no account %q", login)
	}
	return a, err
}

func inviteHandler(ops *admin.Ops) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a InviteArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		// A bare login is at the party's domain; without a name, one is
		// made from the address (caucus admin invite's usage).
		in := admin.InviteRequest{Login: ops.FullLogin(a.Login), Name: a.Name, Role: auth.Role(a.Role), Groups: a.Groups, MailTo: a.MailTo}
		if strings.TrimSpace(in.Name) == "" {
			in.Name = admin.NameFromLogin(auth.NormalizeLogin(in.Login))
		}
		if a.Expires != "" {
			t, err := admin.ParseLastDay(a.Expires, ops.Deps().TimeZone)
			if err != nil {
				return nil, fmt.Errorf("expiry date %q: want YYYY-MM-DD", a.Expires)
			}
			in.Expires = t // through the end of that day, as in the console
		}
		res, err := ops.Invite(ctx, actor(c), in)
		if err != nil && res.Link == "" {
			return nil, err
		}
		// A link that could not be mailed is still a link.
		out := InviteResult{Login: res.Account.Login, Link: res.Link, Expires: res.ExpiresAt, Mailed: res.Mailed}
		if err != nil {
			out.MailErr = err.Error()
		}
		return out, nil
	}
}

func offboardHandler(ops *admin.Ops) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a OffboardArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		acct, err := account(ctx, ops, a.Login)
		if err != nil {
			return nil, err
		}
		opts := admin.OffboardOptions{Forward: a.Forward, AutoReply: a.AutoReply, RetainDays: a.RetainDays,
			Export: a.Export, SuccessorRead: a.MailAccess}
		switch a.Links {
		case "", "move":
			opts.Links = files.LinksMove
		case "revoke":
			opts.Links = files.LinksRevoke
		default:
			return nil, fmt.Errorf("links: %q is neither move nor revoke", a.Links)
		}
		if a.Successor != "" {
			succ, err := account(ctx, ops, a.Successor)
			if err != nil {
				return nil, err
			}
			opts.Successor = succ.ID
		}
		plan, err := ops.PlanOffboard(ctx, acct.ID, opts)
		if err != nil {
			return nil, err
		}
		if a.DryRun {
			return admin.Report{Kind: "offboard (plan only: nothing was done)", Actor: c.Actor, Subject: acct.Login, Steps: plan.Steps}, nil
		}
		return reportOrErr(ops.Offboard(ctx, actor(c), plan))
	}
}

func stateHandler(ops *admin.Ops, fn func(context.Context, admin.Actor, int64) (admin.Report, error)) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a AccountArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		acct, err := account(ctx, ops, a.Login)
		if err != nil {
			return nil, err
		}
		return reportOrErr(fn(ctx, actor(c), acct.ID))
	}
}

// reportOrErr answers with the report when the action ran, also if some
// of its steps failed (the report says which); the client exits non-zero
// then. An action refused before any step is an error.
func reportOrErr(rep admin.Report, err error) (any, error) {
	if len(rep.Steps) == 0 && err != nil {
		return nil, err
	}
	return rep, nil
}

func listHandler(ops *admin.Ops) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		people, err := ops.List(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Person, 0, len(people))
		for _, p := range people {
			q := Person{Login: p.Login, Name: p.DisplayName, Role: string(p.Role), State: string(p.State),
				LastLogin: p.LastLoginAt, Expires: p.ExpiresAt}
			if !p.ExpiresAt.IsZero() {
				q.LastDay = admin.LastDay(p.ExpiresAt, ops.Deps().TimeZone).Format(time.DateOnly)
			}
			for _, k := range p.Kinds {
				q.Factors = append(q.Factors, string(k))
			}
			out = append(out, q)
		}
		return out, nil
	}
}

// AuditHandler lists audit records, newest first.
func AuditHandler(log *audit.Log) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a AuditArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		switch {
		case a.Limit <= 0:
			a.Limit = audit.DefaultLimit
		case a.Limit > audit.MaxLimit:
			a.Limit = audit.MaxLimit
		}
		recs, err := log.List(ctx, audit.Filter{Account: a.Account, Kind: a.Kind, Since: a.Since, Limit: a.Limit})
		if err != nil {
			return nil, err
		}
		out := make([]AuditRecord, 0, len(recs))
		for _, r := range recs {
			out = append(out, AuditRecord{ID: r.ID, Time: r.Time, Actor: r.Actor, Subject: r.Subject, Kind: r.Kind,
				Outcome: r.Outcome, Reason: r.Reason, Detail: r.Detail, Addr: r.Addr})
		}
		return out, nil
	}
}
