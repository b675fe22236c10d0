package queue

import (
	"context"
	"database/sql"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// Several caucus nodes may run the queue on one PostgreSQL database. Each
// delivery is attempted by one node at a time, which holds its lease: the
// node's name and the time until which the delivery is its own
// (queue_deliveries.lease_owner and lease_until, on PostgreSQL only). A
// node takes the lease before it reads the delivery (claim), and gives it
// back in the transaction that records the attempt (release); a node that
// stops during an attempt leaves its lease to expire, after which another
// node takes the delivery over. On SQLite, whose database is one
// machine's, the one process that runs the queue knows its attempts in
// memory (Queue.inflight), and claiming costs nothing.
//
// Leases are in the queue's clock, like the schedule: the nodes' clocks
// must agree to well within a minute (NTP).

// leaseTime is how long a claimed delivery stays the claiming node's: an
// attempt's longest time, with room to record its outcome.
func (q *Queue) leaseTime() time.Duration {
	return q.timeouts.session + 5*time.Minute
}

// claim takes delivery id's lease for this node and reports whether it
// did: it does not if the delivery is gone, is not due, or another node
// holds a lease on it that has not expired. The check and the taking are
// one statement: PostgreSQL locks the row it updates, and an UPDATE that
// waited for another's re-checks its condition against the row that one
// committed, so that of two nodes claiming at once one gets no row.
func (q *Queue) claim(ctx context.Context, id int64) (bool, error) {
	if q.db.Engine() != db.Postgres {
		return true, nil
	}
	now := q.now()
	res, err := q.db.ExecContext(ctx, `UPDATE queue_deliveries SET lease_owner = ?, lease_until = ?
		WHERE id = ? AND next_attempt <= ? AND lease_until <= ?`,
		q.node, now.Add(q.leaseTime()).Unix(), id, now.Unix(), now.Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// release gives back this node's lease on delivery id, in the
// transaction that records its attempt.
func (q *Queue) release(ctx context.Context, tx *sql.Tx, id int64) error {
	if q.db.Engine() != db.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE queue_deliveries SET lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?`, id, q.node)
	return err
}

// unleased is the condition, to add to a query of due deliveries, that
// leaves out those another node is attempting (nothing on SQLite), with
// its arguments.
func (q *Queue) unleased(now int64) (string, []any) {
	if q.db.Engine() != db.Postgres {
		return "", nil
	}
	return ` AND lease_until <= ?`, []any{now}
}
