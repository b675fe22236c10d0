package metrics_test

import (
	"context"
	"io"
	"testing"

	"github.com/caucus-org/caucus/internal/metrics"
)

// BenchmarkCounterInc is the cost of one hook call on a hot path (a
// labelled counter, as a sign-in or an accepted message).
func BenchmarkCounterInc(b *testing.B) {
	c := metrics.NewRegistry().Counter("b_total", "B.", "method")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc("imap")
		}
	})
}

// BenchmarkHistogramObserve is the cost added to each web request.
func BenchmarkHistogramObserve(b *testing.B) {
	h := metrics.NewRegistry().Histogram("b_seconds", "B.", []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, "route")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(0.02, "GET /account")
		}
	})
}

// BenchmarkScrape writes caucus's series with 30 routes observed.
func BenchmarkScrape(b *testing.B) {
	r := metrics.NewRegistry()
	metrics.NewSet(r)
	h := r.Histogram("x_seconds", "X.", []float64{0.01, 0.1, 1}, "route")
	for i := range 30 {
		h.Observe(0.05, string(rune('a'+i%26))+"route")
	}
	for b.Loop() {
		if err := r.Write(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
