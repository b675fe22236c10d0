package audit

import (
	"context"
	"sync"
	"time"
)

// Events that happen as often as reads do (a file downloaded, a shared
// file opened) are recorded by [Log.RecordSoon]: queued, and written by
// [Log.Run] in batches of one transaction each, so that a read does not
// wait for a disk flush of its own. The chain covers them like any other
// record. A full queue makes the caller write at once instead (nothing is
// dropped), and Run writes what is queued before it returns.

// Bounds of the queue of [Log.RecordSoon].
const (
	soonBatch = 256                    // a batch this long is written at once
	soonMax   = 4096                   // beyond this, RecordSoon writes itself
	soonEvery = 200 * time.Millisecond // the longest an event waits
)

// soonQueue holds the events of RecordSoon until they are written.
type soonQueue struct {
	mu   sync.Mutex
	evs  []Event
	wake chan struct{} // a batch is ready
	// writing is held while a batch is taken and written, so that a
	// Flush that finds the queue empty returns only once a batch another
	// goroutine (Run) took is in the log.
	writing sync.Mutex
}

func newSoonQueue() *soonQueue { return &soonQueue{wake: make(chan struct{}, 1)} }

// RecordSoon records e within [soonEvery] without waiting for it to be
// written, for events as frequent as reads. When the queue is full it
// records e at once, as [Log.Record] does, and returns that error.
func (l *Log) RecordSoon(ctx context.Context, e Event) error {
	e = sanitize(e)
	q := l.soon
	q.mu.Lock()
	if len(q.evs) >= soonMax {
		q.mu.Unlock()
		return l.Record(ctx, e)
	}
	q.evs = append(q.evs, e)
	ready := len(q.evs) >= soonBatch
	q.mu.Unlock()
	if ready {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// flushSoon writes the queued events of RecordSoon in one transaction.
func (l *Log) flushSoon(ctx context.Context) error {
	q := l.soon
	q.writing.Lock()
	defer q.writing.Unlock()
	q.mu.Lock()
	evs := q.evs
	q.evs = nil
	q.mu.Unlock()
	if err := l.writeAll(ctx, evs); err != nil {
		// Put them back in front: they are written with the next batch.
		q.mu.Lock()
		q.evs = append(evs, q.evs...)
		q.mu.Unlock()
		return err
	}
	return nil
}
