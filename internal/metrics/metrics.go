// Package metrics is a small Prometheus registry: counters, gauges and
// histograms with labels, written in the Prometheus text exposition
// format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), and a
// strict parser of that format for tests and tools.
//
// There is no default registry: a [Registry] is made by the program and
// passed to what it instruments, so tests run in parallel, each with its
// own.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ErrScrape reports that a gauge function failed; its sample is left out.
var ErrScrape = errors.New("metrics: gauge function failed")

// Registry holds metric families by name.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

type family struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms: upper bounds, ascending, without +Inf
	fn              func(context.Context) (float64, error)

	mu     sync.Mutex
	series map[string]*series // by label values joined with 0xff
}

type series struct {
	values []string
	val    atomicFloat     // counter, gauge
	counts []atomic.Uint64 // histogram: observations per bucket, the last for +Inf
	sum    atomicFloat
}

type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) add(v float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}
func (a *atomicFloat) set(v float64) { a.bits.Store(math.Float64bits(v)) }
func (a *atomicFloat) get() float64  { return math.Float64frombits(a.bits.Load()) }

// register adds a family; it panics on an invalid or duplicate name, as
// these are programming errors found by the first test run.
func (r *Registry) register(f *family) *family {
	if !validName(f.name, true) {
		panic("metrics: invalid metric name " + strconv.Quote(f.name))
	}
	for _, l := range f.labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") || (f.typ == "histogram" && l == "le") {
			panic("metrics: invalid label name " + strconv.Quote(l) + " for " + f.name)
		}
	}
	f.series = map[string]*series{}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[f.name]; dup {
		panic("metrics: " + f.name + " registered twice")
	}
	r.families[f.name] = f
	if len(f.labels) == 0 && f.fn == nil {
		f.get(nil) // a series without labels is there, at zero, from the start
	}
	return f
}

// get returns the series for label values, made on first use.
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		if f.typ == "histogram" {
			s.counts = make([]atomic.Uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// Counter is a value that only goes up, per combination of label values.
type Counter struct{ f *family }

// Counter registers a counter. By convention its name ends in "_total".
func (r *Registry) Counter(name, help string, labels ...string) Counter {
	return Counter{r.register(&family{name: name, help: help, typ: "counter", labels: labels})}
}

// Add adds v, which must not be negative, to the series of labelValues.
func (c Counter) Add(v float64, labelValues ...string) {
	if v < 0 {
		panic("metrics: counter " + c.f.name + " decreased")
	}
	c.f.get(labelValues).val.add(v)
}

// Inc adds 1 to the series of labelValues.
func (c Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Value returns the series' current value.
func (c Counter) Value(labelValues ...string) float64 { return c.f.get(labelValues).val.get() }

// Gauge is a value that goes up and down, per combination of label values.
type Gauge struct{ f *family }

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) Gauge {
	return Gauge{r.register(&family{name: name, help: help, typ: "gauge", labels: labels})}
}

// Add adds v (which may be negative) to the series of labelValues.
func (g Gauge) Add(v float64, labelValues ...string) { g.f.get(labelValues).val.add(v) }

// Set sets the series of labelValues to v.
func (g Gauge) Set(v float64, labelValues ...string) { g.f.get(labelValues).val.set(v) }

// Value returns the series' current value.
func (g Gauge) Value(labelValues ...string) float64 { return g.f.get(labelValues).val.get() }

// GaugeFunc registers a gauge without labels whose value fn computes at
// each scrape, such as bytes stored. fn gets the scrape's context; when
// it fails, the sample is left out and the scrape reports [ErrScrape].
func (r *Registry) GaugeFunc(name, help string, fn func(context.Context) (float64, error)) {
	r.register(&family{name: name, help: help, typ: "gauge", fn: fn})
}

// Histogram counts observations in buckets, per combination of label
// values.
type Histogram struct{ f *family }

// Histogram registers a histogram with the given bucket upper bounds,
// which must ascend; the +Inf bucket is implied.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) Histogram {
	if !slices.IsSorted(buckets) || slices.Contains(buckets, math.Inf(1)) || len(slices.Compact(slices.Clone(buckets))) != len(buckets) {
		panic("metrics: buckets of " + name + " do not ascend strictly")
	}
	return Histogram{r.register(&family{name: name, help: help, typ: "histogram", labels: labels, buckets: slices.Clone(buckets)})}
}

// Observe records v in the series of labelValues.
func (h Histogram) Observe(v float64, labelValues ...string) {
	s := h.f.get(labelValues)
	i, _ := slices.BinarySearch(h.f.buckets, v) // first bound >= v
	s.counts[i].Add(1)
	s.sum.add(v)
}

// Count returns how many observations the series of labelValues has.
func (h Histogram) Count(labelValues ...string) uint64 {
	var n uint64
	s := h.f.get(labelValues)
	for i := range s.counts {
		n += s.counts[i].Load()
	}
	return n
}

// Write writes every family in the text format, sorted by name, series
// sorted by label values. A failing gauge function leaves its sample out
// and makes Write return an error matching [ErrScrape] after writing the
// rest.
func (r *Registry) Write(ctx context.Context, w io.Writer) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	var b bytes.Buffer
	var errs []error
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escape(f.help, false), f.name, f.typ)
		if f.fn != nil {
			v, err := f.fn(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %w", ErrScrape, f.name, err))
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", f.name, formatFloat(v))
			continue
		}
		f.mu.Lock()
		ss := make([]*series, 0, len(f.series))
		for _, s := range f.series {
			ss = append(ss, s)
		}
		f.mu.Unlock()
		slices.SortFunc(ss, func(a, b *series) int { return slices.Compare(a.values, b.values) })
		for _, s := range ss {
			if f.typ != "histogram" {
				fmt.Fprintf(&b, "%s%s %s\n", f.name, labelText(f.labels, s.values, "", ""), formatFloat(s.val.get()))
				continue
			}
			var cum uint64
			for i := range s.counts {
				cum += s.counts[i].Load()
				le := "+Inf"
				if i < len(f.buckets) {
					le = formatFloat(f.buckets[i])
				}
				fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.values, "le", le), cum)
			}
			lt := labelText(f.labels, s.values, "", "")
			fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %d\n", f.name, lt, formatFloat(s.sum.get()), f.name, lt, cum)
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return errors.Join(errs...)
}

// Handler serves the registry for Prometheus to scrape. A failing gauge
// function is reported to onError (which may be nil) and its sample left
// out; the other samples are served.
func (r *Registry) Handler(onError func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b bytes.Buffer
		if err := r.Write(req.Context(), &b); err != nil && onError != nil {
			onError(err)
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b.Bytes())
	})
}

func labelText(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=\"%s\"", n, escape(values[i], true))
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=\"%s\"", extraName, escape(extraValue, true))
	}
	b.WriteByte('}')
	return b.String()
}

// escape escapes backslash and line feed, and in label values the double
// quote, as the format requires.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || (c == ':' && colon) || (i > 0 && '0' <= c && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
