package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestRolesPage: an admin makes a role mailbox, gives a member access and
// takes it away on /admin/roles, each a step-up action with a notice on
// the page it redirects to, and audited; a member cannot reach the page,
// a stale session is sent to step up and nothing happens, and a taken
// address is refused in words.
func TestRolesPage(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	ctx := t.Context()

	if code, _, _ := c.do(t, vol, "GET", "/admin/roles", nil); code != http.StatusForbidden {
		t.Errorf("member: %d, want 403", code)
	}
	if code, _, _ := c.do(t, vol, "POST", "/admin/roles", url.Values{"csrf": {c.csrf(t, vol)}, "address": {"press@example.org"}}); code != http.StatusForbidden {
		t.Errorf("member create: %d, want 403", code)
	}
	code, body := c.act(t, admin, "/admin/roles", url.Values{"address": {"press@example.org"}, "name": {"Press office"}})
	if code != http.StatusOK || !strings.Contains(body, "press@example.org is ready") || !strings.Contains(body, "Press office") {
		t.Fatalf("create: %d\n%s", code, body)
	}
	ro, err := c.store.RoleByAddress(ctx, "press@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, body := c.act(t, admin, "/admin/roles", url.Values{"address": {"vol@example.org"}}); !strings.Contains(body, "vol@example.org is already a person") {
		t.Errorf("a person's address as a role: %s", body)
	}
	grant := "/admin/roles/" + itoa(ro.ID) + "/grant"
	code, body = c.act(t, admin, grant, url.Values{"account": {itoa(vol.Account.ID)}, "access": {"send"}})
	if code != http.StatusOK || !strings.Contains(body, "vol@example.org can now use press@example.org") || !strings.Contains(body, "Read and send as") {
		t.Fatalf("grant: %d\n%s", code, body)
	}
	if g, err := c.store.GrantByAddress(ctx, vol.Account.ID, "press@example.org"); err != nil || !g.SendAs {
		t.Fatalf("grant stored: %+v, %v", g, err)
	}
	// A stale session steps up first; nothing is revoked meanwhile.
	c.env.Clock.Advance(6 * time.Minute)
	revoke := "/admin/roles/" + itoa(ro.ID) + "/revoke/" + itoa(vol.Account.ID)
	if code, loc, _ := c.do(t, admin, "POST", revoke, url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Fatalf("stale revoke: %d %q, want /reauth", code, loc)
	}
	if _, err := c.store.GrantByAddress(ctx, vol.Account.ID, "press@example.org"); err != nil {
		t.Fatalf("revoked without a step-up: %v", err)
	}
	c.stepUp(t, admin)
	code, body = c.act(t, admin, revoke, url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "vol@example.org no longer has access to press@example.org") {
		t.Fatalf("revoke: %d\n%s", code, body)
	}
	if _, err := c.store.GrantByAddress(ctx, vol.Account.ID, "press@example.org"); err == nil {
		t.Fatal("grant still there")
	}
	for _, kind := range []string{"role.create", "role.grant", "role.revoke"} {
		recs, err := c.env.Audit.List(ctx, audit.Filter{Kind: kind})
		if err != nil || len(recs) != 1 || recs[0].Actor != admin.Account.Login {
			t.Errorf("audit %s: %+v, %v", kind, recs, err)
		}
	}
	// In French, with the offboarding plan's step.
	fr := c.getIn(t, admin, "/admin/roles", "fr")
	for _, want := range []string{`lang="fr"`, "<h1>Boîtes de fonction</h1>", "Donner l&#39;accès", "Personne n&#39;y a encore accès."} {
		if !strings.Contains(fr, want) {
			t.Errorf("French page lacks %q", want)
		}
	}
	plan := c.getIn(t, admin, "/admin/people/"+itoa(vol.Account.ID)+"/offboard?plan=1&links=revoke", "fr")
	if !strings.Contains(plan, "<strong>boîtes de fonction</strong>: aucun") {
		t.Errorf("French offboarding plan lacks the role mailboxes step")
	}
	c.act(t, admin, grant, url.Values{"account": {itoa(vol.Account.ID)}, "access": {"read"}})
	plan = c.getIn(t, admin, "/admin/people/"+itoa(vol.Account.ID)+"/offboard?plan=1&links=revoke", "fr")
	if !strings.Contains(plan, "<strong>boîtes de fonction</strong>: press@example.org (Lecture)") {
		t.Errorf("French offboarding plan does not list the role mailbox in French")
	}
	// The audit page shows them in words.
	if _, _, body := c.do(t, admin, "GET", "/admin/audit", nil); !strings.Contains(body, "access to a role mailbox given") {
		t.Errorf("audit page lacks the role words")
	}
}

// TestGroupOnRolePage: a group cannot be made, nor one renamed, on a role
// mailbox's address: the groups page says so, in the admin's language,
// and no group is made (issue 19).
func TestGroupOnRolePage(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	ctx := t.Context()
	if _, err := c.store.CreateRole(ctx, "press@example.org", "Press office"); err != nil {
		t.Fatal(err)
	}
	if err := c.env.Auth.CreateGroup(ctx, "", "board"); err != nil {
		t.Fatal(err)
	}
	for path, form := range map[string]url.Values{
		"/admin/groups":              {"name": {"Press"}},
		"/admin/groups/board/rename": {"to": {"press"}},
	} {
		form.Set("csrf", c.csrf(t, admin))
		code, _, body := c.do(t, admin, "POST", path, form)
		if code != http.StatusBadRequest || !strings.Contains(body, "press@example.org is a role mailbox") {
			t.Errorf("POST %s: %d\n%s", path, code, body)
		}
	}
	if _, ok, err := c.env.Auth.GroupMembers(ctx, "press"); err != nil || ok {
		t.Errorf("a group press was made (%v)", err)
	}
}
