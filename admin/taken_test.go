package admin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/route"
)

// TestGroupOnRoleAddress: a group, or an alias, cannot take a role
// mailbox's address (issue 19: mail went on to the role and the admin
// was not told); the admin is told why, in their language.
func TestGroupOnRoleAddress(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	alice := e.User(t, "alice@"+domain, auth.RoleMember)
	if _, err := e.ops.CreateRole(ctx, e.actor, "press@"+domain, "Press office"); err != nil {
		t.Fatal(err)
	}
	if err := e.ops.CreateGroup(ctx, e.actor, "board"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"create Press":    e.ops.CreateGroup(ctx, e.actor, " Press "),
		"rename to press": e.ops.RenameGroup(ctx, e.actor, "board", "press"),
		"create alice":    e.ops.CreateGroup(ctx, e.actor, "alice"),
	} {
		if !errors.Is(err, ErrAddressTaken) {
			t.Errorf("%s: %v, want ErrAddressTaken", name, err)
		}
	}
	// Joining a group that does not exist makes it: an invite or an
	// edit that names one is checked too.
	_, err := e.ops.Invite(ctx, e.actor, InviteRequest{Login: "bob@" + domain, Name: "Bob", Role: auth.RoleMember, Groups: []string{"press"}})
	if !errors.Is(err, ErrAddressTaken) {
		t.Errorf("invite into group press: %v", err)
	}
	err = e.ops.EditPerson(ctx, e.actor, alice.Account.ID, PersonEdit{Name: "Alice", Role: auth.RoleMember, Groups: []string{"board", "Press"}})
	if !errors.Is(err, ErrAddressTaken) {
		t.Errorf("edit into group press: %v", err)
	}
	cohort := e.cohortReq(alice.Account.Login, 30)
	cohort.Groups = []string{"canvass", "press"}
	if _, err := e.ops.CreateCohort(ctx, e.actor, cohort); !errors.Is(err, ErrAddressTaken) {
		t.Errorf("cohort into group press: %v", err)
	}
	if _, err := e.Auth.AccountByLogin(ctx, "ann@"+domain); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a cohort refused for its group invited ann (%v)", err)
	}
	if _, ok, err := e.Auth.GroupMembers(ctx, "press"); err != nil || ok {
		t.Errorf("a group press exists (%v)", err)
	}
	if err := e.dir.AddAlias(ctx, "test", alice.Account.ID, "press@"+domain); !errors.Is(err, route.ErrTaken) {
		t.Errorf("alias on a role's address: %v", err)
	}
	err = e.ops.CreateGroup(ctx, e.actor, "press")
	for lang, want := range map[string]string{"en": "role mailbox", "it": "casella di ruolo", "fr": "boîte de fonction", "de": "Funktionspostfach", "es": "buzón de función"} {
		got := Explain(i18n.Builtin().Localizer(lang, time.UTC), err)
		if !strings.Contains(got, "press@"+domain) || !strings.Contains(got, want) {
			t.Errorf("%s: %q", lang, got)
		}
	}
	// A free name is still a group's, and the group's own name is left
	// for auth to refuse as existing.
	if err := e.ops.CreateGroup(ctx, e.actor, "campaign"); err != nil {
		t.Errorf("campaign: %v", err)
	}
	if err := e.ops.CreateGroup(ctx, e.actor, "campaign"); !errors.Is(err, auth.ErrExists) {
		t.Errorf("campaign again: %v", err)
	}
}
