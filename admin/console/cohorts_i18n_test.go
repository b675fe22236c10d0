package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
)

// TestCohortAndIncidentInItalian: the cohort pages, the report of a
// cohort's end (its steps' names and details) and incident mode's page
// with its checklist are in the reader's language.
func TestCohortAndIncidentInItalian(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	c.env.User(t, "sam@example.org", auth.RoleMember)
	_, body := c.act(t, admin, "/admin/cohorts", url.Values{"name": {"Porta a porta"}, "sponsor": {"sam@example.org"},
		"last_day": {c.env.Clock.Now().AddDate(0, 1, 0).Format(time.DateOnly)}, "people": {"ann@example.org, Ann\n"}})
	if !strings.Contains(body, "1 volunteer invited") {
		t.Fatalf("cohort not made:\n%s", body)
	}
	cs, err := c.ops.Cohorts(t.Context())
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	page := "/admin/cohorts/" + itoa(cs[0].ID)
	rep, err := c.ops.EndCohort(t.Context(), adminops.Actor{Login: admin.Account.Login, AccountID: admin.Account.ID}, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/admin/cohorts": {`<h1>Coorti</h1>`, `Invita una coorte`, `Referente`, `Ultimo giorno di accesso`, `(terminata)`},
		page:             {`Resoconto della fine`, `La coorte è terminata il`},
		"/admin/reports/" + itoa(rep.ID): {`Fine di una coorte: Porta a porta`, `<strong>ann@example.org</strong>: accesso disattivato`,
			`<strong>ann@example.org</strong>: casella conservata`},
		"/admin/incident": {`Messaggio ai membri`, `Italiano`, `Deutsch`, `Prepara ora il messaggio`},
	} {
		it := c.getIn(t, admin, path, "it-IT, it;q=0.9")
		for _, w := range want {
			if !strings.Contains(it, w) {
				t.Errorf("%s in Italian lacks %q", path, w)
			}
		}
	}
	c.act(t, admin, "/admin/incident", url.Values{"on": {"1"}})
	admin.Session = c.env.SignIn(t, admin)
	c.stepUp(t, admin)
	it := c.getIn(t, admin, "/admin/incident", "it")
	for _, w := range []string{`Lista di controllo`, `fatto da caucus`, `Nomina una persona che guida la risposta`, `(ENISA`, `(NCSC`} {
		if !strings.Contains(it, w) {
			t.Errorf("the checklist in Italian lacks %q", w)
		}
	}
}
