package audit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRecordSoon: queued events are written by Flush in one batch, in
// order, on the chain; a full queue writes at once; Run writes what is
// left when it stops.
func TestRecordSoon(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	for i := range 3 {
		if err := l.RecordSoon(ctx, Event{Actor: "anna", Kind: "files.read", Detail: fmt.Sprint("n=", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if recs, _ := l.List(ctx, Filter{Kind: "files.read"}); len(recs) != 0 {
		t.Fatalf("%d records written before any flush", len(recs))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := l.List(ctx, Filter{Kind: "files.read"})
	if err != nil || len(recs) != 3 || recs[0].Detail != "n=2" || recs[2].Detail != "n=0" {
		t.Fatalf("after Flush: %+v %v", recs, err)
	}
	// A full queue: the event beyond it is written by the caller.
	for i := range soonMax {
		if err := l.RecordSoon(ctx, Event{Kind: "files.read", Detail: fmt.Sprint("q=", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RecordSoon(ctx, Event{Kind: "files.read", Detail: "overflow"}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := l.List(ctx, Filter{Kind: "files.read", Text: "overflow"}); len(recs) != 1 {
		t.Errorf("the event past a full queue was not written at once: %d", len(recs))
	}
	// Run writes the queue in batches and, when stopped, the rest.
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.Run(rctx); close(done) }()
	l.RecordSoon(ctx, Event{Kind: "files.read", Detail: "last"})
	stop()
	<-done
	if recs, _ := l.List(ctx, Filter{Kind: "files.read", Text: "last"}); len(recs) != 1 {
		t.Error("Run stopped with a queued event unwritten")
	}
	if n, err := l.Verify(ctx); err != nil || n != 3+soonMax+2 {
		t.Errorf("Verify = %d, %v", n, err)
	}
}

// TestRunWritesSoon: with Run going, a queued event is written without
// any Flush call.
func TestRunWritesSoon(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	go l.Run(ctx)
	l.RecordSoon(ctx, Event{Kind: "files.read", Detail: "x"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if recs, _ := l.List(ctx, Filter{Kind: "files.read"}); len(recs) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Run never wrote the queued event")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFlushWaitsForBatchInFlight: a Flush that found the queue empty
// because Run had just taken the events returned before Run's transaction
// was committed, so its caller (a test of "who read this file", an admin's
// trace) did not see a read that had happened. Flush now waits for a
// batch in flight. The write lock is held by another transaction so that
// the batch stays in flight.
func TestFlushWaitsForBatchInFlight(t *testing.T) {
	t.Parallel()
	l, d := newTestLog(t)
	ctx := t.Context()
	if err := l.RecordSoon(ctx, Event{Actor: "bob", Kind: "files.read", Detail: "minutes.txt"}); err != nil {
		t.Fatal(err)
	}
	hold, err := d.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan error, 1)
	go func() { inFlight <- l.flushSoon(context.WithoutCancel(ctx)) }() // as Run does
	for {
		l.soon.mu.Lock()
		n := len(l.soon.evs)
		l.soon.mu.Unlock()
		if n == 0 {
			break // the batch is taken and waits for the lock
		}
		time.Sleep(time.Millisecond)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- l.Flush(context.WithoutCancel(ctx)) }()
	select {
	case err := <-flushed:
		recs, lerr := l.List(ctx, Filter{Kind: "files.read"})
		if err != nil || lerr != nil || len(recs) != 1 {
			t.Errorf("Flush returned (%v) with the read not written: %d records (%v)", err, len(recs), lerr)
		}
		hold.Rollback()
	case <-time.After(200 * time.Millisecond):
		hold.Rollback()
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-inFlight; err != nil {
		t.Fatal(err)
	}
	if recs, err := l.List(ctx, Filter{Kind: "files.read"}); err != nil || len(recs) != 1 {
		t.Fatalf("after Flush: %d records, %v", len(recs), err)
	}
}
