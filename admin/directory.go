package admin

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// Directory returns every account with its factor kinds, groups and the
// dashboard's warnings, without storage figures (MailUsed and FilesUsed
// are -1): three queries whatever the party's size, for the console's
// people list and dashboard.
func (o *Ops) Directory(ctx context.Context) ([]PersonSummary, error) {
	accts, err := o.d.Auth.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	kinds, err := o.d.Auth.FactorKindsByAccount(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := o.d.Auth.Groups(ctx)
	if err != nil {
		return nil, err
	}
	byLogin := map[string][]string{}
	for _, g := range groups { // by name, so each person's groups are in order
		for _, m := range g.Members {
			m = strings.ToLower(m)
			byLogin[m] = append(byLogin[m], g.Name)
		}
	}
	now := o.d.Now()
	out := make([]PersonSummary, 0, len(accts))
	for _, a := range accts {
		out = append(out, summary(a, kinds[a.ID], byLogin[strings.ToLower(a.Login)], now))
	}
	return out, nil
}

// orderKinds puts factor kinds in the order factorKinds gives them.
func orderKinds(ks []auth.FactorKind) []auth.FactorKind {
	var out []auth.FactorKind
	for _, k := range []auth.FactorKind{auth.KindSecurityKey, auth.KindPasskey, auth.KindTOTP} {
		if slices.Contains(ks, k) {
			out = append(out, k)
		}
	}
	return out
}

// The filters of the people list.
const (
	FilterAll        = ""
	FilterInvited    = "invited"
	FilterActive     = "active"
	FilterSuspended  = "suspended"
	FilterOffboarded = "offboarded"
	FilterExpiring   = "expiring" // access ends within ExpiringWithin
	FilterNoFactor   = "nofactor" // active without a second factor
	FilterIdle       = "idle"     // active, no sign-in for IdleAfter
	FilterAdmins     = "admins"   // admins, in any state
)

// Filters are the people list's filters, in the order the console shows
// them.
var Filters = []string{FilterAll, FilterActive, FilterInvited, FilterSuspended, FilterOffboarded, FilterExpiring, FilterNoFactor, FilterIdle, FilterAdmins}

// Is reports whether the person is selected by filter.
func (p PersonSummary) Is(filter string) bool {
	switch filter {
	case FilterAll:
		return true
	case FilterInvited, FilterActive, FilterSuspended, FilterOffboarded:
		return string(p.State) == filter
	case FilterExpiring:
		return p.ExpiringSoon
	case FilterNoFactor:
		return p.State == auth.StateActive && len(p.Kinds) == 0
	case FilterIdle:
		return p.Idle
	case FilterAdmins:
		return p.IsAdmin()
	}
	return false
}

// matches reports whether the person's name, address or one of their
// groups contains every word of the lower-cased search.
func (p PersonSummary) matches(words []string) bool {
	for _, w := range words {
		if !strings.Contains(p.name, w) && !strings.Contains(p.login, w) &&
			!slices.ContainsFunc(p.Groups, func(g string) bool { return strings.Contains(strings.ToLower(g), w) }) {
			return false
		}
	}
	return true
}

// PeopleQuery selects, orders and pages the people list.
type PeopleQuery struct {
	Search  string // words that the name, address or a group must contain, any case
	Filter  string // one of Filters
	Sort    string // "name" (default), "address", "state", "last" (sign-in), "expires"
	Desc    bool
	Page    int // from 1
	PerPage int // DefaultPerPage when 0, at most MaxPerPage
}

// Paging of the people list.
const (
	DefaultPerPage = 50
	MaxPerPage     = 500
)

// PeoplePage is one page of the people list.
type PeoplePage struct {
	People  []PersonSummary
	Total   int            // people the search and filter select
	Counts  map[string]int // by filter, among those the search selects
	Page    int            // the page shown, from 1
	Pages   int
	PerPage int
}

// People returns the page of the people list that q asks for. The
// database searches, counts, sorts and pages (auth.ListAccounts): the
// work grows with the page, not with the party.
func (o *Ops) People(ctx context.Context, q PeopleQuery) (PeoplePage, error) {
	pg := PeoplePage{PerPage: q.PerPage}
	if pg.PerPage <= 0 {
		pg.PerPage = DefaultPerPage
	}
	pg.PerPage = min(pg.PerPage, MaxPerPage)
	now := o.d.Now()
	aq := auth.AccountQuery{Search: q.Search, Set: auth.AccountSet(q.Filter), Sort: q.Sort, Desc: q.Desc, Limit: pg.PerPage,
		Now: now, ExpiringBefore: now.Add(ExpiringWithin), IdleBefore: now.Add(-IdleAfter)}
	// The page asked for, or the last one if it is past the end.
	page := max(q.Page, 1)
	var accts []auth.Account
	var counts map[auth.AccountSet]int
	for {
		aq.Offset = (page - 1) * pg.PerPage
		var err error
		if accts, counts, err = o.d.Auth.ListAccounts(ctx, aq); err != nil {
			return PeoplePage{}, err
		}
		pg.Total = counts[aq.Set]
		pg.Pages = max(1, (pg.Total+pg.PerPage-1)/pg.PerPage)
		if page <= pg.Pages {
			break
		}
		page = pg.Pages
	}
	pg.Page = page
	pg.Counts = map[string]int{}
	for set, n := range counts {
		pg.Counts[string(set)] = n
	}
	var err error
	pg.People, err = o.summaries(ctx, accts)
	return pg, err
}

// FirstPeople returns the first n people of filter in the order sort,
// without counting anyone: for the dashboard's lists.
func (o *Ops) FirstPeople(ctx context.Context, filter, sort string, n int) ([]PersonSummary, error) {
	now := o.d.Now()
	accts, _, err := o.d.Auth.ListAccounts(ctx, auth.AccountQuery{Set: auth.AccountSet(filter), Sort: sort, Limit: n, NoCounts: true,
		Now: now, ExpiringBefore: now.Add(ExpiringWithin), IdleBefore: now.Add(-IdleAfter)})
	if err != nil {
		return nil, err
	}
	return o.summaries(ctx, accts)
}

// Counts returns how many people each filter selects.
func (o *Ops) Counts(ctx context.Context) (map[string]int, error) {
	pg, err := o.People(ctx, PeopleQuery{PerPage: 1})
	return pg.Counts, err
}

// summaries completes accounts with their factor kinds, groups and
// warnings.
func (o *Ops) summaries(ctx context.Context, accts []auth.Account) ([]PersonSummary, error) {
	ids := make([]int64, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	kinds, err := o.d.Auth.FactorKindsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	groups, err := o.d.Auth.GroupsOfAccounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := o.d.Now()
	out := make([]PersonSummary, 0, len(accts))
	for _, a := range accts {
		out = append(out, summary(a, kinds[a.ID], groups[a.ID], now))
	}
	return out, nil
}

// summary is a as the people list and the dashboard show it.
func summary(a auth.Account, kinds []auth.FactorKind, groups []string, now time.Time) PersonSummary {
	p := PersonSummary{Account: a, MailUsed: -1, FilesUsed: -1, Groups: groups, Kinds: orderKinds(kinds),
		name: strings.ToLower(a.DisplayName), login: strings.ToLower(a.Login)}
	last := a.LastLoginAt
	if last.IsZero() {
		last = a.CreatedAt
	}
	p.Idle = a.State == auth.StateActive && now.Sub(last) >= IdleAfter
	p.ExpiringSoon = !a.ExpiresAt.IsZero() && a.ExpiresAt.After(now) && a.ExpiresAt.Sub(now) <= ExpiringWithin &&
		(a.State == auth.StateActive || a.State == auth.StateInvited)
	return p
}

// SelectPeople searches, filters, sorts and pages people by q.
func SelectPeople(all []PersonSummary, q PeopleQuery) PeoplePage {
	pg := PeoplePage{PerPage: q.PerPage}
	if pg.PerPage <= 0 {
		pg.PerPage = DefaultPerPage
	}
	pg.PerPage = min(pg.PerPage, MaxPerPage)
	var sel []PersonSummary
	pg.Counts = selectPeople(all, q.Search, func(p PersonSummary) {
		if p.Is(q.Filter) {
			sel = append(sel, p)
		}
	})
	slices.SortStableFunc(sel, peopleOrder(q.Sort, q.Desc))
	pg.Total = len(sel)
	pg.Pages = max(1, (len(sel)+pg.PerPage-1)/pg.PerPage)
	pg.Page = min(max(q.Page, 1), pg.Pages)
	from := (pg.Page - 1) * pg.PerPage
	pg.People = sel[from:min(from+pg.PerPage, len(sel))]
	return pg
}

// CountPeople counts the people whose name, address or groups match
// search, by filter.
func CountPeople(all []PersonSummary, search string) map[string]int {
	return selectPeople(all, search, func(PersonSummary) {})
}

// selectPeople calls fn with each person search matches, and counts them
// by filter.
func selectPeople(all []PersonSummary, search string, fn func(PersonSummary)) map[string]int {
	words := strings.Fields(strings.ToLower(search))
	counts := map[string]int{}
	for _, p := range all {
		if p.name == "" && p.login == "" { // not from Directory
			p.name, p.login = strings.ToLower(p.DisplayName), strings.ToLower(p.Login)
		}
		if !p.matches(words) {
			continue
		}
		for _, f := range Filters {
			if p.Is(f) {
				counts[f]++
			}
		}
		fn(p)
	}
	return counts
}

// peopleOrder compares by the column sort, then by name and address.
func peopleOrder(sort string, desc bool) func(a, b PersonSummary) int {
	key := func(a, b PersonSummary) int {
		switch sort {
		case "address":
			return strings.Compare(a.login, b.login)
		case "state":
			return strings.Compare(string(a.State), string(b.State))
		case "last":
			return a.LastLoginAt.Compare(b.LastLoginAt)
		case "expires":
			return never(a.ExpiresAt).Compare(never(b.ExpiresAt))
		}
		return 0
	}
	return func(a, b PersonSummary) int {
		c := cmp.Or(key(a, b), strings.Compare(a.name, b.name), strings.Compare(a.Login, b.Login))
		if desc {
			return -c
		}
		return c
	}
}

// never orders "no expiry" after every date.
func never(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(1<<40, 0)
	}
	return t
}
