package admin

import (
	"fmt"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// BenchmarkList measures the people list behind the dashboard for a party
// of 1,000 members (factors, groups and mail usage read per person).
func BenchmarkList(b *testing.B) {
	e := newOps(b)
	ctx := b.Context()
	for i := range 1000 {
		na := auth.NewAccount{Login: fmt.Sprintf("m%04d@%s", i, domain), DisplayName: "Member", Role: auth.RoleMember, Groups: []string{"all"}}
		if _, err := e.Auth.CreateInvite(ctx, "bench", na, auth.Client{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		people, err := e.ops.List(ctx)
		if err != nil || len(people) != 1001 {
			b.Fatal(len(people), err)
		}
	}
}

// benchPeople makes a party of n invited members, every third in press.
func benchPeople(b *testing.B, n int) *opsEnv {
	e := newOps(b)
	ctx := b.Context()
	if err := e.Auth.CreateGroup(ctx, "bench", "press"); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		na := auth.NewAccount{Login: fmt.Sprintf("m%04d@%s", i, domain), DisplayName: fmt.Sprintf("Member %04d", i), Role: auth.RoleMember}
		if i%3 == 0 {
			na.Groups = []string{"press"}
		}
		if _, err := e.Auth.CreateInvite(ctx, "bench", na, auth.Client{}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkPeople5000 compares, for 5,000 members, the people list's page
// as the database selects it (Ops.People) with the whole directory read
// and selected in memory (Directory, SelectPeople), as the console did
// before, on the same data in the same run: sub-benchmarks run in turn.
func BenchmarkPeople5000(b *testing.B) {
	e := benchPeople(b, 5000)
	ctx := b.Context()
	q := PeopleQuery{Search: "press", Filter: FilterInvited, Sort: "name", Page: 3}
	b.Run("database", func(b *testing.B) {
		for b.Loop() {
			if pg, err := e.ops.People(ctx, q); err != nil || len(pg.People) != DefaultPerPage {
				b.Fatal(len(pg.People), err)
			}
		}
	})
	b.Run("memory", func(b *testing.B) {
		for b.Loop() {
			all, err := e.ops.Directory(ctx)
			if pg := SelectPeople(all, q); err != nil || len(pg.People) != DefaultPerPage {
				b.Fatal(len(pg.People), err)
			}
		}
	})
}
