package connlimit

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serve wraps a loopback listener with l and accepts into a channel.
func serve(t *testing.T, l *Limiter, refuse func(net.Conn)) (addr string, accepted chan net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Listener(raw, refuse)
	t.Cleanup(func() { ln.Close() })
	accepted = make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return raw.Addr().String(), accepted
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond (no timing assertion: it fails only after 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	l := New(Config{Max: 2, Grace: time.Millisecond})
	refused := make(chan struct{}, 10)
	addr, accepted := serve(t, l, func(c net.Conn) {
		c.Write([]byte("busy\r\n"))
		refused <- struct{}{}
	})
	var clients []net.Conn
	for range 3 {
		clients = append(clients, dial(t, addr))
	}
	a1, a2 := <-accepted, <-accepted
	select {
	case <-refused:
	case <-time.After(10 * time.Second):
		t.Fatal("third connection from one address was not refused")
	}
	if l.Open() != 2 {
		t.Errorf("open = %d, want 2", l.Open())
	}
	buf := make([]byte, 16)
	clients[2].SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := clients[2].Read(buf); string(buf[:n]) != "busy\r\n" {
		t.Errorf("refused client read %q", buf[:n])
	}
	a1.Close()
	a1.Close() // twice: counted once
	if l.Open() != 1 {
		t.Errorf("open after close = %d, want 1", l.Open())
	}
	dial(t, addr)
	select {
	case a3 := <-accepted:
		a3.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	a2.Close()
}

// TestSlotFreedDuringGrace is the detail of issue 21: a client that
// reconnects the moment it has read the server's goodbye raced the server's
// close of its old socket and was refused. A connection that arrives while
// its address is at the limit now waits for a slot that is given back
// within the grace period.
func TestSlotFreedDuringGrace(t *testing.T) {
	t.Parallel()
	l := New(Config{Max: 1, Grace: time.Minute})
	refused := make(chan struct{}, 10)
	addr, accepted := serve(t, l, func(net.Conn) { refused <- struct{}{} })
	dial(t, addr)
	a1 := <-accepted
	dial(t, addr)
	waitFor(t, "the second connection is held or refused", func() bool { return len(refused) > 0 || l.Pending() == 1 })
	if len(refused) > 0 {
		t.Fatal("refused while a connection of its address was being closed")
	}
	a1.Close()
	select {
	case a2 := <-accepted:
		a2.Close()
	case <-refused:
		t.Fatal("refused although a slot was given back")
	}
	if l.Pending() != 0 {
		t.Errorf("pending = %d after admission, want 0", l.Pending())
	}
}

// TestRefusalsBounded: over-limit connections are held by goroutines, at
// most MaxPending of them; beyond, a connection is closed unanswered, and
// connections within the limit are still accepted while they are held.
func TestRefusalsBounded(t *testing.T) {
	t.Parallel()
	var count atomic.Int64
	var logBuf syncWriter
	l := New(Config{Max: 1, Grace: time.Minute, MaxPending: 3, OnRefuse: func() { count.Add(1) },
		Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	addr, accepted := serve(t, l, func(net.Conn) {})
	dial(t, addr)
	a1 := <-accepted
	defer a1.Close()
	var over []net.Conn
	for range 5 {
		over = append(over, dial(t, addr))
	}
	waitFor(t, "3 held and 2 dropped", func() bool { return l.Pending() == 3 && count.Load() == 2 })
	// The two beyond the bound were closed at once, unanswered.
	dropped := 0
	for _, c := range over {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			dropped++
		}
	}
	if dropped != 2 {
		t.Errorf("%d connections closed at once, want 2", dropped)
	}
	// The accept loop is not held up by the held ones: another address
	// would be served; here a freed slot admits a held one.
	a1.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a held connection was not admitted when a slot was freed")
	}
	if got := strings.Count(logBuf.String(), "over the per-address limit"); got != 1 {
		t.Errorf("%d log lines for 2 dropped connections, want 1 (one per interval):\n%s", got, logBuf.String())
	}
}

// TestCloseListener: closing the listener ends Accept and closes held
// connections.
func TestCloseListener(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(Config{Max: 1, Grace: time.Hour})
	ln := l.Listener(raw, nil)
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = ln.Accept()
		done <- err
	}()
	dial(t, raw.Addr().String())
	held := dial(t, raw.Addr().String())
	waitFor(t, "a connection is held", func() bool { return l.Pending() == 1 })
	ln.Close()
	if err := <-done; err == nil {
		t.Fatal("Accept returned no error after Close")
	}
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("held connection after Close: %v, want it closed", err)
	}
	waitFor(t, "nothing pending", func() bool { return l.Pending() == 0 })
}

// syncWriter is a buffer safe for concurrent use.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// zoned is a connection whose remote address is not a *net.TCPAddr.
type zoned struct {
	net.Conn
	remote net.Addr
}

func (z zoned) RemoteAddr() net.Addr { return z.remote }

// TestRemoteAddrZone: the client's address of an SMTP or IMAP session
// has no IPv6 zone, however the connection gives it, so one client has
// one address for the limits, the throttles and the audit log.
func TestRemoteAddrZone(t *testing.T) {
	t.Parallel()
	for _, ra := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 25, Zone: "eth0"},
		&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 25, Zone: "eth0"},
		&net.IPAddr{IP: net.ParseIP("fe80::1"), Zone: "2"},
	} {
		if got := RemoteAddr(zoned{remote: ra}); got != netip.MustParseAddr("fe80::1") {
			t.Errorf("RemoteAddr of %v = %v, want fe80::1", ra, got)
		}
	}
}
