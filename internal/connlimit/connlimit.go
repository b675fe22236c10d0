// Package connlimit bounds how many connections one client address may have
// open at once on caucus's protocol listeners (IMAP, SMTP), so that one
// address cannot exhaust the server's sockets, memory or goroutines.
//
// Nothing that can block runs in the accept loop: a connection over the
// limit is handed to a goroutine of its own, which waits a short grace
// period for a slot of its address to be given back (a client that
// reconnects the moment it has read the server's goodbye races the server's
// close of the old socket) and otherwise says the protocol's refusal, under
// a deadline, and closes. Those goroutines are bounded too: beyond
// [Config.MaxPending] of them, an over-limit connection is closed at once.
package connlimit

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Config sets a Limiter's bounds. Zero fields take the defaults given.
type Config struct {
	// Max is the number of connections one address may have open (default 20).
	Max int
	// Grace is how long a connection over the limit waits for a slot of its
	// address to be freed before it is refused (default 2s).
	Grace time.Duration
	// MaxPending bounds the over-limit connections waiting or being refused
	// at once, across listeners (default 64); more are closed unanswered.
	MaxPending int
	// RefuseTimeout is the deadline set on a connection before it is
	// handed to the refusal function (default 5s): a TLS handshake and one
	// line must fit in it.
	RefuseTimeout time.Duration
	// Log gets one line per LogEvery that counts the connections refused
	// and dropped, rather than one line per connection, which a client
	// could make as many of as it likes. Nil: nothing is logged.
	Log *slog.Logger
	// LogEvery is the interval of those lines (default 1m).
	LogEvery time.Duration
	// OnRefuse, if set, is called once per connection refused or dropped
	// (a metric counter).
	OnRefuse func()
}

// Defaults of [Config].
const (
	DefaultMax           = 20
	DefaultGrace         = 2 * time.Second
	DefaultMaxPending    = 64
	DefaultRefuseTimeout = 5 * time.Second
	DefaultLogEvery      = time.Minute
)

func (c *Config) defaults() {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.RefuseTimeout <= 0 {
		c.RefuseTimeout = DefaultRefuseTimeout
	}
	if c.LogEvery <= 0 {
		c.LogEvery = DefaultLogEvery
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Limiter counts open connections per address, across listeners.
type Limiter struct {
	cfg Config

	mu      sync.Mutex
	per     map[netip.Addr]int
	freed   map[netip.Addr]chan struct{} // closed when a slot of the address is given back
	pending int                          // over-limit connections waiting or being refused

	// Refusals since the last log line.
	logMu   sync.Mutex
	logged  time.Time
	refused int
	dropped int
}

// New returns a limiter with cfg, whose zero fields take the defaults.
func New(cfg Config) *Limiter {
	cfg.defaults()
	return &Limiter{cfg: cfg, per: map[netip.Addr]int{}, freed: map[netip.Addr]chan struct{}{}}
}

// Open returns how many connections are open in all.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.per {
		n += c
	}
	return n
}

// Pending returns how many over-limit connections are waiting for a slot
// or being refused now.
func (l *Limiter) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// take claims a slot of addr if one is free.
func (l *Limiter) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per[addr] >= l.cfg.Max {
		return false
	}
	l.per[addr]++
	return true
}

// give returns a slot of addr and wakes the connections waiting for one.
func (l *Limiter) give(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per[addr]--; l.per[addr] <= 0 {
		delete(l.per, addr)
	}
	if ch, ok := l.freed[addr]; ok {
		close(ch)
		delete(l.freed, addr)
	}
}

// takeOrWatch claims a slot of addr, or returns a channel that is closed
// when one is given back.
func (l *Limiter) takeOrWatch(addr netip.Addr) (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per[addr] < l.cfg.Max {
		l.per[addr]++
		return true, nil
	}
	ch, ok := l.freed[addr]
	if !ok {
		ch = make(chan struct{})
		l.freed[addr] = ch
	}
	return false, ch
}

// startPending counts one more over-limit connection in hand, unless
// MaxPending are already.
func (l *Limiter) startPending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending >= l.cfg.MaxPending {
		return false
	}
	l.pending++
	return true
}

func (l *Limiter) endPending() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending--
}

// note counts a refused (answered) or dropped (closed unanswered)
// connection and logs the counts at most once per LogEvery.
func (l *Limiter) note(addr netip.Addr, dropped bool) {
	if l.cfg.OnRefuse != nil {
		l.cfg.OnRefuse()
	}
	l.logMu.Lock()
	defer l.logMu.Unlock()
	if dropped {
		l.dropped++
	} else {
		l.refused++
	}
	now := time.Now()
	if now.Sub(l.logged) < l.cfg.LogEvery {
		return
	}
	l.cfg.Log.Info("connections over the per-address limit refused",
		"refused", l.refused, "dropped", l.dropped, "limit", l.cfg.Max, "last_addr", addr, "since", l.cfg.LogEvery)
	l.logged, l.refused, l.dropped = now, 0, 0
}

