package ctl

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/route"
)

// TestInviteBareLogin: `caucus admin invite anna.rossi` invites
// anna.rossi@ the party's domain, named Anna Rossi, as its usage promises
// (issue 16 bug 6: it needed a full address and --name, shown optional).
func TestInviteBareLogin(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, route.Component(), admin.Component())
	dir := route.New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	ops := admin.NewOps(admin.OpsDeps{Auth: env.Auth, DB: env.DB, Route: dir, Now: env.Clock.Now, BaseURL: "https://caucus.test"})
	invite := Handlers(ops, env.Audit)[OpInvite]
	for _, tc := range []struct{ args, login, name string }{
		{`{"login":"anna.rossi"}`, "anna.rossi@example-party.org", "Anna Rossi"},
		{`{"login":"Luca_Bianchi@example-party.org"}`, "luca_bianchi@example-party.org", "Luca Bianchi"},
		{`{"login":"vol","name":"Vol Unteer"}`, "vol@example-party.org", "Vol Unteer"},
	} {
		res, err := invite(t.Context(), Call{Actor: "cli:test", Args: json.RawMessage(tc.args)})
		if err != nil {
			t.Errorf("invite %s: %v", tc.args, err)
			continue
		}
		if res.(InviteResult).Link == "" {
			t.Errorf("invite %s: no link", tc.args)
		}
		a, err := env.Auth.AccountByLogin(t.Context(), tc.login)
		if err != nil || a.DisplayName != tc.name {
			t.Errorf("invite %s: account %+v, %v; want %s named %q", tc.args, a, err, tc.login, tc.name)
		}
	}
}

// TestInviteLastDayInPartyZone: `caucus admin invite --expires` and
// `caucus admin list` read and print the last day in the party's time
// zone, not the server's (run with TZ=UTC: a Berlin party's 2027-06-30
// ended at 02:00 on 1 July in Berlin).
func TestInviteLastDayInPartyZone(t *testing.T) {
	t.Parallel()
	party, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	if _, off := time.Date(2027, 7, 1, 0, 0, 0, 0, time.Local).Zone(); off == 2*3600 {
		if party, err = time.LoadLocation("Pacific/Kiritimati"); err != nil {
			t.Skip("no tz database:", err)
		}
	}
	env := authtest.New(t, auth.Config{}, route.Component(), admin.Component())
	dir := route.New(env.DB, env.Auth, []string{"example-party.org"}, env.Clock.Now)
	ops := admin.NewOps(admin.OpsDeps{Auth: env.Auth, DB: env.DB, Route: dir, Now: env.Clock.Now, BaseURL: "https://caucus.test", TimeZone: party})
	hs := Handlers(ops, env.Audit)
	if _, err := hs[OpInvite](t.Context(), Call{Actor: "cli:test", Args: json.RawMessage(`{"login":"vol","expires":"2027-06-30"}`)}); err != nil {
		t.Fatal(err)
	}
	a, err := env.Auth.AccountByLogin(t.Context(), "vol@example-party.org")
	if want := time.Date(2027, 7, 1, 0, 0, 0, 0, party); err != nil || !a.ExpiresAt.Equal(want) {
		t.Errorf("access ends %v (%v), want %v", a.ExpiresAt.In(party), err, want)
	}
	res, err := hs[OpList](t.Context(), Call{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.([]Person) {
		if p.Login == "vol@example-party.org" && p.LastDay != "2027-06-30" {
			t.Errorf("list gives the last day %q, want 2027-06-30", p.LastDay)
		}
	}
}
