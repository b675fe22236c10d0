package ctl

import (
	"encoding/json"
	"testing"

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
