package queue

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// needNodes skips a test of several nodes on SQLite, whose database is
// one machine's: there one process runs the queue, and its attempts in
// memory are the claim.
func needNodes(t *testing.T) {
	t.Helper()
	if dbtest.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database only")
	}
}

// TestTwoNodesDeliverOnce runs the queue on two nodes (two handles on one
// PostgreSQL database, one blob store) that look for due deliveries at
// the same moment, and checks that each recipient gets the message once:
// no delivery is attempted by both. The nodes' connections to the MX
// wait until both have started every attempt they were going to start,
// so that an attempt that was not claimed would surely overlap its twin.
func TestTwoNodesDeliverOnce(t *testing.T) {
	needNodes(t)
	const messages = 12
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.Workers = 4 * messages }})
	got := map[string]int{}
	e.mx.onData = func(m received) {
		for _, r := range m.rcpts {
			got[r]++
		}
	}
	var want []string
	for i := range messages {
		r := fmt.Sprintf("member%d@example.org", i)
		want = append(want, r)
		rcpts := []string{r}
		if i%3 == 0 { // two domains: two deliveries of one message
			rcpts = append(rcpts, fmt.Sprintf("friend%d@other.example", i))
			want = append(want, rcpts[1])
		}
		if _, err := e.q.Enqueue(t.Context(), "alice@example-party.org", rcpts, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
	}

	gate := make(chan struct{})
	cfg := e.cfg
	cfg.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return loopbackDialer(ctx, network, addr)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	nodes := []*Queue{New(cfg, e.db, e.blobs, log), New(cfg, e.store.Open(t), e.blobs, log)}
	var attempts, dispatched sync.WaitGroup
	for _, q := range nodes {
		dispatched.Go(func() { q.dispatch(t.Context(), &attempts) })
	}
	dispatched.Wait()
	close(gate)
	attempts.Wait()

	e.mx.mu.Lock()
	defer e.mx.mu.Unlock()
	for _, r := range want {
		if got[r] != 1 {
			t.Errorf("%s got the message %d times, want once", r, got[r])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d recipients got mail, want %d: %v", len(got), len(want), got)
	}
	if items, err := e.q.List(t.Context()); err != nil || len(items) != 0 {
		t.Errorf("still queued: %v (%v)", items, err)
	}
}

// TestLeaseOfLostNode checks that a delivery claimed by a node that then
// stopped (its attempt never recorded) is left alone by the other node
// while the lease runs, and delivered by it once the lease has expired.
func TestLeaseOfLostNode(t *testing.T) {
	needNodes(t)
	e := newEnv(t, envOptions{})
	e.enqueue("alice@example-party.org", "bob@example.org")
	lost := e.newQueue()
	var did int64
	if err := e.db.QueryRowContext(t.Context(), `SELECT id FROM queue_deliveries`).Scan(&did); err != nil {
		t.Fatal(err)
	}
	if ok, err := lost.claim(t.Context(), did); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	other := New(e.cfg, e.store.Open(t), e.blobs, slog.New(slog.NewTextHandler(t.Output(), nil)))
	other.runOnce(t.Context())
	if n := len(e.mx.received()); n != 0 {
		t.Fatalf("the other node delivered a claimed delivery (%d messages)", n)
	}
	e.clock.Advance(lost.leaseTime() - time.Second)
	other.runOnce(t.Context())
	if n := len(e.mx.received()); n != 0 {
		t.Fatalf("the other node delivered before the lease ended (%d messages)", n)
	}
	e.clock.Advance(2 * time.Second)
	other.runOnce(t.Context())
	if n := len(e.mx.received()); n != 1 {
		t.Fatalf("after the lease: %d messages delivered, want 1", n)
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("still queued: %v", items)
	}
}

// TestLeaseReleasedAfterAttempt checks that a node gives its lease back
// when it records an attempt that failed for now, so that the other node
// may make the next attempt when it is due rather than when the lease
// would have expired.
func TestLeaseReleasedAfterAttempt(t *testing.T) {
	needNodes(t)
	e := newEnv(t, envOptions{})
	e.enqueue("alice@example-party.org", "busy@example.org")
	e.run()
	if items := e.list(); len(items) != 1 || items[0].Attempts != 1 {
		t.Fatalf("after the first attempt: %+v", items)
	}
	e.mx.busyOK.Store(true)
	e.advanceToNext()
	other := New(e.cfg, e.store.Open(t), e.blobs, slog.New(slog.NewTextHandler(t.Output(), nil)))
	other.runOnce(t.Context())
	if n := len(e.mx.received()); n != 1 {
		t.Fatalf("the other node's attempt when due: %d messages delivered, want 1", n)
	}
}
