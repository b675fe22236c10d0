package queue

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

// paceDNS adds the domains a, b, c.example at the test MX.
func paceDNS(m *dns.Mock) {
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		m.MX[d] = []*net.MX{{Host: "mx.example.org.", Pref: 10}}
	}
}

func (e *env) enqueueBulk(from string, rcpts ...string) int64 {
	e.t.Helper()
	id, err := e.q.EnqueueBulk(e.t.Context(), from, rcpts, strings.NewReader(testBody))
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// delivered counts the MX's messages by envelope sender.
func (e *env) delivered() (member, bulk int) {
	for _, m := range e.mx.received() {
		if strings.HasPrefix(m.from, "news+") {
			bulk++
		} else {
			member++
		}
	}
	return member, bulk
}

// TestBulkYieldsToMembers: with two workers, a member's message queued
// after a list's copies goes at once, and the copies take at most the one
// worker the pacing gives them.
func TestBulkYieldsToMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: paceDNS, cfg: func(c *Config) { c.Workers = 2 }})
	for _, d := range []string{"a", "b", "c", "a", "b"} {
		e.enqueueBulk("news+b-1-x@example-party.org", "s@"+d+".example")
	}
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.q.runOnce(t.Context())
	if member, bulk := e.delivered(); member != 1 || bulk != 1 {
		t.Fatalf("first turn delivered %d members' and %d bulk messages; want 1 and 1", member, bulk)
	}
	if got := e.q.cfg.Bulk.Workers; got != 1 {
		t.Errorf("bulk workers = %d, want 1 of 2", got)
	}
}

// TestBulkPaced: bulk deliveries start at the overall rate and at the
// rate per domain, on the queue's clock; dispatch says when to look again.
func TestBulkPaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: paceDNS, cfg: func(c *Config) {
		c.Bulk = Pacing{Rate: 2, DomainRate: 1, Workers: 4}
	}})
	for range 3 {
		for _, d := range []string{"a", "b", "c"} {
			e.enqueueBulk("news+b-1-x@example-party.org", "s@"+d+".example")
		}
	}
	e.q.runOnce(t.Context())
	if _, bulk := e.delivered(); bulk != 2 {
		t.Fatalf("first second: %d delivered, want 2 (the overall rate)", bulk)
	}
	byDomain := map[string]int{}
	for _, m := range e.mx.received() {
		byDomain[domainOf(m.rcpts[0])]++
	}
	for d, n := range byDomain {
		if n > 1 {
			t.Errorf("%d deliveries to %s in one second, want at most 1", n, d)
		}
	}
	var wg sync.WaitGroup
	next := e.q.dispatch(t.Context(), &wg)
	wg.Wait()
	if want := e.clock.Now().Add(500 * time.Millisecond); !next.Equal(want) {
		t.Errorf("dispatch wants to look again at %v, want %v (half a second: the overall rate)", next, want)
	}
	e.clock.Advance(time.Second)
	e.q.runOnce(t.Context())
	if _, bulk := e.delivered(); bulk != 4 {
		t.Fatalf("after two seconds: %d delivered, want 4", bulk)
	}
	for range 4 {
		e.clock.Advance(time.Second)
		e.q.runOnce(t.Context())
	}
	if _, bulk := e.delivered(); bulk != 9 {
		t.Fatalf("at the end: %d delivered, want 9", bulk)
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("%d items left", len(items))
	}
}

func TestPacingDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      Pacing
		workers int
		want    int
	}{{Pacing{}, 8, 4}, {Pacing{}, 1, 1}, {Pacing{Workers: 8}, 8, 7}, {Pacing{}, 2, 1}} {
		p := tc.in
		p.defaults(tc.workers)
		if p.Workers != tc.want || p.Rate != DefaultBulkRate || p.DomainRate != DefaultBulkDomainRate {
			t.Errorf("%+v with %d workers: %+v, want %d bulk workers", tc.in, tc.workers, p, tc.want)
		}
	}
}
