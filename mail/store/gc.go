package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// GCGrace is how long a blob must have been unreferenced before
// CollectGarbage deletes it.
const GCGrace = time.Hour

// gcBatch is how many blobs one CollectGarbage transaction deletes, so that
// it holds the write lock only briefly.
const gcBatch = 100

// CollectGarbage deletes message bodies that no message refers to any more
// and have not for at least [GCGrace], with their parsed metadata and
// search index, and the blobs of deliveries that failed after storing
// their body. It returns how many blobs it deleted. Run it now and then
// (say hourly); it is safe to run at any time, also concurrently with
// deliveries of the same content.
//
// Expunge, Move and DeleteMailbox only delete message rows; the bodies go
// here, never in the transaction that removed the last reference, because a
// concurrent Deliver of the same content may have stored (deduplicated)
// the blob already and be about to commit a reference to it. Safety rests
// on three things:
//
//   - The first run that finds a blob unreferenced only marks it; a later
//     run deletes it once the mark is older than GCGrace. A delivery that
//     reuses the blob clears the mark in its transaction.
//   - Deletion happens inside a write transaction that re-checks that no
//     message refers to the blob, and a delivering transaction checks that
//     its blob file exists after taking the write lock (SQLite allows one
//     writer at a time): either the delivery commits first and the blob is
//     kept, or the file is gone before the delivery looks and it fails with
//     [ErrBlobCollected], never leaving a message without a body.
//   - Nothing is deleted while a backup holds blobs ([db.DB.HoldBlobs]), so
//     a database snapshot never refers to a blob the backup then misses.
//   - Blobs between a delivery's Put and its commit are pinned in memory
//     and skipped, which closes all but a window of microseconds.
//
// The blob store must be this store's alone: a blob with the same content
// used by another component (say, the file store) would be deleted too.
func (s *Store) CollectGarbage(ctx context.Context) (deleted int, err error) {
	if err := s.pruneVanished(ctx); err != nil {
		return 0, err
	}
	now := s.now().Unix()
	// Mark what became unreferenced; unmark what is referenced again.
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET orphaned_at = ? WHERE orphaned_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = blobs.id)`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE blobs SET orphaned_at = NULL WHERE orphaned_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = blobs.id)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: collect garbage: %w", err)
	}
	cutoff := now - int64(GCGrace/time.Second)
	for {
		n, more, err := s.collectBatch(ctx, cutoff)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("store: collect garbage: %w", err)
		}
		if !more {
			break
		}
	}
	for {
		n, more, err := s.collectOrphans(ctx, cutoff)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("store: collect garbage: %w", err)
		}
		if !more {
			break
		}
	}
	if deleted > 0 {
		s.log.Info("store: collected unreferenced message bodies", "blobs", deleted)
	}
	return deleted, nil
}

// collectBatch deletes up to gcBatch blobs marked before cutoff and still
// unreferenced. more reports whether there may be others.
func (s *Store) collectBatch(ctx context.Context, cutoff int64) (deleted int, more bool, err error) {
	var gone []queuedBody // collected blobs whose index file entries go after the commit
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		deleted, more, gone = 0, false, gone[:0]
		if held, err := db.BlobsHeld(ctx, tx); err != nil || held {
			return err // a backup is copying blobs: delete none now
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, ref FROM blobs WHERE orphaned_at IS NOT NULL AND orphaned_at <= ?
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = blobs.id) ORDER BY id LIMIT ?`, cutoff, gcBatch)
		if err != nil {
			return err
		}
		type victim struct {
			id  int64
			ref blob.Ref
		}
		var victims []victim
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.id, &v.ref); err != nil {
				rows.Close()
				return err
			}
			victims = append(victims, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		more = len(victims) == gcBatch
		for _, v := range victims {
			if s.pinned(v.ref) {
				// A delivery of this content is in flight; it will
				// clear the mark when it commits. Leave the row, and
				// keep it out of the next batch's way.
				if _, err := tx.ExecContext(ctx, `UPDATE blobs SET orphaned_at = ? WHERE id = ?`, s.now().Unix(), v.id); err != nil {
					return err
				}
				continue
			}
			var queries []string
			if s.db.Index() != nil {
				// SQLite: the index file's entry goes after
				// the commit (dropIndexed).
				gone = append(gone, queuedBody{id: v.id, ref: v.ref})
			} else {
				queries = []string{
					`DELETE FROM message_headers WHERE rowid = ?1`,
					`DELETE FROM message_text WHERE rowid = ?1`,
				}
			}
			for _, q := range append(queries,
				`DELETE FROM blob_unindexed WHERE blob_id = ?1`,
				`DELETE FROM blob_orphans WHERE ref = (SELECT ref FROM blobs WHERE id = ?1)`,
				`DELETE FROM blobs WHERE id = ?1`,
			) {
				if _, err := tx.ExecContext(ctx, q, v.id); err != nil {
					return err
				}
			}
			// Inside the transaction, under the write lock: see
			// CollectGarbage.
			if err := s.blobs.Delete(v.ref); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if err := s.dropIndexed(ctx, gone); err != nil {
		return deleted, more, err
	}
	return deleted, more, nil
}

// collectOrphans deletes up to gcBatch blobs that failed deliveries left
// before cutoff and that no blobs row knows (a known blob is left to
// collectBatch). more reports whether there may be others.
func (s *Store) collectOrphans(ctx context.Context, cutoff int64) (deleted int, more bool, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		deleted, more = 0, false
		if held, err := db.BlobsHeld(ctx, tx); err != nil || held {
			return err // a backup is copying blobs: delete none now
		}
		rows, err := tx.QueryContext(ctx, `SELECT o.ref, EXISTS (SELECT 1 FROM blobs b WHERE b.ref = o.ref)
			FROM blob_orphans o WHERE o.since <= ? ORDER BY o.ref LIMIT ?`, cutoff, gcBatch)
		if err != nil {
			return err
		}
		type orphan struct {
			ref   blob.Ref
			known bool
		}
		var orphans []orphan
		for rows.Next() {
			var o orphan
			if err := rows.Scan(&o.ref, &o.known); err != nil {
				rows.Close()
				return err
			}
			orphans = append(orphans, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		more = len(orphans) == gcBatch
		for _, o := range orphans {
			if s.pinned(o.ref) {
				if _, err := tx.ExecContext(ctx, `UPDATE blob_orphans SET since = ? WHERE ref = ?`, s.now().Unix(), string(o.ref)); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM blob_orphans WHERE ref = ?`, string(o.ref)); err != nil {
				return err
			}
			if o.known {
				continue
			}
			if err := s.blobs.Delete(o.ref); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return deleted, more, nil
}
