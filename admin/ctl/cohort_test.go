package ctl

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/route"
)

// TestCohortCLI: `caucus admin cohort` invites a cohort from a list
// (bare names at the party's domain) with each link; a bad last day is
// refused; `cohorts` lists it; `cohort-extend` moves its last day; and
// `cohort-end` ends it with its one report.
func TestCohortCLI(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, route.Component(), admin.Component())
	dir := route.New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	ops := admin.NewOps(admin.OpsDeps{Auth: env.Auth, DB: env.DB, Route: dir, Now: env.Clock.Now, BaseURL: "https://caucus.test"})
	env.User(t, "sam@example-party.org", auth.RoleMember)
	h := CohortHandlers(ops)
	call := func(op string, args any) (any, error) {
		b, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		return h[op](t.Context(), Call{Actor: "cli:test", Args: b})
	}
	last := env.Clock.Now().AddDate(0, 0, 30).Format(time.DateOnly)
	if _, err := call(OpCohortCreate, CohortArgs{Name: "Stand", Sponsor: "sam", LastDay: "30/12/2026", People: "ann\n"}); err == nil {
		t.Error("a last day not written YYYY-MM-DD was taken")
	}
	res, err := call(OpCohortCreate, CohortArgs{Name: "Stand", Sponsor: "sam", LastDay: last, People: "ann, Ann\nbob\n"})
	if err != nil {
		t.Fatal(err)
	}
	made := res.(CohortCreated)
	if len(made.Invites) != 2 || made.Invites[0].Login != "ann@example-party.org" || !strings.HasPrefix(made.Invites[0].Link, "https://caucus.test/enrol/") ||
		made.Cohort.Sponsor != "sam@example-party.org" || made.Cohort.LastDay != last {
		t.Fatalf("cohort made: %+v", made)
	}
	list, err := call(OpCohortList, nil)
	if err != nil || len(list.([]CohortInfo)) != 1 {
		t.Fatalf("cohorts: %v %v", list, err)
	}
	later := env.Clock.Now().AddDate(0, 0, 60).Format(time.DateOnly)
	ext, err := call(OpCohortExtend, CohortIDArgs{ID: made.Cohort.ID, LastDay: later})
	if err != nil || ext.(CohortInfo).LastDay != later {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	rep, err := call(OpCohortEnd, CohortIDArgs{ID: made.Cohort.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.(admin.Report); r.Kind != "cohort.end" || !strings.Contains(r.Text(), "bob@example-party.org: sign-in disabled") {
		t.Errorf("the end's report:\n%s", r.Text())
	}
}
