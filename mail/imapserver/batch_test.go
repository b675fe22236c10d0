package imapserver

import (
	"net"
	"sync/atomic"
	"testing"
)

// TestResponsesBatched: a command's untagged responses and its tagged
// one leave in one write to the socket (one TLS record), not one each:
// go-imap flushed at every line end (patch 16).
func TestResponsesBatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	go e.srv.ServeTLS(countingListener{ln, &writes})
	counted := *e
	counted.imaps = ln.Addr().String()
	rc := counted.raw(t, m)
	for range 3 {
		rc.ok(`APPEND INBOX {` + "21" + "+}\r\nSubject: x\r\n\r\nhello.")
	}
	rc.ok("SELECT INBOX")
	for _, cmd := range []string{"FETCH 1:3 (UID FLAGS)", "STORE 1:3 +FLAGS (\\Seen)", "UID SEARCH ALL", "STATUS Drafts (MESSAGES UIDNEXT)", "NOOP"} {
		before := writes.Load()
		untagged := rc.ok(cmd)
		if n := writes.Load() - before; n != 1 {
			t.Errorf("%s: %d untagged responses and the tagged one in %d writes, want 1", cmd, len(untagged), n)
		}
	}
}

// countingListener counts the writes to its connections.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
