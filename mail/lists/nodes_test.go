package lists

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// gatedSender is a sender that holds its first copy until released.
type gatedSender struct {
	fakeSender
	entered chan struct{} // closed when the first copy arrives
	release chan struct{} // the first copy waits for it
	first   bool
}

func (g *gatedSender) SendBulk(ctx context.Context, from string, to []string, msg []byte) error {
	g.mu.Lock()
	first := !g.first
	g.first = true
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return g.fakeSender.SendBulk(ctx, from, to, msg)
}

// TestTwoNodesSendOnce runs the outbox on two nodes at once (two services,
// as on two caucus nodes of one PostgreSQL database): while the first is
// handing a post's copies over, the second sends none of them, and each
// recipient gets one copy.
func TestTwoNodesSendOnce(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database only")
	}
	f := newFixture(t, false)
	ctx := t.Context()
	const outside = 20
	for i := range outside {
		if err := f.svc.Subscribe(ctx, "admin@example-party.org", f.list, fmt.Sprintf("s%d@outside.example", i), SourceAdmin, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org",
		Msg: post("Anna <anna@example-party.org>", "Hello")}); err != nil {
		t.Fatal(err)
	}
	a := &gatedSender{entered: make(chan struct{}), release: make(chan struct{})}
	b := &fakeSender{}
	nodes := make([]*Service, 2)
	for i, s := range []Sender{a, b} {
		svc, err := New(Config{Domains: []string{"example-party.org"}, BaseURL: "https://mail.example-party.org", Key: bytes.Repeat([]byte{7}, 32)},
			Deps{DB: f.env.DB, Auth: f.env.Auth, Sender: s, Blobs: f.blobs, Now: f.env.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = svc
	}
	done := make(chan error, 1)
	go func() {
		for {
			n, err := nodes[0].SendPending(ctx)
			if err != nil || n == 0 {
				done <- err
				return
			}
		}
	}()
	select {
	case <-a.entered:
	case err := <-done:
		t.Fatalf("the first node sent nothing (%v)", err)
	}
	for {
		n, err := nodes[1].SendPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	close(a.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].SendPending(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range append(a.take(), b.take()...) {
		got[s.to[0]]++
	}
	if len(got) != outside+2 {
		t.Errorf("%d recipients got copies, want %d", len(got), outside+2)
	}
	for rcpt, n := range got {
		if n != 1 {
			t.Errorf("%s got %d copies, want 1", rcpt, n)
		}
	}
}
