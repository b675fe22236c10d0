package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/caucus-org/caucus/internal/blob"
)

const (
	// indexBatch is how many delivered bodies wait for the full-text
	// index before a delivery's committer indexes them, if no other
	// delivery is waiting for its commit.
	indexBatch = 256
	// indexBacklog is how many may wait while deliveries keep coming: a
	// burst of mail is answered first and indexed when it ebbs.
	indexBacklog = 4096
	// indexMemory bounds the parsed text kept for them; bodies beyond it
	// are parsed again from the blob store when indexed.
	indexMemory = 64 << 20
)

// deferredIndex keeps the parsed text of delivered bodies that wait in
// blob_unindexed for the full-text index, so that indexing them need not
// read and parse them again.
type deferredIndex struct {
	mu     sync.Mutex
	parsed map[blob.Ref]*parsed
	bytes  int
	n      int // rows in blob_unindexed noted since the last indexing
}

func newDeferredIndex() *deferredIndex {
	return &deferredIndex{parsed: map[blob.Ref]*parsed{}}
}

// defer_ notes blob id (content ref, parsed as p) in blob_unindexed, in the
// caller's transaction.
func (x *deferredIndex) defer_(ctx context.Context, tx querier, id int64, ref blob.Ref, p *parsed) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_unindexed (blob_id) VALUES (?)`, id); err != nil {
		return fmt.Errorf("store: noting unindexed blob: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n++
	if _, ok := x.parsed[ref]; !ok && x.bytes+p.textSize() <= indexMemory {
		x.parsed[ref] = p
		x.bytes += p.textSize()
	}
	return nil
}

// forget drops the parsed text of ref.
func (x *deferredIndex) forget(ref blob.Ref) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.parsed[ref]; ok {
		x.bytes -= p.textSize()
		delete(x.parsed, ref)
	}
}

// take returns and forgets the parsed text of ref, nil if not kept.
func (x *deferredIndex) take(ref blob.Ref) *parsed {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.parsed[ref]
	if ok {
		x.bytes -= p.textSize()
		delete(x.parsed, ref)
	}
	return p
}

// due reports whether enough bodies wait to index them now; idle says
// whether no delivery waits for its commit.
func (x *deferredIndex) due(idle bool) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n >= indexBacklog || x.bytes >= indexMemory || idle && x.n >= indexBatch
}

// textSize is about how many bytes of text p holds for the index.
func (p *parsed) textSize() int {
	n := len(p.body)
	for _, h := range p.headers {
		n += len(h.name) + len(h.value)
	}
	return n
}

// indexPending adds every body listed in blob_unindexed to the full-text
// index, in write transactions of up to indexBatch*4 bodies. Search calls
// it first; delivery calls it when enough bodies wait.
func (s *Store) indexPending(ctx context.Context) error {
	var pending bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_unindexed)`).Scan(&pending); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	if !pending {
		return nil
	}
	s.index.mu.Lock()
	s.index.n = 0
	s.index.mu.Unlock()
	for more := true; more; {
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			q := preparedTx{s.stmts, tx}
			rows, err := q.QueryContext(ctx, `SELECT u.blob_id, b.ref, b.size FROM blob_unindexed u JOIN blobs b ON b.id = u.blob_id ORDER BY u.blob_id LIMIT ?`, indexBatch*4)
			if err != nil {
				return err
			}
			var todo []*incoming
			var ids []int64
			for rows.Next() {
				var id int64
				var ref string
				in := &incoming{}
				if err := rows.Scan(&id, &ref, &in.size); err != nil {
					rows.Close()
					return err
				}
				in.ref = blob.Ref(ref)
				todo, ids = append(todo, in), append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			more = len(todo) == indexBatch*4
			for i, in := range todo {
				if in.p = s.index.take(in.ref); in.p == nil {
					// Not kept in memory (or a restart since): parse
					// the stored body again. Garbage collection does
					// not delete it meanwhile: it runs under the same
					// write lock and removes the blob_unindexed row too.
					if err := s.parse(in); err != nil {
						// It parsed at delivery; the file is damaged
						// or gone. Leave it out of the index rather
						// than fail every search from now on.
						s.log.Error("store: cannot index a delivered message", "blob", in.ref, "err", err)
					}
				}
				if in.p != nil {
					if err := indexBlob(ctx, q, ids[i], in.p); err != nil {
						return err
					}
				}
				if _, err := q.ExecContext(ctx, `DELETE FROM blob_unindexed WHERE blob_id = ?`, ids[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: index: %w", err)
		}
	}
	return nil
}
