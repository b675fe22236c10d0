package audit

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClockLog(tb testing.TB) (*Log, *clock) {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(tb)
	if err := d.Migrate(tb.Context(), Component()); err != nil {
		tb.Fatal(err)
	}
	c := &clock{t: t0}
	return New(d, c.now, log), c
}

// count is how many events r stands for.
func count(tb testing.TB, r Record) int {
	tb.Helper()
	if v, ok := strings.CutPrefix(r.Detail, "count="); ok {
		v, _, _ = strings.Cut(v, " ")
		n, err := strconv.Atoi(v)
		if err != nil {
			tb.Fatalf("detail %q", r.Detail)
		}
		return n
	}
	return 1
}

func all(tb testing.TB, l *Log) []Record {
	tb.Helper()
	recs, err := l.List(tb.Context(), Filter{Limit: MaxLimit})
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

func TestRecordFailureAggregates(t *testing.T) {
	t.Parallel()
	l, c := newClockLog(t)
	ctx := t.Context()
	fail := Event{Subject: "ann@example.org", Kind: "login.password", Outcome: Fail, Reason: "bad-credentials", Addr: "192.0.2.1"}
	for range 100 {
		if err := l.RecordFailure(ctx, fail); err != nil {
			t.Fatal(err)
		}
		c.advance(100 * time.Millisecond)
	}
	if recs := all(t, l); len(recs) != 1 || recs[0].Detail != "" || recs[0].Subject != fail.Subject {
		t.Fatalf("within the interval: %+v, want the first failure alone, in full", recs)
	}
	c.advance(time.Minute)
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := all(t, l)
	if len(recs) != 2 || count(t, recs[0]) != 99 || recs[0].Subject != fail.Subject || recs[0].Addr != fail.Addr || recs[0].Kind != fail.Kind {
		t.Fatalf("after the interval: %+v, want one record with count=99", recs)
	}
	// Still failing in the next interval: only the count is written.
	for range 50 {
		l.RecordFailure(ctx, fail)
	}
	if n := len(all(t, l)); n != 2 {
		t.Errorf("a key still failing wrote %d records at once, want none", n-2)
	}
	c.advance(2 * time.Minute)
	l.Flush(ctx)
	if recs := all(t, l); len(recs) != 3 || count(t, recs[0]) != 50 {
		t.Errorf("second interval: %+v, want count=50", recs[0])
	}
	// After a quiet interval, a failure is new again and written at once.
	c.advance(2 * time.Minute)
	l.Flush(ctx)
	l.RecordFailure(ctx, fail)
	if recs := all(t, l); len(recs) != 4 || recs[0].Detail != "" {
		t.Errorf("after a quiet interval: %+v, want the failure in full", recs[0])
	}
	verify(t, l, 4)
	// Other outcomes, kinds, accounts and addresses are keys of their own.
	for _, e := range []Event{
		{Subject: "bob@example.org", Kind: fail.Kind, Outcome: Fail, Addr: fail.Addr},
		{Subject: fail.Subject, Kind: fail.Kind, Outcome: Fail, Addr: "198.51.100.1"},
		{Subject: fail.Subject, Kind: "smtp.rate-limited", Outcome: Refused, Addr: fail.Addr},
	} {
		l.RecordFailure(ctx, e)
	}
	verify(t, l, 7)
}

// TestRecordFailureBounded: an attack from many addresses at many accounts
// adds at most about 2×MaxKeys records per interval, and the counts add up.
func TestRecordFailureBounded(t *testing.T) {
	t.Parallel()
	l, c := newClockLog(t)
	l.SetAggregation(Aggregation{MaxKeys: 50, MaxAccounts: 4})
	ctx := t.Context()
	const n = 20000
	for i := range n {
		l.RecordFailure(ctx, Event{Subject: fmt.Sprintf("u%d@example.org", i), Kind: "login.apppassword", Outcome: Fail,
			Addr: fmt.Sprintf("2001:db8:%x::%x", i%300, i)})
		c.advance(time.Millisecond) // 20 s
	}
	c.advance(2 * time.Minute)
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := all(t, l)
	if len(recs) > 2*50+1 {
		t.Errorf("%d failures wrote %d records, want at most %d", n, len(recs), 2*50+1)
	}
	total := 0
	for _, r := range recs {
		total += count(t, r)
	}
	if total != n {
		t.Errorf("records count %d failures, want %d", total, n)
	}
	verify(t, l, len(recs))
	t.Logf("%d failures from 300 /64s at %d accounts: %d records", n, n, len(recs))
}

// BenchmarkFailureFlood writes failed logins from an attack of 300 /64s at
// ever new accounts, 2,820 a second of the fake clock (the rate seen in
// issue 12 item 7), aggregated and, as before, one record each. It reports
// the records written per 1,000 failures: aggregated, the figure falls as
// the attack goes on, bounded by about 2×MaxKeys per interval.
func BenchmarkFailureFlood(b *testing.B) {
	for _, mode := range []string{"aggregated", "each"} {
		b.Run(mode, func(b *testing.B) {
			l, c := newClockLog(b)
			ctx := b.Context()
			i := 0
			for b.Loop() {
				e := Event{Subject: fmt.Sprintf("u%d@example.org", i), Kind: "login.apppassword", Outcome: Fail,
					Addr: fmt.Sprintf("2001:db8:%x::1", i%300)}
				if mode == "each" {
					l.Record(ctx, e)
				} else {
					l.RecordFailure(ctx, e)
				}
				c.advance(time.Second / 2820)
				i++
			}
			c.advance(2 * time.Minute)
			l.Flush(ctx)
			n, err := l.Verify(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)*1000/float64(i), "records/1000-failures")
			b.ReportMetric(float64(n)/max(1, c.now().Sub(t0).Minutes()), "records/minute")
		})
	}
}
