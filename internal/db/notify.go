package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
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

// Listen receives the notifications of channels and calls fn with each,
// one at a time, in the order they arrive, until ctx is done (then it
// returns ctx's error). fn must not block long: the listeners of one [DB]
// share a connection (see [DB.Watch]), and fn holds back the others'.
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
//
// The watchers of one DB share one connection, which listens on the
// channels of all: PostgreSQL wakes every session that listens in a
// database at each commit that notifies in it, whatever the channel
// (SignalBackends in its async.c, up to version 16 at least), and each
// session woken reads the notification queue to find what is its own.
// One session per channel (a node had eight) was eight wake-ups per
// upload's commit, seven of them for nothing: 18 µs of PostgreSQL's CPU
// per upload for each session listening elsewhere (six such sessions, 10
// KiB uploads in groups of four), about a tenth of PostgreSQL's CPU per
// upload.
func (db *DB) Watch(ctx context.Context, channels []string, fn func(channel, payload string), resync, lost func(), ready chan<- struct{}) error {
	if db.engine != Postgres {
		return ErrNotPostgres
	}
	w := &watcher{channels: channels, fn: fn, resync: resync, lost: lost, ready: ready}
	db.listener.add(w)
	<-ctx.Done()
	db.listener.remove(w)
	if lost != nil {
		lost() // no longer hearing: as when the connection is lost
	}
	return ctx.Err()
}

// listener is the one connection on which a [DB]'s watchers listen (see
// [DB.Watch]). It runs while there are watchers.
type listener struct {
	db *DB

	mu       sync.Mutex
	watchers map[*watcher]bool // true: its channels are listened on the current connection
	// joined is signalled when a watcher is added, for the connection
	// to listen on its channels.
	joined chan struct{}
	// stop ends the running connection's loop; nil when none runs.
	stop context.CancelFunc
	done chan struct{} // closed when the running loop has returned

	// calling is held by the loop while it calls watchers back, and
	// taken by remove, so that no callback of a watcher runs after its
	// Watch returned.
	calling sync.Mutex
}

// watcher is one [DB.Watch].
type watcher struct {
	channels     []string
	fn           func(channel, payload string)
	resync, lost func()
	ready        chan<- struct{}
}

func newListener(db *DB) *listener {
	return &listener{db: db, watchers: map[*watcher]bool{}, joined: make(chan struct{}, 1)}
}

// add registers w and starts the loop if none runs; a loop still
// stopping (the last watcher left) ends before the new one begins.
func (l *listener) add(w *watcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.watchers[w] = false
	select {
	case l.joined <- struct{}{}:
	default:
	}
	if l.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev, done := l.done, make(chan struct{})
	l.stop, l.done = cancel, done
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		l.run(ctx)
	}()
}

// remove unregisters w; the last one out stops the loop and waits for
// it, so that no callback of w's runs after its Watch returned.
func (l *listener) remove(w *watcher) {
	l.mu.Lock()
	delete(l.watchers, w)
	var done chan struct{}
	if len(l.watchers) == 0 && l.stop != nil {
		l.stop()
		l.stop, done = nil, l.done
	}
	l.mu.Unlock()
	if done != nil {
		<-done
	}
	// Wait for a callback in progress, which may be w's.
	l.calling.Lock()
	l.calling.Unlock()
}

// run keeps a connection listening for the watchers until ctx is done,
// making it again after a loss as Watch describes.
func (l *listener) run(ctx context.Context) {
	pause := 100 * time.Millisecond
	for {
		err := l.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		l.calling.Lock()
		for _, w := range l.snapshot() {
			if w.lost != nil {
				w.lost()
			}
		}
		l.calling.Unlock()
		l.db.log.Warn("db: listener lost its connection; reconnecting", "err", err, "pause", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// snapshot returns the watchers.
func (l *listener) snapshot() []*watcher {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := make([]*watcher, 0, len(l.watchers))
	for w := range l.watchers {
		ws = append(ws, w)
	}
	return ws
}

// listenOnce is one connection of the loop.
func (l *listener) listenOnce(ctx context.Context) error {
	l.mu.Lock()
	for w := range l.watchers { // a new connection listens on nothing yet
		l.watchers[w] = false
	}
	l.mu.Unlock()
	cfg := l.db.pgcfg.Copy()
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
	listened := map[string]bool{}
	for {
		if err := l.listenNew(ctx, conn, listened); err != nil {
			return err
		}
		// Wait for a notification, or for a watcher to join: its wait
		// is cut by a deadline on the connection (pgx's default), which
		// leaves the connection usable.
		wctx, stop := context.WithCancel(ctx)
		go func() {
			select {
			case <-l.joined:
				stop()
			case <-wctx.Done():
			}
		}()
		n, err := conn.WaitForNotification(wctx)
		joined := wctx.Err() != nil && ctx.Err() == nil
		stop()
		if err != nil && !joined {
			return err
		}
		if err == nil { // a joiner, if any, is listened for next
			l.calling.Lock()
			for _, w := range l.listeningOn(n.Channel) {
				w.fn(n.Channel, n.Payload)
			}
			l.calling.Unlock()
		}
	}
}

// listenNew listens on the channels of the watchers not listening yet
// (all of them, on a new connection), in one statement naming every
// channel the connection listens on, and then closes their ready and
// calls their resync, before any notification reaches them.
func (l *listener) listenNew(ctx context.Context, conn *pgx.Conn, listened map[string]bool) error {
	var fresh []*watcher
	l.mu.Lock()
	for w, on := range l.watchers {
		if !on {
			fresh = append(fresh, w)
			for _, ch := range w.channels {
				listened[ch] = true
			}
		}
	}
	l.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	names := make([]string, 0, len(listened))
	for ch := range listened {
		names = append(names, ch)
	}
	slices.Sort(names)
	var q strings.Builder
	for _, ch := range names {
		fmt.Fprintf(&q, "LISTEN %s; ", pgx.Identifier{ch}.Sanitize())
	}
	if _, err := conn.Exec(ctx, q.String()); err != nil {
		return fmt.Errorf("listen %s: %w", strings.Join(names, ", "), err)
	}
	l.calling.Lock()
	defer l.calling.Unlock()
	l.mu.Lock()
	for i, w := range fresh {
		if _, ok := l.watchers[w]; ok {
			l.watchers[w] = true
		} else {
			fresh[i] = nil // gone meanwhile
		}
	}
	l.mu.Unlock()
	for _, w := range fresh {
		if w == nil {
			continue
		}
		if w.ready != nil {
			close(w.ready)
			w.ready = nil
		}
		if w.resync != nil {
			w.resync()
		}
	}
	return nil
}

// listeningOn returns the watchers listening on channel.
func (l *listener) listeningOn(channel string) []*watcher {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ws []*watcher
	for w, on := range l.watchers {
		if on && slices.Contains(w.channels, channel) {
			ws = append(ws, w)
		}
	}
	return ws
}
