package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotPostgres is returned by [DB.Notify] and [DB.Listen] on an engine
// other than PostgreSQL: one SQLite file is one node, and its buses stay
// in the process.
var ErrNotPostgres = errors.New("db: only PostgreSQL carries notifications between nodes")

// MaxNotifyPayload is the longest payload [DB.Notify] sends: PostgreSQL
// refuses 8000 bytes or more.
const MaxNotifyPayload = 7900

// Notify sends payload on channel to every node listening
// (PostgreSQL's NOTIFY: delivered once the sending statement commits, to
// each listening session in the order the notifications committed). It
// runs in a statement of its own, after the change it announces committed.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if db.engine != Postgres {
		return ErrNotPostgres
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("db: notify %s: payload of %d bytes, the most is %d", channel, len(payload), MaxNotifyPayload)
	}
	if _, err := db.ExecContext(ctx, `SELECT pg_notify(?, ?)`, channel, payload); err != nil {
		return fmt.Errorf("db: notify %s: %w", channel, err)
	}
	return nil
}

// notifyAll is Notify of each payload, in order, in one statement. The
// payloads must differ (PostgreSQL delivers identical notifications of
// one transaction once).
func (db *DB) notifyAll(ctx context.Context, channel string, payloads []string) error {
	if len(payloads) == 1 {
		return db.Notify(ctx, channel, payloads[0])
	}
	if db.engine != Postgres {
		return ErrNotPostgres
	}
	for _, p := range payloads {
		if len(p) > MaxNotifyPayload {
			return fmt.Errorf("db: notify %s: payload of %d bytes, the most is %d", channel, len(p), MaxNotifyPayload)
		}
	}
	// pg_notify is volatile: evaluated after the sort, in its order.
	_, err := db.ExecContext(ctx, `SELECT pg_notify(?, p) FROM unnest(?::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i`, channel, payloads)
	if err != nil {
		return fmt.Errorf("db: notify %s: %w", channel, err)
	}
	return nil
}

// Listen receives the notifications of channels on a connection of its
// own and calls fn with each, one at a time, in the order they arrive,
// until ctx is done (then it returns ctx's error). fn must not block long.
//
// A lost connection is made again (after a pause growing to 5 s); what was
// sent while none was listening is lost, so resync is called once the
// listener is back (and once at the first start, before any notification:
// the caller may have missed some between its start and the LISTEN), for
// the caller to recover as if it had missed everything. ready, if not nil,
// is closed once the first LISTEN is in place.
func (db *DB) Listen(ctx context.Context, channels []string, fn func(channel, payload string), resync func(), ready chan<- struct{}) error {
	return db.Watch(ctx, channels, fn, resync, nil, ready)
}

// Watch is [DB.Listen] that also calls lost, when not nil, each time the
// listener's connection is lost or could not be made, before it tries
// again: a caller that keeps a cache true by the notifications stops
// trusting it then, until resync.
func (db *DB) Watch(ctx context.Context, channels []string, fn func(channel, payload string), resync, lost func(), ready chan<- struct{}) error {
	if db.engine != Postgres {
		return ErrNotPostgres
	}
	pause := 100 * time.Millisecond
	for {
		err := db.listenOnce(ctx, channels, fn, resync, ready)
		if lost != nil {
			lost()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ready = nil // closed already, if the first attempt got so far
		db.log.Warn("db: listener lost its connection; reconnecting", "err", err, "pause", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenOnce is one connection of [DB.Listen].
func (db *DB) listenOnce(ctx context.Context, channels []string, fn func(channel, payload string), resync func(), ready chan<- struct{}) error {
	cfg := db.pgcfg.Copy()
	// The listener only reads: TCP keepalives are what notice that the
	// server went away (about 30 s), rather than waiting for ever.
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	if ready != nil {
		close(ready)
	}
	if resync != nil {
		resync()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Channel, n.Payload)
	}
}
