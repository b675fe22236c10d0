package db

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"
)

// TestJobTrace queues two traced jobs behind a held turn: their traces
// name what they waited behind and share one transaction of two jobs,
// the second behind the first.
func TestJobTrace(t *testing.T) {
	t.Parallel()
	_, g, release := heldGroup(t)
	ctx := t.Context()
	traces := make([]JobTrace, 2)
	var wg sync.WaitGroup
	for i := range traces {
		for g.Queued() < i { // queued in order
			time.Sleep(time.Millisecond)
		}
		wg.Go(func() {
			err := g.Do(WithJobTrace(ctx, &traces[i]), func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO g (n) VALUES (?)`, i)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for g.Queued() < len(traces) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i, tr := range traces {
		if tr.Jobs != 2 || tr.Behind.Holds != 1 || tr.Behind.Commits != 0 {
			t.Errorf("job %d: %d jobs in its commit, behind %+v; want 2, behind one hold", i, tr.Jobs, tr.Behind)
		}
		if tr.Wait <= 0 || tr.Begin <= 0 || tr.Run <= 0 || tr.Commit <= 0 {
			t.Errorf("job %d: stages not timed: %+v", i, tr)
		}
	}
	if traces[1].Ahead < traces[0].Run {
		t.Errorf("the second job's time ahead (%v) is less than the first job's run (%v)", traces[1].Ahead, traces[0].Run)
	}
	if got := g.Turns(); got.Holds != 1 || got.Commits != 1 || got.CommitJobs != 2 {
		t.Errorf("turns %+v; want one hold, one commit of 2 jobs", got)
	}
}
