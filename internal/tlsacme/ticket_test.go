package tlsacme_test

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/tlsacme"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestSessionTicketRotation checks that a session ticket resumes a
// session for one rotation period after the key that sealed it was
// replaced, and not after two (issue 21: crypto/tls alone accepts tickets
// for 7 days, which TLS scanners report), with TLS 1.2 (TLS 1.3 gets no
// tickets, so never resumes), and on a
// clone of the configuration (each listener has one).
func TestSessionTicketRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := devcert.Ensure(dir+"/c.pem", dir+"/k.pem", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := tlsacme.Fixed("localhost", cert)
	clock := &fakeClock{now: time.Now()}
	cfg := m.TLSConfig()
	cfg.Time = clock.Now
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg.Clone())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				// One byte after the handshake, so that the client
				// reads the TLS 1.3 tickets sent after it.
				c.Write([]byte{'.'}) // the client sees an error

			}()
		}
	}()
	roots := devcert.Pool(cert)
	client13 := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for step := range 2 {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), client13)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Read(make([]byte, 1)) // after the tickets, if any
		if conn.ConnectionState().DidResume {
			t.Errorf("TLS 1.3 connection %d resumed: TLS 1.3 gets no tickets (see TestTicketLifetimeAtMostADay)", step)
		}
		conn.Close()
	}
	for _, version := range []uint16{tls.VersionTLS12} {
		client := func() *tls.Config {
			return &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: version, MaxVersion: version,
				ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		}
		resumed := func(c *tls.Config, step string) bool {
			t.Helper()
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), c)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			// The byte may come with the end of the stream (n 1, io.EOF).
			if n, err := conn.Read(make([]byte, 1)); n != 1 {
				t.Fatalf("version %x, %s: %v", version, step, err)
			}
			return conn.ConnectionState().DidResume
		}
		a, b := client(), client()
		if resumed(a, "a first") || resumed(b, "b first") {
			t.Fatalf("version %x: a first connection resumed", version)
		}
		clock.advance(tlsacme.TicketKeyRotation)
		if !resumed(a, "a after one period") {
			t.Errorf("version %x: a ticket one rotation period old was refused", version)
		}
		clock.advance(tlsacme.TicketKeyRotation)
		if resumed(b, "b after two periods") {
			t.Errorf("version %x: a ticket two rotation periods old resumed the session", version)
		}
		if !resumed(b, "b again") {
			t.Errorf("version %x: a new ticket under the new key was refused", version)
		}
		// A key counts from when it was made, not from when the next
		// one replaced it: b's key is replaced after 1.5 periods, and
		// b's ticket refused 2.1 periods after it was made.
		clock.advance(tlsacme.TicketKeyRotation * 3 / 2)
		resumed(client(), "another client")
		clock.advance(tlsacme.TicketKeyRotation * 6 / 10)
		if resumed(b, "b after 2.1 periods") {
			t.Errorf("version %x: a ticket sealed 2.1 rotation periods ago resumed the session", version)
		}
	}
}
