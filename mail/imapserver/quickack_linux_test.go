package imapserver

import (
	"bufio"
	"net"
	"syscall"
	"testing"

	"github.com/caucus-org/caucus/internal/metrics"
)

// TestQuickAck: after the exchange of an APPEND (the client sends a
// command line, the server answers "+"), a plain server socket is in
// delayed-ACK mode when it reads the literal, so a client that holds the
// CRLF back until the literal is acknowledged waits for the delayed-ACK
// timer; a socket from quickAckListener is not.
func TestQuickAck(t *testing.T) {
	t.Parallel()
	if got := quickAckAfterExchange(t, false); got != 0 {
		t.Skipf("the kernel does not delay acknowledgements after this exchange (TCP_QUICKACK %d): nothing to check", got)
	}
	if got := quickAckAfterExchange(t, true); got != 1 {
		t.Errorf("TCP_QUICKACK after reading the literal = %d, want 1", got)
	}
}

// TestQuickAckWrapped: caucus serve hands the server a listener of
// internal/metrics, whose connections wrap the TCP ones; the option must
// reach the socket underneath all the same.
func TestQuickAckWrapped(t *testing.T) {
	t.Parallel()
	if got := quickAckAfterExchange(t, false); got != 0 {
		t.Skipf("the kernel does not delay acknowledgements after this exchange (TCP_QUICKACK %d): nothing to check", got)
	}
	wrap := func(ln net.Listener) net.Listener { return metrics.NewSet(metrics.NewRegistry()).Listener(ln, "imaps") }
	if got := quickAckAfterExchangeOn(t, wrap); got != 1 {
		t.Errorf("TCP_QUICKACK after reading the literal through a metrics listener = %d, want 1", got)
	}
}

// quickAckAfterExchange runs the exchange of a few APPENDs over loopback
// and returns the server socket's TCP_QUICKACK (1: acknowledging at once)
// right after it read the last literal.
func quickAckAfterExchange(t *testing.T, quick bool) int {
	if !quick {
		return quickAckAfterExchangeOn(t, nil)
	}
	return quickAckAfterExchangeOn(t, func(ln net.Listener) net.Listener { return ln })
}

// quickAckAfterExchangeOn is quickAckAfterExchange with the server's
// listener wrap(ln) inside a quickAckListener, or the bare one if wrap is
// nil.
func quickAckAfterExchangeOn(t *testing.T, wrap func(net.Listener) net.Listener) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var l net.Listener = ln
	if wrap != nil {
		l = quickAckListener{wrap(ln)}
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.(*net.TCPConn).SetNoDelay(false) // as imaplib
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	sr, cr := bufio.NewReader(server), bufio.NewReader(client)
	for range 5 {
		if _, err := client.Write([]byte("a APPEND INBOX {5}\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := sr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write([]byte("+ go\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := sr.Read(make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
	}
	raw, ok := socketOf(server)
	if !ok {
		t.Fatalf("server connection %T has no socket underneath", server)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}
