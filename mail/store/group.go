package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// maxGroup is the most deliveries committed in one transaction.
const maxGroup = 64

// delivery is one call of [Store.Deliver] waiting for its commit.
type delivery struct {
	ctx     context.Context // the caller's, for the origin of its changes
	accts   []int64
	mailbox string // INBOX or Junk
	in      *incoming
	date    time.Time

	// Set by the committer before done is closed.
	blobID int64
	index  *parsed // to add to the full-text index, if its blobs row is new
	uids   map[int64]imap.UID
	err    error
	done   chan struct{}
}

// group is the group commit of deliveries: concurrent calls of
// [Store.Deliver] queue in pending, and whichever of them takes the turn
// commits all queued deliveries in one transaction (one WAL fsync instead of
// one each), each in a savepoint of its own so that one delivery's failure
// (a full mailbox) rolls back only that delivery. New bodies are not
// indexed for search in the group's transaction but noted in
// blob_unindexed and indexed in batches when mail is quiet (index.go): FTS5
// index writes cost more than the whole rest of a delivery, most of it in
// flushing and merging at each savepoint and commit. Every caller hears of its
// delivery only after the transaction holding it committed, so an SMTP 250
// still means the message is on disk.
type group struct {
	turn    chan struct{} // held by the caller committing a group
	mu      sync.Mutex
	pending []*delivery
}

func newGroup() *group {
	return &group{turn: make(chan struct{}, 1)}
}

// deliverGrouped queues d and waits until a group transaction holding it
// has committed (or failed), committing a group itself when it gets the
// turn. If ctx ends while d is still queued, d is withdrawn.
func (s *Store) deliverGrouped(ctx context.Context, d *delivery) (map[int64]imap.UID, error) {
	g := s.group
	d.ctx, d.done = ctx, make(chan struct{})
	g.mu.Lock()
	g.pending = append(g.pending, d)
	g.mu.Unlock()
	for {
		select {
		case <-d.done:
			return d.uids, d.err
		case <-ctx.Done():
			if g.withdraw(d) {
				return nil, fmt.Errorf("store: deliver: %w", ctx.Err())
			}
			<-d.done // taken by a committer: its outcome comes soon
			return d.uids, d.err
		case g.turn <- struct{}{}:
			batch := g.take()
			if len(batch) > 0 {
				s.commitGroup(ctx, batch)
			}
			if s.index.over(s.opts.IndexBacklog) {
				// Past the backlog bound (no quiet spell for long, or
				// no RunIndexer): one batch per turn, so that the
				// backlog shrinks while deliveries go on.
				if _, err := s.indexSome(ctx); err != nil {
					s.log.Warn("store: indexing delivered messages", "err", err)
				}
			}
			<-g.turn
		}
	}
}

// idle reports whether no delivery is queued.
func (g *group) idle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending) == 0
}

// withdraw removes d from the queue; false if a committer has taken it.
func (g *group) withdraw(d *delivery) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pending {
		if p == d {
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			return true
		}
	}
	return false
}

// take removes and returns up to maxGroup queued deliveries, oldest first.
func (g *group) take() []*delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.pending), maxGroup)
	batch := make([]*delivery, n)
	copy(batch, g.pending)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return batch
}

// commitGroup stores batch in one write transaction and tells each
// delivery its outcome once the transaction has committed (or failed). The
// transaction does not end with the committing caller's ctx: it carries
// other callers' deliveries.
func (s *Store) commitGroup(ctx context.Context, batch []*delivery) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	chs := make([]changes, len(batch))
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		q := preparedTx{s.stmts, tx}
		for i, d := range batch {
			chs[i] = chs[i][:0]
			if _, err := q.ExecContext(ctx, `SAVEPOINT deliver`); err != nil {
				return fmt.Errorf("store: deliver: %w", err)
			}
			d.uids, d.err = s.deliverTx(ctx, tx, &chs[i], d)
			if d.err != nil {
				if _, err := q.ExecContext(ctx, `ROLLBACK TO deliver`); err != nil {
					return fmt.Errorf("store: deliver: %w", err)
				}
			}
			if _, err := q.ExecContext(ctx, `RELEASE deliver`); err != nil {
				return fmt.Errorf("store: deliver: %w", err)
			}
		}
		for _, d := range batch {
			if d.err == nil && d.index != nil {
				if err := s.index.defer_(ctx, q, d.blobID, d.in.ref, d.index); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, d := range batch {
			if d.index != nil {
				s.index.forget(d.in.ref)
			}
		}
	}
	for i, d := range batch {
		if err != nil {
			d.uids, d.err = nil, err
		} else if d.err == nil {
			s.announce(d.ctx, chs[i])
		}
		close(d.done)
	}
}
