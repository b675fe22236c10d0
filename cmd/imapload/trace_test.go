package main

// The write trace of the steady-session benchmark (CAUCUS_IMAPLOAD_TRACE=1):
// where caucus's STORE, EXPUNGE and APPEND writes spent their time inside
// the server, per run, and the Go scheduler's and collector's pauses
// meanwhile, so that a command's tail latency can be taken apart: waiting
// for the group commit's turn (and behind what: other group commits, the
// indexer's lazy commits, its held turns), the jobs ahead of it in its
// transaction, its own statements, COMMIT with its WAL sync, and what the
// store does not see (the session, TLS, the network, the scheduler).

import (
	"fmt"
	"math"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/mail/store"
)

// writeTraces collects the store's write traces.
type writeTraces struct {
	mu   sync.Mutex
	list []store.WriteTrace
}

func (w *writeTraces) add(t store.WriteTrace) {
	w.mu.Lock()
	w.list = append(w.list, t)
	w.mu.Unlock()
}

// take returns the traces so far and starts a new list.
func (w *writeTraces) take() []store.WriteTrace {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// traceReport takes apart the writes of kind: the median one's and the
// slowest 1%'s average time in each stage, and what the slowest waited
// behind.
func traceReport(traces []store.WriteTrace, kind string) string {
	var ts []store.WriteTrace
	for _, t := range traces {
		if t.Kind == kind {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return ""
	}
	slices.SortFunc(ts, func(a, b store.WriteTrace) int { return int(a.Total - b.Total) })
	n := max(1, len(ts)/100)
	slow := ts[len(ts)-n:]
	mid := ts[len(ts)/2-n/2 : len(ts)/2-n/2+n]
	var b strings.Builder
	fmt.Fprintf(&b, "  %s in the store: %d, p50 %s, p99 %s, max %s; the slowest %d against %d around the median (averages):\n",
		kind, len(ts), msd(ts[len(ts)/2].Total), msd(ts[min(len(ts)-1, len(ts)*99/100)].Total), msd(ts[len(ts)-1].Total), n, n)
	for _, row := range []struct {
		name string
		f    func(store.WriteTrace) float64
	}{
		{"total", func(t store.WriteTrace) float64 { return millis(t.Total) }},
		{"reads before", func(t store.WriteTrace) float64 { return millis(t.Read) }},
		{"turn wait", func(t store.WriteTrace) float64 { return millis(t.Group.Wait) }},
		{"conn+BEGIN", func(t store.WriteTrace) float64 { return millis(t.Group.Begin) }},
		{"jobs ahead", func(t store.WriteTrace) float64 { return millis(t.Group.Ahead) }},
		{"own job", func(t store.WriteTrace) float64 { return millis(t.Group.Run) }},
		{"jobs after", func(t store.WriteTrace) float64 { return millis(t.Group.After) }},
		{"COMMIT+sync", func(t store.WriteTrace) float64 { return millis(t.Group.Commit) }},
		{"other", func(t store.WriteTrace) float64 {
			g := t.Group
			return millis(t.Total - t.Read - g.Wait - g.Begin - g.Ahead - g.Run - g.After - g.Commit)
		}},
		{"jobs in its commit", func(t store.WriteTrace) float64 { return float64(t.Group.Jobs) }},
		{"waited: commits", func(t store.WriteTrace) float64 { return float64(t.Group.Behind.Commits) }},
		{"waited: their ms", func(t store.WriteTrace) float64 { return millis(t.Group.Behind.CommitTime) }},
		{"waited: their jobs", func(t store.WriteTrace) float64 { return float64(t.Group.Behind.CommitJobs) }},
		{"waited: lazy (indexer)", func(t store.WriteTrace) float64 { return float64(t.Group.Behind.Lazy) }},
		{"waited: lazy ms", func(t store.WriteTrace) float64 { return millis(t.Group.Behind.LazyTime) }},
		{"waited: holds", func(t store.WriteTrace) float64 { return float64(t.Group.Behind.Holds) }},
		{"waited: hold ms", func(t store.WriteTrace) float64 { return millis(t.Group.Behind.HoldTime) }},
		{"checkpoint running", func(t store.WriteTrace) float64 { return boolf(t.Group.Checkpointing) }},
		{"no write needed", func(t store.WriteTrace) float64 { return boolf(!t.Written) }},
	} {
		fmt.Fprintf(&b, "    %-24s %8.2f %8.2f\n", row.name, avg(slow, row.f), avg(mid, row.f))
	}
	return b.String()
}

func millis(d time.Duration) float64 { return d.Seconds() * 1000 }

func msd(d time.Duration) string { return fmt.Sprintf("%.1f ms", millis(d)) }

func boolf(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func avg(ts []store.WriteTrace, f func(store.WriteTrace) float64) float64 {
	var sum float64
	for _, t := range ts {
		sum += f(t)
	}
	return sum / float64(len(ts))
}

// schedNames are the runtime's histograms of how long runnable
// goroutines waited for a thread and how long the collector stopped them.
var schedNames = []string{"/sched/latencies:seconds", "/sched/pauses/total/gc:seconds"}

// histogram is a copy of one of the runtime's histograms.
type histogram struct {
	counts  []uint64
	buckets []float64
}

// schedSnapshot reads schedNames.
func schedSnapshot() []histogram {
	s := make([]metrics.Sample, len(schedNames))
	for i, n := range schedNames {
		s[i].Name = n
	}
	metrics.Read(s)
	out := make([]histogram, len(s))
	for i := range s {
		h := s[i].Value.Float64Histogram()
		out[i] = histogram{counts: slices.Clone(h.Counts), buckets: h.Buckets}
	}
	return out
}

// schedReport says, for the run between before and after, the 99th
// percentile and the largest of each of schedNames.
func schedReport(before, after []histogram) string {
	var parts []string
	for i, name := range schedNames {
		a, b := after[i], before[i]
		var total uint64
		d := make([]uint64, len(a.counts))
		for k := range d {
			d[k] = a.counts[k] - b.counts[k]
			total += d[k]
		}
		p99, top := math.NaN(), math.NaN()
		var seen uint64
		for k, c := range d {
			if c == 0 {
				continue
			}
			seen += c
			if math.IsNaN(p99) && float64(seen) >= 0.99*float64(total) {
				p99 = a.buckets[k+1]
			}
			top = a.buckets[k+1]
		}
		parts = append(parts, fmt.Sprintf("%s: %d, p99 < %.2f ms, max < %.2f ms", name, total, p99*1000, top*1000))
	}
	return "  " + strings.Join(parts, "; ") + "\n"
}

// traceRun is the trace of one caucus run: begin it before the run, end
// it after; both do nothing without tracing (a nil h.traces).
type traceRun struct {
	h     *harness
	sched []histogram
}

func beginTrace(h *harness) *traceRun {
	if h.traces == nil {
		return nil
	}
	h.traces.take()
	return &traceRun{h: h, sched: schedSnapshot()}
}

// end writes the run's trace, titled, to b.
func (r *traceRun) end(b *strings.Builder, title string) {
	if r == nil {
		return
	}
	sched := schedReport(r.sched, schedSnapshot())
	traces := r.h.traces.take()
	fmt.Fprintf(b, "%s: write trace (ms; slowest 1%%, around the median)\n", title)
	for _, kind := range []string{"store", "expunge", "append"} {
		b.WriteString(traceReport(traces, kind))
	}
	b.WriteString(sched)
}
