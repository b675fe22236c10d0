package submit

import (
	"errors"
	"strings"
	"testing"
)

// TestSendAsCountsAgainstLimit: what caucus sends for a member (an
// invitation written over CalDAV) counts against the member's hourly
// limit with what they submit: past it, both are refused; and a message
// to more recipients than a submission may name is refused.
func TestSendAsCountsAgainstLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SendPerHour: 2, MaxRcptsPerMessage: 3})
	ctx := t.Context()
	msg := []byte("From: anna@example-party.org\r\nSubject: Invitation\r\n\r\nCome.\r\n")
	if err := e.svc.SendAs(ctx, e.anna, []string{"friend@elsewhere.example"}, msg); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendAs(ctx, e.anna, strings.Fields("a@x.example b@x.example c@x.example d@x.example"), msg); !errors.Is(err, ErrTooManyRcpts) {
		t.Errorf("four recipients: %v, want ErrTooManyRcpts", err)
	}
	if _, err := e.svc.Mail(ctx, Sender{Account: e.anna}, "anna@example-party.org"); err != nil {
		t.Fatalf("the second message of the hour: %v", err)
	}
	if err := e.svc.SendAs(ctx, e.anna, []string{"friend@elsewhere.example"}, msg); !errors.Is(err, ErrRateLimited) {
		t.Errorf("the third message of the hour sent for anna: %v, want ErrRateLimited", err)
	}
	if n := len(e.queue.sent); n != 1 {
		t.Errorf("%d messages queued, want 1", n)
	}
}
