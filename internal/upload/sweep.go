package upload

import (
	"context"
	"fmt"
	"time"
)

// Abandoned is how long an unfinished upload is kept after its last
// piece.
const Abandoned = 24 * time.Hour

// Sweep deletes the uploads left unfinished for longer than [Abandoned]
// and the handed ones whose job has ended (ended says so); it returns
// how many it deleted.
func (s *Spool) Sweep(ctx context.Context, ended func(ctx context.Context, job int64) (bool, error)) (int, error) {
	type item struct {
		id, state string
		job       int64
		updated   int64
	}
	old := s.now().Add(-Abandoned).Unix()
	rows, err := s.db.QueryContext(ctx, `SELECT id, state, job_id, updated_at FROM uploads WHERE (state = ? AND updated_at < ?) OR state = ?`,
		StateReceiving, old, StateHanded)
	if err != nil {
		return 0, fmt.Errorf("upload: sweep: %w", err)
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.state, &it.job, &it.updated); err != nil {
			rows.Close()
			return 0, fmt.Errorf("upload: sweep: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	n := 0
	for _, it := range items {
		if it.state == StateHanded && it.job == 0 && it.updated >= old {
			continue // claimed, its job being started (Hand)
		}
		if it.state == StateHanded && it.job != 0 {
			done, err := ended(ctx, it.job)
			if err != nil {
				return n, err
			}
			if !done {
				continue
			}
		}
		if !s.lock(it.id) {
			continue // a piece is being written: not abandoned
		}
		err := s.remove(ctx, it.id)
		s.unlock(it.id)
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Run sweeps every period until ctx ends.
func (s *Spool) Run(ctx context.Context, every time.Duration, ended func(ctx context.Context, job int64) (bool, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx, ended); err != nil && ctx.Err() == nil {
			s.log.Warn("upload: sweep", "err", err)
		} else if n > 0 {
			s.log.Info("upload: swept", "uploads", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
