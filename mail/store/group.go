package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/emersion/go-imap/v2"
)

// maxGroup is the most deliveries committed in one transaction.
const maxGroup = 64

// delivery is one call of [Store.DeliverTo].
type delivery struct {
	accts   []int64
	mailbox string // INBOX or Junk
	in      *incoming
	date    time.Time

	// Set by deliverTx.
	blobID int64
	index  *parsed // to add to the full-text index, if its blobs row is new
}

// deliverGrouped stores d through the group commit ([db.Group], s.group):
// concurrent deliveries share one transaction (one WAL fsync instead of one
// each), and one delivery's failure (a full mailbox) rolls back only that
// delivery. On PostgreSQL a delivery whose body needs no look in the blob
// store inside the transaction ([Store.mayBeCollected]) is a bare job
// ([db.Group.DoBare]: no savepoint round trip while the cluster's write
// lock is held; a failure, which is rare, runs the batch again with
// savepoints): its function then only writes the database and sets its
// own results, so it may run twice. New bodies are not indexed
// for search in the group's transaction but noted in blob_unindexed and
// indexed in batches when mail is quiet (index.go): FTS5 index writes cost
// more than the whole rest of a delivery, most of it in flushing and
// merging at each savepoint and commit. deliverGrouped returns only after
// the transaction holding d committed, so an SMTP 250 still means the
// message is on disk; the changes are announced then, with ctx's origin.
func (s *Store) deliverGrouped(ctx context.Context, d *delivery) (map[int64]imap.UID, error) {
	var uids map[int64]imap.UID
	var ch changes
	do := s.group.Do
	if !s.mayBeCollected(d.in) {
		do = s.group.DoBare
	}
	err := do(ctx, func(tctx context.Context, tx *sql.Tx) error {
		ch = ch[:0]
		var err error
		if uids, err = s.deliverTx(tctx, tx, &ch, d); err != nil {
			return err
		}
		if d.index != nil && d.in.unindexedNoted {
			s.index.note(d.in.ref, d.index)
		} else if d.index != nil {
			return s.index.defer_(tctx, s.db.Stmts(tx), d.blobID, d.in.ref, d.index)
		}
		return nil
	})
	if err != nil {
		if d.index != nil {
			s.index.forget(d.in.ref)
		}
		return nil, err
	}
	s.announce(ctx, ch)
	return uids, nil
}

// afterGroup runs after each group commit while the turn is held: past the
// backlog bound (no quiet spell for long, or no RunIndexer), it indexes one
// batch per turn, so that the backlog shrinks while deliveries go on.
func (s *Store) afterGroup(ctx context.Context) {
	if s.index.over(s.opts.IndexBacklog) {
		if _, err := s.indexSome(ctx, false); err != nil {
			s.log.Warn("store: indexing delivered messages", "err", err)
		}
	}
}
