package imapserver

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// pipeListener hands the server one end of in-memory connections.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 993} }

// pipeConn reports a TCP remote address, as the per-address limit expects.
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }

// FuzzCommands feeds arbitrary command lines to the server in each
// connection state (not signed in, signed in, mailbox selected). The server
// must never panic or hang, and must stay usable for the next connection.
func FuzzCommands(f *testing.F) {
	for _, seed := range []string{
		"a NOOP", "a CAPABILITY", "a LOGIN x y", "a AUTHENTICATE PLAIN AGFiYwBkZWY=", "a SELECT INBOX",
		"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE ENVELOPE)", "a UID FETCH 1:* BODY[1.2.MIME]<0.10>",
		"a SEARCH OR (FROM x) (BODY y) NOT SEEN 1:*", "a UID SEARCH RETURN (MIN MAX COUNT) TEXT \"z\"",
		"a STORE 1 +FLAGS.SILENT (\\Deleted kw)", "a UID EXPUNGE 1:*", "a EXPUNGE", "a COPY 1:* Archive", "a MOVE * Trash",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello", "a APPEND INBOX {99999999}", "a LIST \"\" *", "a LIST (SPECIAL-USE) \"\" % RETURN (STATUS (MESSAGES SIZE))",
		"a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE DELETED)", "a CREATE a/b/c", "a RENAME INBOX x", "a DELETE x",
		"a IDLE\r\nDONE", "a ENABLE IMAP4rev2", "a NAMESPACE", "a MYRIGHTS INBOX", "a GETACL Shared/x@y/INBOX", "a LISTRIGHTS INBOX anyone", "a SETACL INBOX anyone +lr", "a DELETEACL INBOX x", "a SELECT Shared/x@y/INBOX", "a UNSELECT", "a EXAMINE Sent", "a SELECT \"\"", "a FETCH 4294967295 FLAGS",
		"a SEARCH UID 1:4294967295 LARGER 1 SMALLER 99 SINCE 1-Jan-2020", "a STARTTLS", "\x00\xff{3}\r\n",
		"a STATUS INBOX (RECENT DELETED-STORAGE)", "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (STATUS (RECENT))", "a LSUB \"\" *%*",
		"a SEARCH NEW OLD RECENT NOT RECENT", "a CLOSE", "a STORE 1:* +FLAGS (kw1 kw2)", "a SEARCH NOT NOT NOT NOT NOT ALL",
	} {
		for state := range 3 {
			f.Add(uint8(state), []byte(seed))
		}
	}
	panics := &testtool.PanicLog{}
	e := newEnvLog(f, Config{MaxConnsPerAddr: 1 << 20, MaxConnsPerAccount: 1 << 20}, panics)
	m := e.member(f, "fuzz@example.org")
	// A role mailbox the member may read and send as, so that the
	// shared namespace's paths are reached too.
	if ro, err := e.store.CreateRole(f.Context(), "x@y", ""); err != nil {
		f.Fatal(err)
	} else if err := e.store.SetGrant(f.Context(), "fuzz", ro.ID, m.Account.ID, true); err != nil {
		f.Fatal(err)
	}
	pl := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	go e.srv.ServeTLS(pl) // Shutdown, at cleanup, closes it
	f.Fuzz(func(t *testing.T, state uint8, input []byte) {
		cli, srv := net.Pipe()
		pl.conns <- pipeConn{srv}
		c := tls.Client(cli, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(done) }()
		var prefix string
		switch state % 3 {
		case 1:
			prefix = fmt.Sprintf("p1 LOGIN %s %s\r\n", m.Account.Login, m.secret)
		case 2:
			prefix = fmt.Sprintf("p1 LOGIN %s %s\r\np2 SELECT INBOX\r\n", m.Account.Login, m.secret)
		}
		io.WriteString(c, prefix)
		c.Write(input)
		io.WriteString(c, "\r\nz LOGOUT\r\n")
		select {
		case <-done:
		case <-time.After(4 * time.Second):
		}
		c.Close()
		if p := panics.Seen(); p != "" {
			t.Fatalf("server panicked on %q: %s", input, p)
		}
	})
}
