package audit

import (
	"fmt"
	"testing"
)

// TestFilterTextAndAfter: free-text search (any case, its wildcards taken
// literally) and paging toward newer records, still listed newest first.
func TestFilterTextAndAfter(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	for i := range 30 {
		e := Event{Actor: "boss@example.org", Subject: fmt.Sprintf("p%d@example.org", i), Kind: "test.x", Detail: fmt.Sprintf("step %d", i)}
		if i == 7 {
			e.Detail = "100% Done_here"
		}
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		text string
		want int
	}{{"P7@EXAMPLE", 1}, {"100%", 1}, {"0% d", 1}, {"_", 1}, {"%", 1}, {"step 1", 11}, {"nothing", 0}} {
		recs, err := l.List(ctx, Filter{Text: tc.text})
		if err != nil || len(recs) != tc.want {
			t.Errorf("Text %q: %d records, %v; want %d", tc.text, len(recs), err, tc.want)
		}
	}
	recs, err := l.List(ctx, Filter{AfterID: 10, Limit: 5, Account: "boss@example.org"})
	if err != nil || len(recs) != 5 || recs[0].ID != 15 || recs[4].ID != 11 {
		t.Errorf("AfterID 10, 5 records: %v, %v; want 15 down to 11", ids(recs), err)
	}
}

func ids(recs []Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}
