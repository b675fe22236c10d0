package route

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/phish"
)

// TestMemoAcrossNodes: with the mail routing memo on (PostgreSQL), node B
// answers a recipient it has resolved from memory, and once it has heard
// of node A's commit (Memo.Sync) it follows A's change: a forward set, an
// alias moved to another account, an account offboarded, an auto-reply
// set, an alias added, a sender blocked. Node A writes without a memo;
// only the database's triggers tell B. Seen failing with the triggers
// left out (B went on answering from before each change).
func TestMemoAcrossNodes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{}, Component(), phish.Component())
	if env.DB.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database; one SQLite file has one node")
	}
	ctx := t.Context()
	domains := []string{"example-party.org"}
	a := New(env.DB, env.Auth, domains, env.Clock.Now)
	b := New(env.DB, env.Auth, domains, env.Clock.Now)
	memo := env.DB.Memo(db.MailRouteChannel)
	b.SetMemo(memo)
	blocksA := phish.New(phish.Options{DB: env.DB})
	blocksB := phish.New(phish.Options{DB: env.DB})
	blocksB.SetMemo(memo)
	rctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); memo.Run(rctx, ready) }()
	t.Cleanup(func() { cancel(); <-done })
	<-ready

	user := func(login string) int64 { return env.User(t, login, auth.RoleMember).Account.ID }
	anna, bob, carl, dora, erin := user("anna@example-party.org"), user("bob@example-party.org"),
		user("carl@example-party.org"), user("dora@example-party.org"), user("erin@example-party.org")
	if err := a.AddAlias(ctx, "admin", carl, "spokes@example-party.org"); err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		if err := memo.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	resolves := func(rcpt string, want []int64, wantErr error) {
		t.Helper()
		got, err := b.Resolve(ctx, rcpt)
		if !errors.Is(err, wantErr) || !slices.Equal(got.Accounts, want) {
			t.Errorf("B: Resolve(%q) = %v, %v; want %v, %v", rcpt, got.Accounts, err, want, wantErr)
		}
	}
	autoReply := func(rcpt string, want bool) {
		t.Helper()
		_, _, _, ok, err := b.AutoReplyFor(ctx, rcpt)
		if err != nil || ok != want {
			t.Errorf("B: AutoReplyFor(%q) = %v, %v; want %v", rcpt, ok, err, want)
		}
	}
	blocked := func(sender string, want bool) {
		t.Helper()
		_, ok, err := blocksB.Blocked(ctx, sender)
		if err != nil || ok != want {
			t.Errorf("B: Blocked(%q) = %v, %v; want %v", sender, ok, err, want)
		}
	}
	sync()
	for _, rcpt := range []string{"anna@example-party.org", "spokes@example-party.org", "erin@example-party.org"} {
		if _, err := b.Resolve(ctx, rcpt); err != nil {
			t.Fatal(err)
		}
	}
	autoReply("spokes@example-party.org", false)
	autoReply("chief@example-party.org", false)
	blocked("spam@outside.test", false)

	// Kept: asked again, B asks the database nothing.
	before := env.DB.RoundTrips()
	resolves("Anna@example-party.org", []int64{anna}, nil)
	autoReply("chief@example-party.org", false)
	blocked("spam@outside.test", false)
	if trips := env.DB.RoundTrips() - before; trips != 0 {
		t.Errorf("B made %d round trips for answers it keeps, want 0", trips)
	}

	if err := a.SetForwarding(ctx, "admin", anna, "bob@example-party.org", false); err != nil {
		t.Fatal(err)
	}
	if _, err := env.DB.ExecContext(ctx, `UPDATE aliases SET account_id = ? WHERE address = ?`, dora, "spokes@example-party.org"); err != nil {
		t.Fatal(err)
	}
	if err := env.Auth.SetState(ctx, "admin", erin, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAutoReply(ctx, "admin", dora, &AutoReply{Subject: "Away", Body: "Back on Monday."}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddAlias(ctx, "admin", dora, "chief@example-party.org"); err != nil {
		t.Fatal(err)
	}
	if err := blocksA.AddBlock(ctx, "admin", "", "spam@outside.test", "phishing"); err != nil {
		t.Fatal(err)
	}
	sync()
	resolves("anna@example-party.org", []int64{bob}, nil)
	resolves("spokes@example-party.org", []int64{dora}, nil)
	resolves("erin@example-party.org", nil, ErrUnknown)
	autoReply("spokes@example-party.org", true)
	autoReply("chief@example-party.org", true)
	blocked("spam@outside.test", true)
}
