package smtpserver

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/route"
)

// withAutoReply hooks a real responder into the servers: local answers go
// to the store, others to the test's queue.
func withAutoReply(e *testEnv, d *envDeps) {
	d.Sub.AutoReply = autoreply.New(autoreply.Config{Hostname: "mx.example-party.org", Now: d.Now},
		autoreply.Deps{DB: e.auth.DB, Dir: e.dir, Mail: laterSender{e}, Log: d.Log})
}

// laterSender sends through the env's submission service, built after
// the options ran.
type laterSender struct{ e *testEnv }

func (l laterSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return l.e.submit.Send(ctx, from, to, msg)
}

// TestAutoReplyOnDelivery: mail to a departed member's address reaches the
// successor and is answered, once, whether it came from the internet (the
// answer is queued) or from a member (the answer is in her INBOX).
func TestAutoReplyOnDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withAutoReply)
	ctx := t.Context()
	anna := e.member(t, "anna@example-party.org")
	bob := e.member(t, "bob@example-party.org")
	carla := e.member(t, "carla@example-party.org")
	if err := e.dir.SetForwarding(ctx, "admin", anna.Account.ID, "bob@example-party.org", false); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.SetAutoReply(ctx, "admin", anna.Account.ID, &route.AutoReply{Body: "Anna has left; Bob answers for her.", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := e.auth.Auth.SetState(ctx, "admin", anna.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}

	mx := e.dial(t, e.mx, true)
	for range 2 {
		mx.Reset()
		if err := send(mx, "someone@outside.example", []string{"anna@example-party.org"}, msg("someone@outside.example", "anna@example-party.org", "question")); err != nil {
			t.Fatalf("MX delivery: %v", err)
		}
	}
	if got := e.inbox(t, bob.Account.ID); len(got) != 2 {
		t.Errorf("bob received %d messages, want 2", len(got))
	}
	q := e.queue.all()
	if len(q) != 1 || q[0].from != "" || !slices.Equal(q[0].rcpts, []string{"someone@outside.example"}) ||
		!strings.Contains(q[0].msg, "Auto-Submitted: auto-replied") || !strings.Contains(q[0].msg, "In-Reply-To: <question@client.example>") {
		t.Errorf("queued answers: %+v", q)
	}

	sub := e.dial(t, e.sub, true)
	if err := sub.Auth(sasl.NewPlainClient("", carla.Account.Login, carla.secret)); err != nil {
		t.Fatal(err)
	}
	if err := send(sub, "carla@example-party.org", []string{"anna@example-party.org"}, msg("carla@example-party.org", "anna@example-party.org", "lunch")); err != nil {
		t.Fatalf("submission: %v", err)
	}
	got := e.inbox(t, carla.Account.ID)
	if len(got) != 1 || !strings.Contains(got[0], "Anna has left") || !strings.Contains(got[0], "Subject: Auto: lunch") {
		t.Errorf("carla's INBOX: %q", got)
	}
	if n := len(e.queue.all()); n != 1 {
		t.Errorf("%d messages queued, want still 1", n)
	}
}

// TestNoAutoReplyToJunk: mail filed as junk (DMARC p=quarantine failed)
// reaches the successor's Junk mailbox and gets no auto-reply (RFC 3834
// section 2: suspicious mail is not answered).
func TestNoAutoReplyToJunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withAutoReply)
	ctx := t.Context()
	anna := e.member(t, "anna@example-party.org")
	bob := e.member(t, "bob@example-party.org")
	if err := e.dir.SetForwarding(ctx, "admin", anna.Account.ID, "bob@example-party.org", false); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.SetAutoReply(ctx, "admin", anna.Account.ID, &route.AutoReply{Body: "Anna has left.", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mx := e.dial(t, e.mx, true)
	if err := send(mx, "someone@outside.example", []string{"anna@example-party.org"}, msg("someone@outside.example", "anna@example-party.org", "JUNKME")); err != nil {
		t.Fatalf("MX delivery: %v", err)
	}
	if junk, inbox := e.mailbox(t, bob.Account.ID, "Junk"), e.inbox(t, bob.Account.ID); len(junk) != 1 || len(inbox) != 0 {
		t.Errorf("bob's Junk holds %d, INBOX %d; want 1, 0", len(junk), len(inbox))
	}
	if q := e.queue.all(); len(q) != 0 {
		t.Errorf("junk was answered: %+v", q)
	}
	// The same mail not filed as junk is answered: the set-up works.
	mx.Reset()
	if err := send(mx, "someone@outside.example", []string{"anna@example-party.org"}, msg("someone@outside.example", "anna@example-party.org", "question")); err != nil {
		t.Fatalf("MX delivery: %v", err)
	}
	if q := e.queue.all(); len(q) != 1 {
		t.Errorf("%d answers to ordinary mail, want 1", len(q))
	}
}
