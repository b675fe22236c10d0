package auth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
)

// TestAuditFlood is issue 12 item 7: unauthenticated failed logins wrote
// one audit record each (28,200 in 10 s). Repeated failures from one
// source are aggregated: one record per source and account per interval,
// with a count, the chain intact and nothing lost from the counts.
func TestAuditFlood(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ivy@example.org")
	before, err := s.Audit().Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	attacker := Client{Addr: netip.MustParseAddr("203.0.113.9")}
	const n = 2000 // 10 s at 200 a second
	for i := range n {
		login := m.Login
		if i%2 == 1 {
			login = fmt.Sprintf("nobody%d@example.org", i) // a new account name each time
		}
		s.AppPassword(ctx, login, "guess", ScopeMail, attacker)
		clk.Advance(10 * time.Second / n)
	}
	clk.Advance(2 * time.Minute)
	if err := s.Audit().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := s.Audit().Verify(ctx)
	if err != nil {
		t.Fatalf("chain after the flood: %v", err)
	}
	written := after - before
	if written > 40 {
		t.Errorf("%d failed logins wrote %d audit records, want at most 40", n, written)
	}
	recs, err := s.Audit().List(ctx, audit.Filter{Kind: "login.apppassword", Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range recs {
		total += countOf(t, r)
	}
	if total != n {
		t.Errorf("the records count %d failures, want %d", total, n)
	}
	t.Logf("%d failed logins: %d audit records", n, written)
}

// countOf is how many events a record stands for: its count= detail, or 1.
func countOf(t *testing.T, r audit.Record) int {
	t.Helper()
	for _, f := range strings.Fields(r.Detail) {
		if v, ok := strings.CutPrefix(f, "count="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("record %d: detail %q", r.ID, r.Detail)
			}
			return n
		}
	}
	return 1
}
