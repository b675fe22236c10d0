package queue

import (
	"context"
	"io"
	"strings"
	"time"
)

// Defaults of [Pacing].
const (
	DefaultBulkRate       = 10 // deliveries per second: 36,000 an hour
	DefaultBulkDomainRate = 1  // deliveries per second to one domain: 3,600 an hour
	// bulkScan is how many due bulk deliveries dispatch reads per turn
	// beyond the workers it may start, to find domains that have time
	// left while others wait.
	bulkScan = 256
	// maxIdleBuckets is how many domains' rates the pacer remembers
	// before it forgets those that have waited long enough to be full.
	maxIdleBuckets = 1024
)

// Pacing sets how bulk mail ([Queue.EnqueueBulk]: a list's copies) is
// delivered, so that a mailing to 20,000 addresses neither starves the
// members' own mail nor looks to receivers like a burst of spam from the
// party's domain. Members' mail is always picked first. Bulk deliveries
// (one SMTP transaction each) are started at most Rate per second in
// all and DomainRate per second to any one recipient domain (token
// buckets holding one second's worth), by at most Workers of the queue's
// workers at a time; the other workers stay free for members' mail.
// Retries of bulk deliveries are paced alike.
type Pacing struct {
	Rate       float64 // default DefaultBulkRate
	DomainRate float64 // default DefaultBulkDomainRate
	// Workers bounds the bulk attempts at once; default half of
	// Config.Workers. It is kept below Config.Workers (when that is
	// more than 1) so that a worker is always free for members' mail.
	Workers int
}

func (p *Pacing) defaults(workers int) {
	if p.Rate <= 0 {
		p.Rate = DefaultBulkRate
	}
	if p.DomainRate <= 0 {
		p.DomainRate = DefaultBulkDomainRate
	}
	if p.Workers <= 0 {
		p.Workers = workers / 2
	}
	if workers > 1 {
		p.Workers = min(p.Workers, workers-1)
	}
	p.Workers = max(p.Workers, 1)
}

// EnqueueBulk is [Queue.Enqueue] for bulk mail: a list's copy, delivered
// after members' own mail and at the rates of [Config.Bulk].
func (q *Queue) EnqueueBulk(ctx context.Context, from string, rcpts []string, msg io.Reader) (int64, error) {
	return q.enqueue(ctx, from, rcpts, msg, true)
}

// bucket is a token bucket: tokens fill at a rate up to a burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) fill(now time.Time, rate, burst float64) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(burst, b.tokens+d*rate)
	}
	b.last = now
}

// wait is how long until the bucket holds one token.
func (b *bucket) wait(rate float64) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// pacer holds the rates of bulk deliveries: one bucket for all, one per
// domain. The queue's mutex guards it.
type pacer struct {
	cfg     Pacing
	all     bucket
	domains map[string]*bucket
}

func newPacer(cfg Pacing) *pacer {
	return &pacer{cfg: cfg, all: bucket{tokens: burst(cfg.Rate)}, domains: map[string]*bucket{}}
}

// burst is a bucket's size: one second's worth, at least one.
func burst(rate float64) float64 { return max(1, rate) }

// domain returns the domain's bucket, filled up to now.
func (p *pacer) domain(d string, now time.Time) *bucket {
	b := p.domains[d]
	if b == nil {
		if len(p.domains) >= maxIdleBuckets {
			p.forget(now)
		}
		b = &bucket{tokens: burst(p.cfg.DomainRate), last: now}
		p.domains[d] = b
	}
	b.fill(now, p.cfg.DomainRate, burst(p.cfg.DomainRate))
	return b
}

// forget drops the buckets that are full again: they hold no state a
// new bucket would not.
func (p *pacer) forget(now time.Time) {
	for d, b := range p.domains {
		if b.fill(now, p.cfg.DomainRate, burst(p.cfg.DomainRate)); b.tokens >= burst(p.cfg.DomainRate) {
			delete(p.domains, d)
		}
	}
}

// take takes a token for a delivery to domain d if both buckets have
// one; else it returns how long until they will.
func (p *pacer) take(d string, now time.Time) (ok bool, wait time.Duration) {
	p.all.fill(now, p.cfg.Rate, burst(p.cfg.Rate))
	b := p.domain(d, now)
	if p.all.tokens >= 1 && b.tokens >= 1 {
		p.all.tokens--
		b.tokens--
		return true, 0
	}
	return false, max(p.all.wait(p.cfg.Rate), b.wait(p.cfg.DomainRate))
}

// waiting returns the domains whose bucket is empty now, at most n.
func (p *pacer) waiting(now time.Time, n int) []string {
	var out []string
	for d := range p.domains {
		if len(out) == n {
			break
		}
		if p.domain(d, now).tokens < 1 {
			out = append(out, d)
		}
	}
	return out
}

// bulkCandidate is a due bulk delivery.
type bulkCandidate struct {
	id     int64
	domain string
}

// dueBulk returns up to limit bulk deliveries due at now, the longest due
// first, leaving out the domains named in skip (whose rate is used up).
func (q *Queue) dueBulk(ctx context.Context, now int64, limit int, skip []string) ([]bulkCandidate, error) {
	free, args := q.unleased(now)
	query := `SELECT id, domain FROM queue_deliveries WHERE bulk = 1 AND next_attempt <= ?` + free
	args = append([]any{now}, args...)
	if len(skip) > 0 {
		query += ` AND domain NOT IN (?` + strings.Repeat(`, ?`, len(skip)-1) + `)`
		for _, d := range skip {
			args = append(args, d)
		}
	}
	rows, err := q.db.QueryContext(ctx, query+` ORDER BY next_attempt, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bulkCandidate
	for rows.Next() {
		var c bulkCandidate
		if err := rows.Scan(&c.id, &c.domain); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
