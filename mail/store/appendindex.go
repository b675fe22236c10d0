package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/caucus-org/caucus/internal/blob"
)

// appendedBodies are the new bodies that IMAP APPENDs of the group being
// committed stored: the group commit adds them to the full-text index
// just before it commits ([Store.indexAppended]).
type appendedBodies struct {
	mu     sync.Mutex
	bodies []appendedBody
}

// appendedBody is one new body of an APPEND, noted in blob_unindexed.
type appendedBody struct {
	id  int64
	ref blob.Ref
	p   *parsed
}

// note adds a body; its job must succeed right after.
func (a *appendedBodies) note(b appendedBody) {
	a.mu.Lock()
	a.bodies = append(a.bodies, b)
	a.mu.Unlock()
}

// take returns and forgets the bodies noted so far.
func (a *appendedBodies) take() []appendedBody {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.bodies
	a.bodies = nil
	return b
}

// indexAppended is the group commit's step before commit: it adds the
// bodies appended by the group's jobs to the full-text index in the
// group's transaction, so that a SEARCH after an APPEND finds them indexed
// (otherwise it would index them itself, in a write transaction and an
// fsync of its own, queueing behind the group commits), and all of a
// group's bodies cost one FTS5 flush, at the commit. Each body's
// blob_unindexed row goes in the same statement: a body whose row is gone
// (indexed meanwhile, or its job's transaction rolled back; the ref is
// checked too, as a rolled-back blob id may be used again) is skipped. If
// this step fails, the bodies stay in blob_unindexed for the indexer.
func (s *Store) indexAppended(ctx context.Context, tx *sql.Tx) error {
	bodies := s.appended.take()
	if len(bodies) == 0 {
		return nil
	}
	q := s.db.Stmts(tx)
	var done []blob.Ref
	for _, b := range bodies {
		res, err := q.ExecContext(ctx, `DELETE FROM blob_unindexed WHERE blob_id = ? AND blob_id IN (SELECT id FROM blobs WHERE ref = ?)`, b.id, string(b.ref))
		if err != nil {
			return fmt.Errorf("store: indexing appended bodies: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue
		}
		if err := indexBlob(ctx, q, b.id, b.p); err != nil {
			return err
		}
		done = append(done, b.ref)
	}
	for _, ref := range done {
		s.index.forget(ref)
	}
	s.index.indexed(len(done))
	return nil
}
