package autoreply

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestClaimFromTwoNodes claims the answer from one address to one sender
// many times at once through two database handles (two nodes on
// PostgreSQL, two connections pools on one SQLite file), also with the
// addresses in other cases: one claim wins, so one answer is sent.
func TestClaimFromTwoNodes(t *testing.T) {
	d := dbtest.Create(t)
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	cfg := Config{Hostname: "mail.example-party.org", Now: func() time.Time { return now }}
	var nodes []*Responder
	for range 2 {
		h := d.Open(t)
		if err := h.Migrate(t.Context(), Component()); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, New(cfg, Deps{DB: h}))
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		r := nodes[i%2]
		address, sender := "anna@example-party.org", "bob@example.org"
		if i%4 >= 2 {
			address, sender = "Anna@Example-Party.org", "BOB@example.org"
		}
		wg.Go(func() {
			at, err := r.claim(t.Context(), address, sender)
			if err != nil {
				t.Error(err)
				return
			}
			if !at.IsZero() {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d claims won, want 1", n)
	}
}
