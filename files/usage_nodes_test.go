package files_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/files"
)

// TestUsageTwoNodes: round after round, two uploads into one member's
// home through two nodes at once (two database handles), with room for
// one of them only: one is refused, the usage the triggers keep is what
// summing the versions finds, and that sum never exceeds the quota. The
// kept usage is read in the commit's transaction, under the database's
// one write lock (on PostgreSQL the cluster-wide advisory lock every
// write transaction takes first, see db.Tx), and the triggers change it
// in that transaction: the second commit reads the first's.
func TestUsageTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, alice := twoNodes(t)
	home, err := a.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	const size = 60
	for round := range 12 {
		used, _, err := a.Usage(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Room for one upload, not for both.
		quota := used + size + size/2
		if err := a.SetQuota(ctx, "admin@example.org", alice.ID, quota); err != nil {
			t.Fatal(err)
		}
		var all sync.WaitGroup
		all.Add(2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []*files.Store{a, b} {
			wg.Go(func() {
				content := fmt.Sprintf("%02d-%d-", round, i) + strings.Repeat("x", size-5)
				name := fmt.Sprintf("r%d-%d.txt", round, i)
				_, errs[i] = s.Put(ctx, alice, home.ID, name, &meetReader{r: strings.NewReader(content), all: &all}, size)
			})
		}
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, files.ErrQuota):
				refused++
			case err != nil:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if refused != 1 {
			t.Errorf("round %d: %d of two uploads of %d bytes refused with %d of %d bytes free, want one: %v", round, refused, size, quota-used, quota, errs)
		}
		checkUsage(t, files.DB(a), fmt.Sprintf("round %d", round))
		summed := usageRows(t, files.DB(a), fmt.Sprintf(`SELECT 'all', COALESCE(SUM(size), 0) FROM (SELECT MAX(v.size) AS size
			FROM files_versions v JOIN files_nodes n ON n.id = v.node_id WHERE n.space_kind = 'home' AND n.space_id = %d GROUP BY v.blob) AS contents`, alice.ID))
		if summed["all"] > quota {
			t.Fatalf("round %d: %d bytes stored, over the quota of %d", round, summed["all"], quota)
		}
	}
}
