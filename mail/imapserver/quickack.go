package imapserver

import (
	"net"
	"syscall"
)

// quickAckListener hands out TCP connections whose every read asks the
// kernel to acknowledge what it read at once (TCP_QUICKACK on Linux,
// nothing elsewhere).
//
// Why: a client that sends a literal and the CRLF after it in two writes
// without TCP_NODELAY (Python's imaplib for every APPEND) holds the CRLF
// back until the literal is acknowledged (Nagle, RFC 896). The server has
// just answered the command line with "+", so the kernel takes the
// exchange for an interactive one and delays its acknowledgement, hoping
// to send it with an answer (RFC 1122 4.2.3.2), but there is no answer
// before the CRLF: every such APPEND waited for the 40 ms delayed-ACK
// timer (imaplib APPEND p50 46 ms on caucus against 8 ms for the same
// command from a client that writes it at once). Acknowledging at once
// costs one small segment per read that would otherwise have ridden on an
// answer.
type quickAckListener struct{ net.Listener }

func (l quickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	raw, ok := socketOf(c)
	if !ok {
		return c, nil
	}
	return &quickAckConn{Conn: c, raw: raw}, nil
}

// socketOf returns the socket of c, or of the connection c wraps (found by
// the NetConn method of *tls.Conn's kind), at any depth.
func socketOf(c net.Conn) (syscall.RawConn, bool) {
	for {
		if sc, ok := c.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			return raw, err == nil
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		c = w.NetConn()
	}
}

// quickAckConn is a TCP connection, maybe wrapped, that leaves
// delayed-ACK mode after each read.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

// Read reads, then sends at once the acknowledgement the kernel would
// have delayed for what it read.
func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		setQuickAck(c.raw)
	}
	return n, err
}

// NetConn returns the connection c wraps.
func (c *quickAckConn) NetConn() net.Conn { return c.Conn }
