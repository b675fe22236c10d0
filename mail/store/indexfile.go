package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// On SQLite the full-text index (message_text, message_headers, see
// fts.go) lives in the database's index file ([db.DB.Index]), not in the
// database: FTS5 flushes its pending segment, and merges segments, at
// every commit, and in the database that commit held the one write lock
// while every session's STORE waited (8-123 ms of the slowest STOREs'
// wait in the steady-session load). In its own file it has its own write
// lock; the database's connections attach it read-only, so a search
// still joins the index's candidates with the messages in one query.
//
// The index file holds, besides the index, message_indexed: per blob id
// the content (ref) its index rows describe. The rules that keep the two
// files right without a commit across them:
//
//   - blob_unindexed (in the database, written in the same transaction
//     as the blob) stays the durable queue. The indexer removes a body's
//     row only after the index file's transaction holding its index
//     rows has committed; both commits are lazy (they do not wait for
//     the disk).
//   - When the store starts, every blob that is neither in
//     message_indexed with its ref nor in blob_unindexed is queued again
//     (requeueUnindexed): a crash that kept the queue's deletion but lost
//     the index file's commit, a lost or older index file (a restored
//     backup, which holds the database only: the index is rebuilt from
//     it), and the first start after migration 8 all come down to
//     bodies indexed again. An index entry is never lost for good.
//   - A blob id may be used again once its blob is collected: an entry
//     whose ref is not the blob's describes other content. Indexing a
//     body replaces such an entry; CollectGarbage deletes an entry only
//     if its ref is the collected blob's, after the database's commit
//     (dropIndexed), so that a crash in between leaves a stale entry (a
//     candidate that the search's check on the body throws out), never a
//     missing one.
//
// A statement that reads both files reads the database first (see
// [db.IndexSchema]): a search that still sees a body in blob_unindexed
// takes it as a candidate; one that no longer does sees its index rows.

// indexFileSchema makes the index file's tables (schemaV3's index and
// message_indexed), if missing.
const indexFileSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5(body, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none);
CREATE VIRTUAL TABLE IF NOT EXISTS message_headers USING fts5(fields, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none);
CREATE TABLE IF NOT EXISTS message_indexed (
	blob_id INTEGER PRIMARY KEY,
	ref     TEXT NOT NULL
);
`

// prepareIndexFile makes the index file's tables and queues every body
// the index file lacks (requeueUnindexed). Nothing on PostgreSQL.
func (s *Store) prepareIndexFile(ctx context.Context) error {
	idx := s.db.Index()
	if idx == nil {
		return nil
	}
	if _, err := idx.ExecContext(ctx, indexFileSchema); err != nil {
		return fmt.Errorf("store: making the index file's tables: %w", err)
	}
	return s.requeueUnindexed(ctx)
}

// requeueUnindexed notes in blob_unindexed every blob whose content the
// index file does not describe and that is not queued already.
func (s *Store) requeueUnindexed(ctx context.Context) error {
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blob_unindexed (blob_id) SELECT b.id FROM blobs b
			WHERE NOT EXISTS (SELECT 1 FROM `+db.IndexSchema+`.message_indexed i WHERE i.blob_id = b.id AND i.ref = b.ref)
			AND NOT EXISTS (SELECT 1 FROM blob_unindexed u WHERE u.blob_id = b.id)`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: queueing bodies the index lacks: %w", err)
	}
	if n > 0 {
		s.log.Info("store: bodies queued for the full-text index", "count", n)
		s.index.mu.Lock()
		s.index.n += int(n)
		s.index.mu.Unlock()
	}
	return nil
}

// queuedBody is a body waiting in blob_unindexed, with its size.
type queuedBody struct {
	id   int64
	ref  blob.Ref
	size int64
}

