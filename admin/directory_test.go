package admin

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// TestPeopleQueries: the people list as the database selects it
// (Ops.People) is the list SelectPeople makes of the whole directory, for
// every filter, a few searches and every sort, page by page.
func TestPeopleQueries(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	if err := e.Auth.CreateGroup(ctx, "test", "press"); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		na := auth.NewAccount{Login: fmt.Sprintf("p%02d@%s", i, domain), DisplayName: fmt.Sprintf("%s %02d", []string{"anna", "Ben", "carla"}[i%3], i), Role: auth.RoleMember}
		if i%4 == 0 {
			na.Groups = []string{"press"}
		}
		if i%5 == 0 {
			na.ExpiresAt = e.Clock.Now().Add(time.Duration(i) * 24 * time.Hour)
		}
		if i%7 == 0 {
			na.Role = auth.RoleAdmin
		}
		if _, err := e.Auth.CreateInvite(ctx, "test", na, auth.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []struct {
		q    string
		args []any
	}{
		// The secret is a parameter: x'00' is a bit string on PostgreSQL.
		{`UPDATE accounts SET state = 'active', totp_secret = ?, last_login_at = created_at - 86400 * (id % 90) WHERE id % 3 != 0`, []any{[]byte{0}}},
		{`UPDATE accounts SET state = 'suspended' WHERE id % 11 = 0`, nil},
		{`UPDATE accounts SET state = 'active', totp_secret = NULL WHERE id % 13 = 0`, nil},
		{`UPDATE accounts SET last_login_at = NULL WHERE id % 17 = 0`, nil},
	} {
		if _, err := e.DB.ExecContext(ctx, u.q, u.args...); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Advance(70 * 24 * time.Hour) // some are idle now, some expired
	all, err := e.ops.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logins := func(ps []PersonSummary) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Login)
		}
		return out
	}
	for _, f := range Filters {
		for _, search := range []string{"", "ANNA", "press", "p1", "an 1", "nobody"} {
			for _, sort := range []string{"", "address", "state", "last", "expires"} {
				for _, desc := range []bool{false, true} {
					for page := 1; page <= 3; page++ {
						q := PeopleQuery{Search: search, Filter: f, Sort: sort, Desc: desc, Page: page, PerPage: 7}
						want := SelectPeople(all, q)
						got, err := e.ops.People(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(logins(got.People), logins(want.People)) || got.Total != want.Total || got.Page != want.Page {
							t.Fatalf("%+v:\ndatabase %d/%d %v\nwant     %d/%d %v", q, got.Page, got.Total, logins(got.People), want.Page, want.Total, logins(want.People))
						}
						for k, n := range want.Counts {
							if got.Counts[k] != n {
								t.Fatalf("%+v: count of %q %d, want %d", q, k, got.Counts[k], n)
							}
						}
					}
				}
			}
		}
	}
}
