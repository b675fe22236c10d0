package audit

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Aggregation bounds what [Log.RecordFailure] writes. Zero fields take the
// defaults given.
//
// Within one interval, the first failure of a key (actor, kind, outcome,
// reason, source, account) is written at once, with all its fields; the others are
// only counted, and one record with the count is written when the interval
// ends. A key still failing in the next interval writes only that record.
// The source is the address, or its /64 for IPv6. Beyond MaxAccounts
// accounts per source, failures count under the account "*"; beyond
// MaxKeys keys in an interval, under the source and account "*". So under
// any attack, an interval adds at most about 2×MaxKeys records, plus one per
// kind and reason of failure.
type Aggregation struct {
	Interval    time.Duration // default [DefaultInterval]
	MaxKeys     int           // default 256
	MaxAccounts int           // per source, default 8
}

// Defaults of [Aggregation].
const (
	DefaultInterval    = time.Minute
	DefaultMaxKeys     = 256
	DefaultMaxAccounts = 8
)

// Any is the source or account under which failures beyond the bounds
// are counted.
const Any = "*"

func (a *Aggregation) defaults() {
	if a.Interval <= 0 {
		a.Interval = DefaultInterval
	}
	if a.MaxKeys <= 0 {
		a.MaxKeys = DefaultMaxKeys
	}
	if a.MaxAccounts <= 0 {
		a.MaxAccounts = DefaultMaxAccounts
	}
}

type aggKey struct {
	actor, kind, outcome, reason, source, subject string
}

type aggEntry struct {
	count       int       // failures not yet written
	first, last time.Time // of those
	userAgent   string    // of the last one
}

// aggregator holds one interval's counts.
type aggregator struct {
	cfg Aggregation

	mu       sync.Mutex
	end      time.Time // of the current interval; zero before the first failure
	cur      map[aggKey]*aggEntry
	accounts map[string]map[string]bool // source → accounts seen this interval
	hot      map[aggKey]bool            // keys that had a count in the last interval
}

func newAggregator(cfg Aggregation) *aggregator {
	cfg.defaults()
	return &aggregator{cfg: cfg, cur: map[aggKey]*aggEntry{}, accounts: map[string]map[string]bool{}, hot: map[aggKey]bool{}}
}

// SetAggregation changes the bounds of [Log.RecordFailure]. Call it before
// the log is used.
func (l *Log) SetAggregation(a Aggregation) {
	l.agg = newAggregator(a)
}

// source is the aggregation source of an address: the address, or its /64
// for IPv6 (one customer of a provider usually holds a whole /64).
func source(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a = a.Unmap().WithZone(""); a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// key files e under its key, folding the account and then the source into
// [Any] when the bounds are reached. Called with mu held.
func (g *aggregator) key(e Event) aggKey {
	k := aggKey{actor: e.Actor, kind: e.Kind, outcome: e.Outcome, reason: e.Reason, source: source(e.Addr), subject: e.Subject}
	if _, ok := g.cur[k]; ok {
		return k
	}
	seen := g.accounts[k.source]
	if !seen[k.subject] && len(seen) >= g.cfg.MaxAccounts {
		k.subject = Any
	}
	if _, ok := g.cur[k]; !ok && len(g.cur) >= g.cfg.MaxKeys {
		k.source, k.subject = Any, Any
	}
	if k.source != Any {
		if seen == nil {
			seen = map[string]bool{}
			g.accounts[k.source] = seen
		}
		seen[k.subject] = true
	}
	return k
}

// add counts e at now. It returns whether e is to be written at once, and
// the summaries of an interval that ended.
func (g *aggregator) add(e Event, now time.Time) (write bool, due []Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	due = g.rollLocked(now)
	if g.end.IsZero() {
		g.end = now.Add(g.cfg.Interval)
	}
	k := g.key(e)
	ent, ok := g.cur[k]
	if !ok {
		ent = &aggEntry{}
		g.cur[k] = ent
		if !g.hot[k] && k.subject == e.Subject && k.source != Any {
			return true, due // the first of its key: written now, in full
		}
	}
	if ent.count == 0 {
		ent.first = now
	}
	ent.count++
	ent.last, ent.userAgent = now, e.UserAgent
	return false, due
}

// rollLocked ends the current interval if it is over, returning one
// summary event per key with a count.
func (g *aggregator) rollLocked(now time.Time) []Event {
	if g.end.IsZero() || now.Before(g.end) {
		return nil
	}
	var due []Event
	hot := map[aggKey]bool{}
	for k, ent := range g.cur {
		if ent.count == 0 {
			continue
		}
		hot[k] = true
		due = append(due, Event{
			Actor: k.actor, Subject: k.subject, Kind: k.kind, Outcome: k.outcome, Reason: k.reason, Addr: k.source, UserAgent: ent.userAgent,
			Detail: fmt.Sprintf("count=%d first=%s last=%s (repeated failures, aggregated)",
				ent.count, ent.first.UTC().Format(time.RFC3339), ent.last.UTC().Format(time.RFC3339)),
		})
	}
	g.cur, g.accounts, g.hot = map[aggKey]*aggEntry{}, map[string]map[string]bool{}, hot
	g.end = time.Time{}
	if len(hot) > 0 {
		g.end = now.Add(g.cfg.Interval) // a key still failing is counted on
	}
	return due
}

// RecordFailure records a failure or refusal that anyone can cause as often
// as they like (a wrong password, a refused recipient) without letting them
// flood the log: see [Aggregation]. Events that are not repeated are
// written as [Log.Record] would; repeated ones are summed up in one record
// per interval whose Detail starts with "count=N". The hash chain covers
// every record written.
func (l *Log) RecordFailure(ctx context.Context, e Event) error {
	e = sanitize(e)
	write, due := l.agg.add(e, l.now())
	if err := l.writeAll(ctx, due); err != nil {
		return err
	}
	if write {
		return l.Record(ctx, e)
	}
	return nil
}

// Flush writes the counts of an aggregation interval that has ended
// ([Log.RecordFailure]) and the events queued by [Log.RecordSoon].
// [Log.Run] calls it; call it before shutting down.
func (l *Log) Flush(ctx context.Context) error {
	l.agg.mu.Lock()
	due := l.agg.rollLocked(l.now())
	l.agg.mu.Unlock()
	if err := l.writeAll(ctx, due); err != nil {
		return err
	}
	return l.flushSoon(ctx)
}

// writeAll writes evs in one transaction.
func (l *Log) writeAll(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	var recs []Record
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		recs = recs[:0]
		for _, e := range evs {
			r, err := l.insert(ctx, tx, e)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: record %d events: %w", len(evs), err)
	}
	for _, r := range recs {
		l.logRecord(r)
	}
	return nil
}

// Run writes the aggregated counts as their intervals end and the events
// of [Log.RecordSoon] in batches, until ctx is done, and then once more
// with a short deadline of its own.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.agg.cfg.Interval / 4)
	defer t.Stop()
	soon := time.NewTicker(soonEvery)
	defer soon.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			l.agg.mu.Lock()
			l.agg.end = l.now() // end the interval now: nothing is left unwritten
			l.agg.mu.Unlock()
			if err := l.Flush(fctx); err != nil {
				l.log.Warn("audit: write queued records", "err", err)
			}
			return
		case <-t.C:
			if err := l.Flush(ctx); err != nil { // the queue too
				l.log.Warn("audit: write queued records", "err", err)
			}
			continue
		case <-soon.C:
		case <-l.soon.wake:
		}
		if err := l.flushSoon(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("audit: write queued records", "err", err)
		}
	}
}
