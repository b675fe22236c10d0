package submit

import (
	"errors"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// TestVolunteerSendLimit: a volunteer's hourly limit is lower than a
// member's (VolunteerSendPerHour), and the refusal names it.
func TestVolunteerSendLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SendPerHour: 10, VolunteerSendPerHour: 2})
	ctx := t.Context()
	vol := e.auth.User(t, "vol@example-party.org", auth.RoleVolunteer).Account
	who := Sender{Account: vol, Addr: "192.0.2.1", UserAgent: "test"}
	for i := range 2 {
		if _, err := e.svc.Mail(ctx, who, vol.Login); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	_, err := e.svc.Mail(ctx, who, vol.Login)
	if !errors.Is(err, ErrRateLimited) || refusal(t, err).Code != 450 {
		t.Errorf("a volunteer's third message in the hour: %v, want 450 ErrRateLimited", err)
	}
	anna := Sender{Account: e.anna, Addr: "192.0.2.2", UserAgent: "test"}
	for i := range 3 {
		if _, err := e.svc.Mail(ctx, anna, e.anna.Login); err != nil {
			t.Fatalf("a member's message %d: %v", i+1, err)
		}
	}
}
