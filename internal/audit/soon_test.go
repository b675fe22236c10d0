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
