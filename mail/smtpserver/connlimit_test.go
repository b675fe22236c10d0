package smtpserver

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// otherAddr dials from another loopback address than the silent clients
// (127.0.0.2: still loopback, a different client as far as the per-address
// limit is concerned).
var otherAddr = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Minute}

// stillOpen reports whether the server has neither answered nor closed c.
// A short poll, not a timing assertion: a closed socket answers at once.
func stillOpen(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestRefusalDoesNotStallAccept reproduces issue 12 item 3: connections over
// the per-address limit that never start their TLS handshake held up the
// accept loop of the implicit-TLS port for 5 s each (the refusal was said
// over TLS, in the loop), so everyone else waited. Another client's
// greeting must arrive while the silent connections are still held open.
func TestRefusalDoesNotStallAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxConnsPerAddr: 1})
	first, err := tls.Dial("tcp", e.subs, e.tls())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if l, _ := bufio.NewReader(first).ReadString('\n'); !strings.HasPrefix(l, "220") {
		t.Fatalf("first connection: %q", l)
	}
	var silent []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", e.subs)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	other, err := tls.DialWithDialer(otherAddr, "tcp", e.subs, e.tls())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetReadDeadline(time.Now().Add(time.Minute))
	if l, _ := bufio.NewReader(other).ReadString('\n'); !strings.HasPrefix(l, "220") {
		t.Fatalf("other client: %q, want a 220 greeting", l)
	}
	for i, c := range silent {
		if !stillOpen(c) {
			t.Errorf("silent connection %d was refused before the other client was greeted: the accept loop waited for it", i+1)
		}
	}
}

// TestMXReconnectAfterQuit reproduces the detail of issue 21: the per-address
// limit freed a slot only once the server had closed the socket, so a client
// that reconnects as soon as it has read 221 was refused (with a limit of
// 20, 20 sessions in parallel from one address got 421: the effective limit
// was 19). Here 20 clients each QUIT and reconnect at once, 10 times.
func TestMXReconnectAfterQuit(t *testing.T) {
	t.Parallel()
	const n = 20
	e := newEnv(t, Config{MaxConnsPerAddr: n})
	errs := make(chan error, n)
	for range n {
		go func() {
			for i := range 10 {
				c, err := gosmtp.Dial(e.mx)
				if err != nil {
					errs <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				if err := c.Hello("client.example"); err != nil {
					c.Close()
					errs <- err
					return
				}
				if err := c.Quit(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("a client within the limit was refused: %v", err)
		}
	}
}
