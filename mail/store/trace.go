package store

import (
	"context"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// WriteTrace is where one write of the store (STORE, EXPUNGE, APPEND)
// spent its time, given to Options.TraceWrites: for load tools finding
// where a slow command waited, never logged.
type WriteTrace struct {
	Kind  string        // "store", "expunge" or "append"
	Read  time.Duration // reads before the write transaction (STORE's plan; APPEND's body)
	Total time.Duration // the whole call
	// Group is the write's job in the group commit; zero if it needed no
	// write transaction (a STORE that changed nothing).
	Group db.JobTrace
	// Written is set if the write went through the group commit.
	Written bool
}

// writeTracer times one write for Options.TraceWrites; its methods do
// nothing on a nil tracer (tracing off).
type writeTracer struct {
	s     *Store
	t     WriteTrace
	start time.Time
}

// traceWrite returns ctx carrying the trace of a write of kind, and the
// tracer to mark its stages with; nil and ctx unchanged if tracing is off.
func (s *Store) traceWrite(ctx context.Context, kind string) (context.Context, *writeTracer) {
	if s.opts.TraceWrites == nil {
		return ctx, nil
	}
	w := &writeTracer{s: s, t: WriteTrace{Kind: kind}, start: time.Now()}
	return db.WithJobTrace(ctx, &w.t.Group), w
}

// read marks the end of the reads before the write.
func (w *writeTracer) read() {
	if w != nil {
		w.t.Read = time.Since(w.start)
	}
}

// done ends the trace and hands it on.
func (w *writeTracer) done() {
	if w == nil {
		return
	}
	w.t.Total = time.Since(w.start)
	w.t.Written = w.t.Group.Jobs > 0
	w.s.opts.TraceWrites(w.t)
}
