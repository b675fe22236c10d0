package ctl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/admin"
)

// Operations of the campaign cohorts (admin.CreateCohort and the others).
const (
	OpCohortCreate = "cohort.create"
	OpCohortList   = "cohort.list"
	OpCohortExtend = "cohort.extend"
	OpCohortEnd    = "cohort.end"
)

// CohortArgs invites a cohort of volunteers.
type CohortArgs struct {
	Name    string   `json:"name"`
	Sponsor string   `json:"sponsor"`  // login of the sponsor
	LastDay string   `json:"last_day"` // YYYY-MM-DD
	Groups  []string `json:"groups,omitempty"`
	People  string   `json:"people"` // one volunteer a line: address[, name[, personal address]]
}

// CohortIDArgs names a cohort, and for an extension its new last day.
type CohortIDArgs struct {
	ID      int64  `json:"id"`
	LastDay string `json:"last_day,omitempty"` // YYYY-MM-DD
}

// CohortInfo is one cohort.
type CohortInfo struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Sponsor    string    `json:"sponsor"`
	LastDay    string    `json:"last_day"` // YYYY-MM-DD
	Volunteers []string  `json:"volunteers"`
	Ended      time.Time `json:"ended,omitzero"`
	Report     int64     `json:"report,omitempty"`
}

// CohortCreated is a new cohort with each volunteer's enrolment link.
type CohortCreated struct {
	Cohort  CohortInfo     `json:"cohort"`
	Invites []InviteResult `json:"invites"`
}

// CohortHandlers returns the cohort operations of `caucus admin`; the
// server adds them to [Handlers]'.
func CohortHandlers(ops *admin.Ops) map[string]Handler {
	return map[string]Handler{
		OpCohortCreate: func(ctx context.Context, c Call) (any, error) {
			var a CohortArgs
			if err := decode(c, &a); err != nil {
				return nil, err
			}
			return cohortCreate(ctx, ops, actor(c), a)
		},
		OpCohortList: func(ctx context.Context, c Call) (any, error) {
			cs, err := ops.Cohorts(ctx)
			if err != nil {
				return nil, err
			}
			out := make([]CohortInfo, 0, len(cs))
			for _, x := range cs {
				out = append(out, cohortInfo(x, ops.Deps().TimeZone))
			}
			return out, nil
		},
		OpCohortExtend: func(ctx context.Context, c Call) (any, error) {
			var a CohortIDArgs
			if err := decode(c, &a); err != nil {
				return nil, err
			}
			ends, err := admin.ParseLastDay(a.LastDay, ops.Deps().TimeZone)
			if err != nil {
				return nil, fmt.Errorf("last day %q: want YYYY-MM-DD", a.LastDay)
			}
			x, err := ops.ExtendCohort(ctx, actor(c), a.ID, ends)
			if err != nil {
				return nil, err
			}
			return cohortInfo(x, ops.Deps().TimeZone), nil
		},
		OpCohortEnd: func(ctx context.Context, c Call) (any, error) {
			var a CohortIDArgs
			if err := decode(c, &a); err != nil {
				return nil, err
			}
			return reportOrErr(ops.EndCohort(ctx, actor(c), a.ID))
		},
	}
}

func cohortCreate(ctx context.Context, ops *admin.Ops, act admin.Actor, a CohortArgs) (CohortCreated, error) {
	ends, err := admin.ParseLastDay(a.LastDay, ops.Deps().TimeZone)
	if err != nil {
		return CohortCreated{}, fmt.Errorf("last day %q: want YYYY-MM-DD", a.LastDay)
	}
	people, err := admin.ParseCohortPeople(a.People)
	if err != nil {
		return CohortCreated{}, err
	}
	for i := range people {
		people[i].Login = ops.FullLogin(people[i].Login) // a bare name is at the party's domain
	}
	res, err := ops.CreateCohort(ctx, act, admin.CohortRequest{Name: a.Name, Sponsor: ops.FullLogin(a.Sponsor), Ends: ends, Groups: a.Groups, People: people})
	if err != nil && res.Cohort.ID == 0 {
		return CohortCreated{}, err
	}
	out := CohortCreated{Cohort: cohortInfo(res.Cohort, ops.Deps().TimeZone)}
	failed := map[string]string{}
	for _, f := range res.Failed {
		failed[strings.ToLower(f.Login)] = f.Err.Error()
	}
	for _, in := range res.Invites {
		out.Invites = append(out.Invites, InviteResult{Login: in.Account.Login, Link: in.Link, Expires: in.ExpiresAt, Mailed: in.Mailed, MailErr: failed[in.Account.Login]})
	}
	return out, nil
}

func cohortInfo(c admin.Cohort, zone *time.Location) CohortInfo {
	out := CohortInfo{ID: c.ID, Name: c.Name, Sponsor: c.Sponsor.Login, LastDay: admin.LastDay(c.Ends, zone).Format(time.DateOnly), Ended: c.EndedAt, Report: c.ReportID}
	for _, p := range c.People {
		out.Volunteers = append(out.Volunteers, p.Login)
	}
	return out
}
