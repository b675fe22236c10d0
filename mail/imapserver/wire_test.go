package imapserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// wireConn speaks IMAP as raw lines, for exchanges the go-imap client
// cannot produce (malformed input, extensions it does not send).
type wireConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// wire dials the implicit-TLS port and reads the greeting.
func (e *testEnv) wire(t testing.TB) *wireConn {
	t.Helper()
	c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wireConn{t: t, conn: c, r: bufio.NewReader(c)}
	if g := w.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return w
}

// wireLogin is wire followed by LOGIN as m.
func (e *testEnv) wireLogin(t testing.TB, m *member) *wireConn {
	t.Helper()
	w := e.wire(t)
	w.ok("L0 LOGIN " + m.Account.Login + " " + m.secret)
	return w
}

// send writes raw bytes.
func (w *wireConn) send(s string) {
	w.t.Helper()
	w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(w.conn, s); err != nil {
		w.t.Fatalf("send %q: %v", s, err)
	}
}

// line reads one line ("" at the end of the connection).
func (w *wireConn) line() string {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, _ := w.r.ReadString('\n')
	return l
}

// until reads lines up to and including the tagged response of tag; it
// returns them all and the tagged line.
func (w *wireConn) until(tag string) (all, tagged string) {
	w.t.Helper()
	var b strings.Builder
	for {
		l := w.line()
		if l == "" {
			w.t.Fatalf("connection ended waiting for %s; got %q", tag, b.String())
		}
		b.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			return b.String(), l
		}
	}
}

// cmd sends "line\r\n" (whose first word is the tag) and returns every
// line of the answer.
func (w *wireConn) cmd(line string) (all, tagged string) {
	w.t.Helper()
	w.send(line + "\r\n")
	tag, _, _ := strings.Cut(line, " ")
	return w.until(tag)
}

// ok is cmd that fails the test unless the answer is OK.
func (w *wireConn) ok(line string) string {
	w.t.Helper()
	all, tagged := w.cmd(line)
	tag, _, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(tagged, tag+" OK") {
		w.t.Fatalf("%s: %q", line, all)
	}
	return all
}
