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
