package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// FactorKindsByAccount returns the kinds of second factor each account
// holds (passkey, security key, TOTP; an account without any is absent),
// in one query: for the admin console's lists of a whole party, where
// [Service.Factors] per account would be one query per person.
func (s *Service) FactorKindsByAccount(ctx context.Context) (map[int64][]FactorKind, error) {
	rows, err := s.db.QueryContext(ctx, factorKindsQuery("", ""))
	if err != nil {
		return nil, fmt.Errorf("auth: factor kinds: %w", err)
	}
	defer rows.Close()
	out := map[int64][]FactorKind{}
	for rows.Next() {
		var id int64
		var k FactorKind
		if err := rows.Scan(&id, &k); err != nil {
			return nil, fmt.Errorf("auth: factor kinds: %w", err)
		}
		out[id] = append(out[id], k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: factor kinds: %w", err)
	}
	return out, nil
}

// AccountSet is a set of accounts the admin console lists and counts.
type AccountSet string

// The sets of [AccountQuery].
const (
	SetAll        AccountSet = ""
	SetInvited    AccountSet = "invited"
	SetActive     AccountSet = "active"
	SetSuspended  AccountSet = "suspended"
	SetOffboarded AccountSet = "offboarded"
	SetExpiring   AccountSet = "expiring" // active or invited, access ending before AccountQuery.ExpiringBefore
	SetNoFactor   AccountSet = "nofactor" // active without a second factor
	SetIdle       AccountSet = "idle"     // active, no sign-in (or created) before AccountQuery.IdleBefore
	SetAdmins     AccountSet = "admins"
)

// AccountSets are the sets, in the order the console shows them.
var AccountSets = []AccountSet{SetAll, SetActive, SetInvited, SetSuspended, SetOffboarded, SetExpiring, SetNoFactor, SetIdle, SetAdmins}

// AccountQuery selects, orders and pages accounts for [Service.ListAccounts].
type AccountQuery struct {
	Search         string     // words the name, login or a group's name must each contain (ASCII letters in any case)
	Set            AccountSet // which accounts
	Sort           string     // "name" (default), "address", "state", "last" (sign-in), "expires"
	Desc           bool
	Offset, Limit  int // the page; Limit at most 1000
	Now            time.Time
	ExpiringBefore time.Time // for SetExpiring
	IdleBefore     time.Time // for SetIdle
	NoCounts       bool      // skip the counts (ListAccounts returns none)
}

// setCond is the SQL condition of a set, and its arguments.
func (q AccountQuery) setCond(set AccountSet) (string, []any) {
	switch set {
	case SetInvited, SetActive, SetSuspended, SetOffboarded:
		return `a.state = ?`, []any{string(set)}
	case SetExpiring:
		return `(a.state IN ('active', 'invited') AND a.expires_at > ? AND a.expires_at <= ?)`, []any{q.Now.Unix(), q.ExpiringBefore.Unix()}
	case SetNoFactor:
		return `(a.state = 'active' AND a.totp_secret IS NULL AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id))`, nil
	case SetIdle:
		return `(a.state = 'active' AND coalesce(a.last_login_at, a.created_at) <= ?)`, []any{q.IdleBefore.Unix()}
	case SetAdmins:
		return `a.role = 'admin'`, nil
	}
	return `1 = 1`, nil
}

// searchCond is the SQL condition of the search, and its arguments.
func (q AccountQuery) searchCond() (string, []any) {
	conds, args := []string{"1 = 1"}, []any{}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	for _, w := range strings.Fields(q.Search) {
		like := "%" + esc.Replace(w) + "%"
		// The groups' subquery does not depend on the row: SQLite runs it
		// once. lower() on both sides: SQLite's LIKE ignores the case of
		// ASCII letters, PostgreSQL's does not.
		conds = append(conds, `(lower(a.display_name) LIKE lower(?) ESCAPE '\' OR lower(a.login) LIKE lower(?) ESCAPE '\' OR a.id IN (SELECT m.account_id FROM group_members m
			JOIN groups g ON g.id = m.group_id WHERE lower(g.name) LIKE lower(?) ESCAPE '\'))`)
		args = append(args, like, like, like)
	}
	return strings.Join(conds, " AND "), args
}

// accountOrder is the ORDER BY of a sort.
func accountOrder(sort string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	// lower(): SQLite's NOCASE without a collation PostgreSQL lacks
	// (SQLite's lower() folds the same ASCII letters NOCASE does).
	name := "lower(a.display_name)" + dir + ", a.login" + dir
	switch sort {
	case "address":
		return "a.login" + dir
	case "state":
		return "a.state" + dir + ", " + name
	case "last":
		return "coalesce(a.last_login_at, 0)" + dir + ", " + name
	case "expires":
		return "a.expires_at IS NULL" + dir + ", a.expires_at" + dir + ", " + name
	}
	return name
}

// ListAccounts returns the page of accounts q selects, and how many
// accounts the search selects in each of [AccountSets] (unless
// q.NoCounts): two queries whatever the number of accounts, for the
// console of a large party.
func (s *Service) ListAccounts(ctx context.Context, q AccountQuery) ([]Account, map[AccountSet]int, error) {
	search, sargs := q.searchCond()
	var counts map[AccountSet]int
	if !q.NoCounts {
		var err error
		if counts, err = s.countAccounts(ctx, q, search, sargs); err != nil {
			return nil, nil, err
		}
	}
	cond, cargs := q.setCond(q.Set)
	limit := min(max(q.Limit, 1), 1000)
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts a WHERE `+search+` AND `+cond+
		` ORDER BY `+accountOrder(q.Sort, q.Desc)+` LIMIT ? OFFSET ?`, append(append(sargs, cargs...), limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("auth: list accounts: %w", err)
	}
	return out, counts, nil
}

// countAccounts counts the accounts the search selects in each set, in
// one pass.
func (s *Service) countAccounts(ctx context.Context, q AccountQuery, search string, sargs []any) (map[AccountSet]int, error) {
	var sums []string
	var args []any
	for _, set := range AccountSets {
		c, a := q.setCond(set)
		sums = append(sums, `coalesce(sum(CASE WHEN `+c+` THEN 1 ELSE 0 END), 0)`)
		args = append(args, a...)
	}
	dest := make([]any, len(AccountSets))
	ns := make([]int, len(AccountSets))
	for i := range ns {
		dest[i] = &ns[i]
	}
	err := s.db.QueryRowContext(ctx, `SELECT `+strings.Join(sums, ", ")+` FROM accounts a WHERE `+search, append(args, sargs...)...).Scan(dest...)
	if err != nil {
		return nil, fmt.Errorf("auth: count accounts: %w", err)
	}
	counts := map[AccountSet]int{}
	for i, set := range AccountSets {
		counts[set] = ns[i]
	}
	return counts, nil
}

// FactorKindsOf is [Service.FactorKindsByAccount] for the given accounts.
func (s *Service) FactorKindsOf(ctx context.Context, ids []int64) (map[int64][]FactorKind, error) {
	in, args := inList(ids)
	return byAccount[FactorKind](ctx, s, "factor kinds", factorKindsQuery(`WHERE account_id IN `+in, `AND id IN `+in), append(args, args...)...)
}

// factorKindsQuery returns the rows (account id, kind of factor) of the
// accounts the conditions select (of webauthn_credentials and of
// accounts; "" for all), each account's kinds in the order first added
// and TOTP last: the order is written out, not left to how an engine
// runs DISTINCT (SQLite kept the first seen, PostgreSQL sorts).
func factorKindsQuery(credCond, acctCond string) string {
	return `SELECT account_id, kind FROM (
		SELECT account_id, kind, 0 AS totp, MIN(id) AS first FROM webauthn_credentials ` + credCond + ` GROUP BY account_id, kind
		UNION ALL SELECT id, 'totp', 1, 0 FROM accounts WHERE totp_secret IS NOT NULL ` + acctCond + `
	) AS k ORDER BY account_id, totp, first`
}

// GroupsOfAccounts returns the names of the groups of each of the given
// accounts, in order.
func (s *Service) GroupsOfAccounts(ctx context.Context, ids []int64) (map[int64][]string, error) {
	in, args := inList(ids)
	return byAccount[string](ctx, s, "groups of accounts", `SELECT m.account_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE m.account_id IN `+in+` ORDER BY g.name`, args...)
}

// byAccount runs query, whose rows are (account id, value), and gathers
// the values of each account in the order the rows come.
func byAccount[T ~string](ctx context.Context, s *Service, what, query string, args ...any) (map[int64][]T, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", what, err)
	}
	defer rows.Close()
	out := map[int64][]T{}
	for rows.Next() {
		var id int64
		var v T
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", what, err)
		}
		out[id] = append(out[id], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: %s: %w", what, err)
	}
	return out, nil
}

// inList is "(?, ?, …)" for ids, and ids as arguments; "(NULL)" for none.
func inList(ids []int64) (string, []any) {
	if len(ids) == 0 {
		return "(NULL)", nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.Repeat("?, ", len(ids)-1) + "?)", args
}
