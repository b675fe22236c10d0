package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// TestVolunteerNeedsLastDay: a volunteer is invited only with a last day
// of access, cannot lose it, and a member becomes one only with one.
func TestVolunteerNeedsLastDay(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, auth.Config{})
	ctx := t.Context()
	if _, err := e.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: "vol@example.org", DisplayName: "Vol", Role: auth.RoleVolunteer}, auth.Client{}); !errors.Is(err, auth.ErrVolunteerLastDay) {
		t.Errorf("a volunteer without a last day: %v, want ErrVolunteerLastDay", err)
	}
	end := e.Clock.Now().Add(60 * 24 * time.Hour)
	if _, err := e.Auth.CreateInvite(ctx, "", auth.NewAccount{Login: "vol@example.org", DisplayName: "Vol", Role: auth.RoleVolunteer, ExpiresAt: end}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	vol, err := e.Auth.AccountByLogin(ctx, "vol@example.org")
	if err != nil || vol.Role != auth.RoleVolunteer {
		t.Fatalf("stored as %q (%v), want volunteer", vol.Role, err)
	}
	never := time.Time{}
	if err := e.Auth.ChangeAccount(ctx, "admin", vol.ID, auth.AccountChange{Expires: &never}, auth.Client{}); !errors.Is(err, auth.ErrVolunteerLastDay) {
		t.Errorf("taking a volunteer's last day away: %v", err)
	}
	m := e.User(t, "anna@example.org", auth.RoleMember)
	volunteer := auth.RoleVolunteer
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &volunteer}, auth.Client{}); !errors.Is(err, auth.ErrVolunteerLastDay) {
		t.Errorf("a member made volunteer without a last day: %v", err)
	}
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &volunteer, Expires: &end}, auth.Client{}); err != nil {
		t.Errorf("a member made volunteer with a last day: %v", err)
	}
	member := auth.RoleMember
	if err := e.Auth.ChangeAccount(ctx, "admin", m.Account.ID, auth.AccountChange{Role: &member, Expires: &never}, auth.Client{}); err != nil {
		t.Errorf("a volunteer made member for good: %v", err)
	}
	if a, _ := e.Auth.Account(ctx, m.Account.ID); a.Role != auth.RoleMember || !a.ExpiresAt.IsZero() {
		t.Errorf("after: %q %v", a.Role, a.ExpiresAt)
	}
}
