package notice_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
)

// TestCohortReminder: the sponsor of a cohort of volunteers is mailed,
// in their own language, 14 and 3 days before its end: once per
// threshold, also when the notifier and the admin operations are built
// anew (a restart) and the sweep runs again.
func TestCohortReminder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	boss := e.User(t, "admin@example.org", auth.RoleAdmin)
	sam := e.User(t, "sam@example.org", auth.RoleMember)
	if err := e.Auth.SetLanguage(ctx, sam.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.Migrate(ctx, admin.Component()); err != nil {
		t.Fatal(err)
	}
	ops := admin.NewOps(admin.OpsDeps{Auth: e.Auth, DB: e.DB, Audit: e.Audit, Now: e.Clock.Now})
	people, err := admin.ParseCohortPeople("ann@example.org, Ann\nben@example.org, Ben\n")
	if err != nil {
		t.Fatal(err)
	}
	ends := e.Clock.Now().Add(20 * 24 * time.Hour)
	res, err := ops.CreateCohort(ctx, admin.Actor{Login: boss.Account.Login, AccountID: boss.Account.ID},
		admin.CohortRequest{Name: "Porta a porta", Sponsor: sam.Account.Login, Ends: ends, People: people})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func(ops *admin.Ops) {
		t.Helper()
		if _, _, err := ops.CohortsDue(ctx); err != nil {
			t.Fatal(err)
		}
		e.step(t)
	}
	sweep(ops)
	if got := e.to(t, sam.Account.Login); len(got) != 0 {
		t.Fatalf("20 days before the end the sponsor got %d mails", len(got))
	}
	e.Clock.Advance(6*24*time.Hour + time.Minute)
	sweep(ops)
	sweep(ops)
	e.n = e.notifier(t) // a restart
	sweep(admin.NewOps(ops.Deps()))
	got := e.to(t, sam.Account.Login)
	if len(got) != 1 {
		t.Fatalf("14 days before the end, across a restart, the sponsor got %d mails, want 1", len(got))
	}
	m := got[0]
	checkHeaders(t, m, "it")
	last := admin.LastDay(ends, nil)
	day := fmt.Sprintf("%d %s %d", last.Day(), strings.Fields("gen feb mar apr mag giu lug ago set ott nov dic")[last.Month()-1], last.Year()) // in Italian
	if !strings.Contains(m.subj, "Porta a porta") || !strings.Contains(m.subj, day) ||
		!strings.Contains(m.body, "2 volontari") || !strings.Contains(m.body, "https://mail.example.org/admin/cohorts/"+strconv.FormatInt(res.Cohort.ID, 10)) {
		t.Errorf("the reminder says:\n%s\n\n%s", m.subj, m.body)
	}
	e.Clock.Advance(11 * 24 * time.Hour)
	sweep(ops)
	sweep(ops)
	if got := e.to(t, sam.Account.Login); len(got) != 2 {
		t.Errorf("3 days before the end the sponsor has %d mails, want 2", len(got))
	}
	for _, u := range []string{boss.Account.Login, "ann@example.org"} {
		if got := e.to(t, u); len(got) != 0 {
			t.Errorf("%s got the sponsor's reminder", u)
		}
	}
}
