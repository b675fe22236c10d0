// Package connlimit bounds how many connections one client address may have
// open at once on caucus's protocol listeners (IMAP, SMTP), so that one
// address cannot exhaust the server's sockets, memory or goroutines.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Limiter counts open connections per address, across listeners.
type Limiter struct {
	max int
	mu  sync.Mutex
	per map[netip.Addr]int
}

// New returns a limiter allowing max connections per address.
func New(max int) *Limiter {
	return &Limiter{max: max, per: map[netip.Addr]int{}}
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

// Listener wraps ln. A connection over the limit is handed to refuse (which
// should write the protocol's "too many connections" reply, with a write
// deadline) and then closed; Accept goes on to the next one.
func (l *Limiter) Listener(ln net.Listener, refuse func(net.Conn)) net.Listener {
	return &listener{Listener: ln, l: l, refuse: refuse}
}

type listener struct {
	net.Listener
	l      *Limiter
	refuse func(net.Conn)
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := RemoteAddr(c)
		ln.l.mu.Lock()
		over := ln.l.per[addr] >= ln.l.max
		if !over {
			ln.l.per[addr]++
		}
		ln.l.mu.Unlock()
		if over {
			if ln.refuse != nil {
				ln.refuse(c)
			}
			c.Close()
			continue
		}
		return &conn{Conn: c, l: ln.l, addr: addr}, nil
	}
}

// conn gives its address's slot back when closed.
type conn struct {
	net.Conn
	l    *Limiter
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.per[c.addr]--; c.l.per[c.addr] <= 0 {
			delete(c.l.per, c.addr)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// RemoteAddr is the client's IP address, IPv4-mapped addresses unmapped.
func RemoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(ta.IP)
		return a.Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
