package admin

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"

	"github.com/caucus-org/caucus/internal/db"
)

// claimKey is the key of the PostgreSQL advisory lock of a claim: a
// hash of the schema (advisory locks are the whole database's, and two
// parties, or two tests, may each have a schema of their own in one) and
// of its one parameter, what is claimed ("cohort.end/3"). A collision
// only refuses one claim until the other is given back.
const claimKey = `hashtextextended(current_schema() || '/' || ?, 0)`

// claimed is one thing this process has claimed.
type claimed struct {
	what string
	id   int64
}

// claimEnd makes the caller the only one ending cohort id, and returns
// the function that gives the claim back; [ErrCohortEnded] if another
// call is ending it. An end runs many transactions and mails, so no one
// transaction can hold it (see claim).
func (o *Ops) claimEnd(ctx context.Context, id int64) (release func(), err error) {
	release, ok, err := o.claim(ctx, "cohort.end", id)
	if err == nil && !ok {
		err = fmt.Errorf("%w (it is being ended)", ErrCohortEnded)
	}
	return release, err
}

// claim makes the caller the only one doing what to id (ending a cohort,
// suspending an expired account), and returns the function that gives
// the claim back; ok false if another call holds it. In this process a
// set of the claims held keeps a second call out (an admin's click while
// RunExpiry does the same); on PostgreSQL, where several nodes run
// RunExpiry, a session advisory lock on a connection kept until release
// keeps the other nodes out too, and is given back with the connection
// if the node dies mid-way (the next RunExpiry then does the rest).
// SQLite has one server process.
func (o *Ops) claim(ctx context.Context, what string, id int64) (release func(), ok bool, err error) {
	if o.d.DB == nil {
		return nil, false, ErrNotAvailable
	}
	c := claimed{what, id}
	o.claimMu.Lock()
	if o.claims[c] {
		o.claimMu.Unlock()
		return nil, false, nil
	}
	o.claims[c] = true
	o.claimMu.Unlock()
	local := func() {
		o.claimMu.Lock()
		delete(o.claims, c)
		o.claimMu.Unlock()
	}
	if o.d.DB.Engine() != db.Postgres {
		return local, true, nil
	}
	unlock, ok, err := o.lockPG(ctx, what+"/"+strconv.FormatInt(id, 10))
	if err != nil || !ok {
		local()
		return nil, false, err
	}
	return func() { unlock(); local() }, true, nil
}

// lockPG takes the cluster-wide part of a claim on PostgreSQL: a session
// advisory lock on key (see claimKey), on a connection of its own.
func (o *Ops) lockPG(ctx context.Context, key string) (unlock func(), ok bool, err error) {
	conn, err := o.d.DB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("admin: claim %s: %w", key, err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+claimKey+`)`, key).Scan(&got); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("admin: claim %s: %w", key, err)
	}
	if !got {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+claimKey+`)`, key); err != nil {
			// Never give the pool a connection that holds the lock.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			o.d.Log.Error("giving a claim back", "claim", key, "err", err)
		}
		conn.Close()
	}, true, nil
}