// indexInFile indexes bodies in the index file, in one transaction of
// its own, then removes their rows from blob_unindexed (those whose blob
// still has that ref), and returns how many it indexed. The text parsed
// at delivery is used if kept; else the body is parsed again from the
// blob store, before the transaction. A body collected meanwhile is
// skipped; one that no longer parses is left out of the index (logged)
// and noted as indexed.
func (s *Store) indexInFile(ctx context.Context, bodies []queuedBody) (int, error) {
	texts := make([]*parsed, len(bodies))
	keep := bodies[:0:0]
	for i, b := range bodies {
		if texts[i] = s.index.take(b.ref); texts[i] == nil {
			in := &incoming{ref: b.ref, size: b.size}
			if err := s.parseText(in, true); errors.Is(err, blob.ErrNotFound) {
				continue // collected: its queue row is gone with it
			} else if err != nil {
				s.log.Error("store: cannot index a stored message", "blob", b.ref, "err", err)
			}
			texts[i] = in.p
		}
		keep = append(keep, b)
		texts[len(keep)-1] = texts[i]
	}
	idx := s.db.Index()
	err := idx.Tx(ctx, func(tx *sql.Tx) error {
		q := idx.Stmts(tx)
		for i, b := range keep {
			if err := indexOne(ctx, q, b.id, b.ref, texts[i]); err != nil {
				return err
			}
			if s.testHookIndexed != nil {
				s.testHookIndexed()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	err = s.db.TxLazy(ctx, func(tx *sql.Tx) error {
		q := s.db.Stmts(tx)
		for _, b := range keep {
			if _, err := q.ExecContext(ctx, `DELETE FROM blob_unindexed WHERE blob_id = ? AND blob_id IN (SELECT id FROM blobs WHERE ref = ?)`, b.id, string(b.ref)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	s.index.indexed(len(keep))
	return len(keep), nil
}

// indexOne adds the text p (nil: none) of blob id, content ref, to the
// index file in its transaction q, replacing an entry that describes
// other content under the same id; nothing if the entry describes ref.
func indexOne(ctx context.Context, q querier, id int64, ref blob.Ref, p *parsed) error {
	var had string
	err := q.QueryRowContext(ctx, `SELECT ref FROM message_indexed WHERE blob_id = ?`, id).Scan(&had)
	switch {
	case err == nil && had == string(ref):
		return nil
	case err == nil:
		if err := dropEntry(ctx, q, id); err != nil {
			return err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: index: %w", err)
	}
	if p != nil {
		if err := indexBlob(ctx, q, db.SQLite, id, p); err != nil {
			return err
		}
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO message_indexed (blob_id, ref) VALUES (?, ?)`, id, string(ref)); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	return nil
}

// dropEntry deletes the index file's entry of blob id.
func dropEntry(ctx context.Context, q querier, id int64) error {
	for _, query := range []string{
		`DELETE FROM message_headers WHERE rowid = ?`,
		`DELETE FROM message_text WHERE rowid = ?`,
		`DELETE FROM message_indexed WHERE blob_id = ?`,
	} {
		if _, err := q.ExecContext(ctx, query, id); err != nil {
			return fmt.Errorf("store: index: %w", err)
		}
	}
	return nil
}

// dropIndexed deletes from the index file the entries of the collected
// blobs, each only if it still describes that blob's content (its id may
// have been used again and indexed since).
func (s *Store) dropIndexed(ctx context.Context, gone []queuedBody) error {
	idx := s.db.Index()
	if idx == nil || len(gone) == 0 {
		return nil
	}
	return idx.Tx(ctx, func(tx *sql.Tx) error {
		q := idx.Stmts(tx)
		for _, b := range gone {
			var had string
			err := q.QueryRowContext(ctx, `SELECT ref FROM message_indexed WHERE blob_id = ?`, b.id).Scan(&had)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && had != string(b.ref)) {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: index: %w", err)
			}
			if err := dropEntry(ctx, q, b.id); err != nil {
				return err
			}
		}
		return nil
	})
}

// queuedBodies returns up to limit bodies of blob_unindexed, by id, read
// through q (the database, or a transaction's statements).
func queuedBodies(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, limit int) ([]queuedBody, error) {
	rows, err := q.QueryContext(ctx, `SELECT u.blob_id, b.ref, b.size FROM blob_unindexed u JOIN blobs b ON b.id = u.blob_id ORDER BY u.blob_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: index: %w", err)
	}
	defer rows.Close()
	var out []queuedBody
	for rows.Next() {
		var b queuedBody
		if err := rows.Scan(&b.id, &b.ref, &b.size); err != nil {
			return nil, fmt.Errorf("store: index: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: index: %w", err)
	}
	return out, nil
}

// stillQueued returns those of the bodies hurry noted that still wait in
// blob_unindexed with the same content, with their sizes.
func (s *Store) stillQueued(ctx context.Context, bodies []waitingBody) ([]queuedBody, error) {
	var out []queuedBody
	q := s.db.Stmts(nil)
	for _, b := range bodies {
		var size int64
		err := q.QueryRowContext(ctx, `SELECT b.size FROM blob_unindexed u JOIN blobs b ON b.id = u.blob_id WHERE u.blob_id = ? AND b.ref = ?`, b.id, string(b.ref)).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: index: %w", err)
		}
		out = append(out, queuedBody{b.id, b.ref, size})
	}
	return out, nil
}
