package admin

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"

	"github.com/caucus-org/caucus/internal/db"
)

// cohortEndKey is the key of the PostgreSQL advisory lock that claims a
// cohort's end: a hash of the schema (advisory locks are the whole
// database's, and two parties, or two tests, may each have a schema of
// their own in one) and of the cohort's id, its one parameter. A
// collision only makes two ends wait for each other.
const cohortEndKey = `hashtextextended(current_schema() || '/cohort.end/' || ?, 0)`

// claimEnd makes the caller the only one ending cohort id, and returns
// the function that gives the claim back; [ErrCohortEnded] if another
// call is ending it. An end runs many transactions and mails, so no one
// transaction can hold it: in this process a set of the cohorts being
// ended keeps a second call out (an admin's click while RunExpiry ends
// it); on PostgreSQL, where several nodes run RunExpiry, a session
// advisory lock on a connection kept for the end keeps the other nodes
// out too, and is given back with the connection if the node dies
// mid-way (the next RunExpiry then ends the rest). SQLite has one server
// process.
func (o *Ops) claimEnd(ctx context.Context, id int64) (release func(), err error) {
	if o.d.DB == nil {
		return nil, ErrNotAvailable
	}
	o.endMu.Lock()
	if o.ending[id] {
		o.endMu.Unlock()
		return nil, fmt.Errorf("%w (it is being ended)", ErrCohortEnded)
	}
	o.ending[id] = true
	o.endMu.Unlock()
	local := func() {
		o.endMu.Lock()
		delete(o.ending, id)
		o.endMu.Unlock()
	}
	if o.d.DB.Engine() != db.Postgres {
		return local, nil
	}
	unlock, err := o.lockEndPG(ctx, id)
	if err != nil {
		local()
		return nil, err
	}
	return func() { unlock(); local() }, nil
}

// lockEndPG takes the cluster-wide claim of claimEnd on PostgreSQL.
func (o *Ops) lockEndPG(ctx context.Context, id int64) (unlock func(), err error) {
	conn, err := o.d.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin: end cohort: %w", err)
	}
	key := strconv.FormatInt(id, 10)
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+cohortEndKey+`)`, key).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("admin: end cohort: %w", err)
	}
	if !got {
		conn.Close()
		return nil, fmt.Errorf("%w (another node is ending it)", ErrCohortEnded)
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+cohortEndKey+`)`, key); err != nil {
			// Never give the pool a connection that holds the lock.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			o.d.Log.Error("end cohort: giving the claim back", "cohort", id, "err", err)
		}
		conn.Close()
	}, nil
}
