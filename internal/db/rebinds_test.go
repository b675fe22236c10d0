package db

import (
	"fmt"
	"strings"
	"testing"
)

// TestRebindsBounded checks that a rebinds answers as Rebind does,
// remembered or not, and remembers at most maxRebinds queries.
func TestRebindsBounded(t *testing.T) {
	r := &rebinds{m: map[string]string{}}
	for i := range maxRebinds + 10 {
		q := fmt.Sprintf("SELECT ? FROM t%d WHERE a = ?2 AND b = '?'", i)
		for range 2 { // the second time from memory, if remembered
			if got, want := r.of(q), Rebind(q); got != want {
				t.Fatalf("of(%q) = %q, want %q", q, got, want)
			}
		}
	}
	if len(r.m) != maxRebinds {
		t.Errorf("%d queries remembered, want the bound %d", len(r.m), maxRebinds)
	}
}

// BenchmarkRebind compares rebinding a statement of the size of the one
// that commits a new file (2 KB, 13 placeholders) with finding it in a
// rebinds.
func BenchmarkRebind(b *testing.B) {
	var q strings.Builder
	for i := range 13 {
		fmt.Fprintf(&q, "SELECT n.id, n.parent_id, n.name, n.is_dir, n.deleted_at, n.space_kind, n.space_id, 0 AS depth FROM files_nodes n WHERE n.id = ?%d ", i+1)
	}
	query := q.String()
	b.Run("Rebind", func(b *testing.B) {
		for b.Loop() {
			Rebind(query)
		}
	})
	b.Run("remembered", func(b *testing.B) {
		r := &rebinds{m: map[string]string{}}
		for b.Loop() {
			r.of(query)
		}
	})
}
