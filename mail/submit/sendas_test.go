package submit

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
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

// invitations records what the calendars were handed.
type invitations struct {
	delivered, submitted [][]int64
	from                 []string
}

func (i *invitations) Delivered(_ context.Context, accounts []int64, _ []byte) {
	i.delivered = append(i.delivered, accounts)
}

func (i *invitations) Submitted(_ context.Context, accounts []int64, from auth.Account, _ []byte) {
	i.submitted, i.from = append(i.submitted, accounts), append(i.from, from.Login)
}

// TestInvitationsHook: a member's submitted message to a member reaches
// the calendars as Submitted, with the account that sent it; mail from
// outside as Delivered, unless it is junk; a message to the outside only
// reaches neither.
func TestInvitationsHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	ctx := t.Context()
	inv := &invitations{}
	e.svc.SetInvitations(inv)
	who := Sender{Account: e.anna}
	rcv := Received{Helo: "client.example", IP: net.IPv4(192, 0, 2, 1), With: "ESMTPSA"}
	msg := "From: anna@example-party.org\r\nSubject: Accepted\r\n\r\nYes.\r\n"
	for _, to := range []string{"anna@example-party.org", "friend@elsewhere.example"} {
		env, err := e.svc.Mail(ctx, who, "anna@example-party.org")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Rcpt(ctx, who, env, to); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Submit(ctx, who, env, header(t, msg), []byte(msg), rcv); err != nil {
			t.Fatal(err)
		}
	}
	if len(inv.submitted) != 1 || inv.submitted[0][0] != e.anna.ID || inv.from[0] != e.anna.Login {
		t.Errorf("submitted: %v from %v", inv.submitted, inv.from)
	}
	for _, junk := range []bool{false, true} {
		env := e.svc.Inbound("x@elsewhere.example")
		if err := e.svc.InboundRcpt(ctx, env, "anna@example-party.org"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Deliver(ctx, env, []byte(msg), rcv, junk); err != nil {
			t.Fatal(err)
		}
	}
	if len(inv.delivered) != 1 || inv.delivered[0][0] != e.anna.ID {
		t.Errorf("delivered: %v, want anna's once (not the junk)", inv.delivered)
	}
}
