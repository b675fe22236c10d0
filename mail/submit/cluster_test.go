package submit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

// TestClusterSendLimits: an account that sends through two nodes is
// held to one hourly limit, not one per node.
func TestClusterSendLimits(t *testing.T) {
	nodes := pgtest.Nodes(t, 2)
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	sa, sb := &Service{rate: newRateLimiter(clock)}, &Service{rate: newRateLimiter(clock)}
	ca, cb := sa.ShareSendLimits(nodes[0], "A", nil), sb.ShareSendLimits(nodes[1], "B", nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, c := range []*ClusterSendLimits{ca, cb} {
		ready := make(chan struct{})
		wg.Go(func() { c.Run(ctx, ready) })
		<-ready
	}
	const limit = 4
	for range 2 {
		if !sa.rate.allow(7, limit) || !sb.rate.allow(7, limit) {
			t.Fatal("refused under the limit")
		}
	}
	// Four sent, two through each node: both nodes must now refuse.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sa.rate.mu.Lock()
		na, nb := len(sa.rate.sent[7]), 0
		sa.rate.mu.Unlock()
		sb.rate.mu.Lock()
		nb = len(sb.rate.sent[7])
		sb.rate.mu.Unlock()
		if na == 4 && nb == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counted %d on A and %d on B, want 4 on both", na, nb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sa.rate.allow(7, limit) || sb.rate.allow(7, limit) {
		t.Fatal("a node let the account past its hourly limit")
	}
}
