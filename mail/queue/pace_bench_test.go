package queue

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

// Figures of the mailing benchmark.
const (
	mailingDomains    = 20
	mailingRate       = 200 // Pacing.Rate of the benchmark, per second
	mailingDomainRate = 20  // Pacing.DomainRate
)

// mailingSize is the number of copies: 20,000, or CAUCUS_MAILING.
func mailingSize(b *testing.B) int {
	if v := os.Getenv("CAUCUS_MAILING"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			b.Fatalf("CAUCUS_MAILING=%q", v)
		}
		return n
	}
	return 20000
}

// BenchmarkListMailing queues a list's mailing, one copy per recipient
// (as mail/lists sends them: each its own VERP return path) at 20
// domains, then delivers it to a local SMTP sink on 127.0.0.1 (fake DNS)
// at the bulk rates of 200 a second and 20 a second per domain on 16
// workers. When half the copies are delivered a member's own message is
// queued; its latency (queued to accepted by the sink) is reported with
// the copies' delivery rate and the enqueue rate. The peer in the same
// run, "unpaced", queues the same mailing as ordinary mail (Enqueue), as
// a queue without bulk pacing would: the member's message then waits
// behind the copies queued before it.
//
//	go test -run X -bench ListMailing -benchtime 1x ./mail/queue/
func BenchmarkListMailing(b *testing.B) {
	for _, mode := range []string{"paced", "unpaced"} {
		b.Run(mode, func(b *testing.B) {
			var r mailingResult
			for b.Loop() {
				r = runMailing(b, mailingSize(b), mode == "paced")
			}
			b.ReportMetric(r.enqueueRate, "enqueued/s")
			b.ReportMetric(r.deliveryRate, "delivered/s")
			b.ReportMetric(float64(r.memberLatency.Milliseconds()), "member-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

type mailingResult struct {
	enqueueRate, deliveryRate float64
	memberLatency             time.Duration
}

func mailingDNS(m *dns.Mock) {
	for i := range mailingDomains {
		m.MX[fmt.Sprintf("d%d.example", i)] = []*net.MX{{Host: "mx.example.org.", Pref: 10}}
	}
}

// runMailing is one run of BenchmarkListMailing.
func runMailing(b *testing.B, n int, paced bool) mailingResult {
	e := newEnv(b, envOptions{noTLS: true, dns: mailingDNS, cfg: func(c *Config) {
		c.Now = time.Now
		c.Workers = 16
		c.Bulk = Pacing{Rate: mailingRate, DomainRate: mailingDomainRate}
	}})
	e.q = New(e.cfg, e.db, e.blobs, nil) // no log lines in the figures
	ctx := b.Context()
	var res mailingResult

	start := time.Now()
	enqueueAll(b, e.q, n, paced)
	res.enqueueRate = float64(n) / time.Since(start).Seconds()

	half := make(chan struct{})
	done := make(chan time.Time, 1)
	var memberAt time.Time
	copies, member := 0, false
	e.mx.onData = func(m received) {
		if m.from == "alice@example-party.org" {
			member = true
			memberAt = time.Now()
		} else if copies++; copies == n/2 {
			close(half)
		}
		if member && copies == n {
			done <- time.Now()
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { e.q.Run(rctx) })
	defer func() { cancel(); wg.Wait() }()
	start = time.Now()
	<-half
	queued := time.Now()
	if _, err := e.q.Enqueue(ctx, "alice@example-party.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		b.Fatal(err)
	}
	select {
	case end := <-done:
		res.deliveryRate = float64(n) / end.Sub(start).Seconds()
	case <-time.After(30 * time.Minute):
		b.Fatalf("after 30 minutes %d of %d copies delivered", copies, n)
	}
	e.mx.mu.Lock()
	res.memberLatency = memberAt.Sub(queued)
	e.mx.mu.Unlock()
	return res
}

// enqueueAll queues n copies, 8 at a time, as bulk mail or not.
func enqueueAll(b *testing.B, q *Queue, n int, bulk bool) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				from := fmt.Sprintf("news+b-%d-0123456789abcdef@example-party.org", i)
				rcpt := []string{fmt.Sprintf("s%d@d%d.example", i, i%mailingDomains)}
				var err error
				if bulk {
					_, err = q.EnqueueBulk(b.Context(), from, rcpt, strings.NewReader(testBody))
				} else {
					_, err = q.Enqueue(b.Context(), from, rcpt, strings.NewReader(testBody))
				}
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
