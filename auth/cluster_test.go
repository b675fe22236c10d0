package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

// revocationPair returns the revocation buses of two nodes on one
// PostgreSQL database, both listening, and node A's database.
func revocationPair(t *testing.T) (a, b *ClusterRevocations, da *db.DB) {
	t.Helper()
	nodes := pgtest.Nodes(t, 2)
	da = nodes[0]
	a, b = NewClusterRevocations(da, "A", nil), NewClusterRevocations(nodes[1], "B", nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, c := range []*ClusterRevocations{a, b} {
		ready := make(chan struct{})
		wg.Go(func() { c.Run(ctx, ready) })
		<-ready
	}
	return a, b, da
}

// revoked waits for ctx to end and checks its cause.
func revoked(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), ErrRevoked) {
			t.Fatalf("%s ended with %v, want ErrRevoked", what, context.Cause(ctx))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s was not closed", what)
	}
}

// TestClusterRevocations: a revocation on node A closes the matching
// connections on node B and no others; a check that raced with it is
// refused on arrival; a listener that was cut closes everything it has.
func TestClusterRevocations(t *testing.T) {
	a, b, da := revocationPair(t)
	bg := context.Background()
	imapB, _ := b.Register(bg, 1, AppPasswordCred(5), b.Epoch(1))
	webB, _ := b.Register(bg, 1, SessionCred(8), b.Epoch(1))
	otherB, _ := b.Register(bg, 2, SessionCred(9), b.Epoch(2))

	a.RevokeCredential(1, AppPasswordCred(5))
	revoked(t, imapB, "the app password's IMAP connection on B")
	a.RevokeSessions(1)
	revoked(t, webB, "the web session on B")

	// A credential check on B read the epoch before A suspended the
	// account; it registers after B heard of it.
	epoch := b.Epoch(1)
	a.RevokeAccount(1)
	for b.Epoch(1) == epoch {
		time.Sleep(10 * time.Millisecond)
	}
	late, _ := b.Register(bg, 1, AppPasswordCred(6), epoch)
	revoked(t, late, "a connection that raced with the suspension")
	if otherB.Err() != nil {
		t.Fatal("another account's connection was closed")
	}

	// B's listener is cut (the database failed over): B closes what it has.
	if _, err := da.ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%caucus_revocations%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	revoked(t, otherB, "a connection on a node that may have missed revocations")
}

// FuzzClusterRevocationReceive feeds any payload to a node's receiver: it
// never panics, and closes only connections of the account it names.
func FuzzClusterRevocationReceive(f *testing.F) {
	f.Add(`{"o":"account","a":1}`)
	f.Add(`{"o":"credential","a":2,"c":"app:5"}`)
	f.Add(`{"o":"sessions","a":3}`)
	f.Fuzz(func(t *testing.T, payload string) {
		c := NewClusterRevocations(&db.DB{}, "A", nil)
		keep, _ := c.Register(context.Background(), 99, SessionCred(1), c.Epoch(99))
		c.receive([]byte(payload))
		if keep.Err() != nil && !containsAccount(payload) {
			t.Fatalf("payload %q closed account 99's connection", payload)
		}
	})
}

// containsAccount reports whether payload could name account 99.
func containsAccount(payload string) bool {
	for i := 0; i+1 < len(payload); i++ {
		if payload[i] == '9' && payload[i+1] == '9' {
			return true
		}
	}
	return false
}

// TestClusterThrottles: a guesser who spreads wrong passwords over two
// nodes is throttled on both as if on one.
func TestClusterThrottles(t *testing.T) {
	nodes := pgtest.Nodes(t, 2)
	now := time.Unix(1_700_000_000, 0)
	svc := func() *Service {
		return &Service{throttle: throttle.New(throttle.Config{Free: 3}, func() time.Time { return now }),
			addrThrottle: throttle.New(throttle.Config{Free: 3}, func() time.Time { return now })}
	}
	sa, sb := svc(), svc()
	ca, cb := sa.ShareThrottles(nodes[0], "A", nil), sb.ShareThrottles(nodes[1], "B", nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, c := range []*ClusterThrottles{ca, cb} {
		ready := make(chan struct{})
		wg.Go(func() { c.Run(ctx, ready) })
		<-ready
	}
	// Two wrong passwords through each node: four, one past the free three.
	for range 2 {
		sa.throttle.Fail("password:acct:anna@party.example")
		sb.throttle.Fail("password:acct:anna@party.example")
	}
	deadline := time.Now().Add(30 * time.Second)
	for sa.throttle.Wait("password:acct:anna@party.example") == 0 || sb.throttle.Wait("password:acct:anna@party.example") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 4 failures over two nodes: wait %v on A, %v on B; want both throttled",
				sa.throttle.Wait("password:acct:anna@party.example"), sb.throttle.Wait("password:acct:anna@party.example"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