// Listener wraps ln. A connection over the limit waits up to Grace for a
// slot; if none is freed it is given to refuse (which should write the
// protocol's "too many connections" reply; a deadline is already set) and
// then closed. Neither happens in Accept.
func (l *Limiter) Listener(ln net.Listener, refuse func(net.Conn)) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		Listener: ln, l: l, refuse: refuse, ctx: ctx, cancel: cancel,
		incoming: make(chan accepted), admitted: make(chan net.Conn), failed: make(chan struct{}),
	}
}

type accepted struct {
	c   net.Conn
	err error
}

type listener struct {
	net.Listener
	l      *Limiter
	refuse func(net.Conn)

	ctx      context.Context // done when the listener is closed
	cancel   context.CancelFunc
	start    sync.Once
	incoming chan accepted // from the accept loop: admitted at once, or an error
	admitted chan net.Conn // admitted after a wait for a slot
	failed   chan struct{} // closed when the accept loop stopped on err
	err      error
}

// Accept returns the next connection within the limit.
func (ln *listener) Accept() (net.Conn, error) {
	ln.start.Do(func() { go ln.acceptLoop() })
	select {
	case a := <-ln.incoming:
		return a.c, a.err
	case c := <-ln.admitted:
		return c, nil
	case <-ln.failed:
		return nil, ln.err
	case <-ln.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close closes the listener; connections still waiting for a slot are closed.
func (ln *listener) Close() error {
	ln.cancel()
	return ln.Listener.Close()
}

// acceptLoop accepts connections and passes on those within the limit. It
// does nothing per connection that can block: over-limit ones go to hold.
func (ln *listener) acceptLoop() {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			if !isTemporary(err) {
				ln.err = err
				close(ln.failed)
				return
			}
			select {
			case ln.incoming <- accepted{err: err}:
			case <-ln.ctx.Done():
				return
			}
			continue
		}
		addr := RemoteAddr(c)
		if !ln.l.take(addr) {
			if !ln.l.startPending() {
				c.Close() // a flood: no answer, no goroutine
				ln.l.note(addr, true)
				continue
			}
			go ln.hold(c, addr)
			continue
		}
		select {
		case ln.incoming <- accepted{c: ln.wrap(c, addr)}:
		case <-ln.ctx.Done():
			c.Close()
			ln.l.give(addr)
			return
		}
	}
}

// isTemporary reports whether Accept may succeed again after err (as
// net/http's and go-smtp's accept loops retry on such errors).
func isTemporary(err error) bool {
	te, ok := err.(interface{ Temporary() bool })
	return ok && te.Temporary()
}

// hold waits up to Grace for a slot for c, then admits or refuses it.
func (ln *listener) hold(c net.Conn, addr netip.Addr) {
	defer ln.l.endPending()
	grace := time.NewTimer(ln.l.cfg.Grace)
	defer grace.Stop()
	for {
		ok, freed := ln.l.takeOrWatch(addr)
		if ok {
			select {
			case ln.admitted <- ln.wrap(c, addr):
			case <-ln.ctx.Done():
				c.Close()
				ln.l.give(addr)
			}
			return
		}
		select {
		case <-freed:
		case <-grace.C:
			c.SetDeadline(time.Now().Add(ln.l.cfg.RefuseTimeout))
			if ln.refuse != nil {
				ln.refuse(c)
			}
			c.Close()
			ln.l.note(addr, false)
			return
		case <-ln.ctx.Done():
			c.Close()
			return
		}
	}
}

func (ln *listener) wrap(c net.Conn, addr netip.Addr) net.Conn {
	return &conn{Conn: c, l: ln.l, addr: addr}
}

// conn gives its address's slot back when closed.
type conn struct {
	net.Conn
	l    *Limiter
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.give(c.addr) })
	return c.Conn.Close()
}

// RemoteAddr is the client's IP address as [ClientAddr] gives it.
func RemoteAddr(c net.Conn) netip.Addr {
	switch ra := c.RemoteAddr().(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		a, _ := netip.AddrFromSlice(ra.IP)
		return a.Unmap().WithZone("")
	default:
		return ClientAddr(ra.String())
	}
}

// ClientAddr returns the IP address in s, written "addr:port" or "addr",
// IPv4-mapped addresses unmapped and an IPv6 zone dropped (it names the
// server's interface, not the client): one client has one address for the
// limits, the throttles and the audit log, whether it came over SMTP,
// IMAP or the web (web.ClientAddr). The zero (invalid) [netip.Addr] when
// s holds no address, as for a Unix socket.
func ClientAddr(s string) netip.Addr {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
