package smtpserver

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawConn is a plain-text SMTP conversation, for what go-smtp's client
// will not send.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.reply() // greeting
	return rc
}

// reply reads one reply, all its lines, joined by "\n"; "" when the
// connection is closed.
func (rc *rawConn) reply() string {
	rc.t.Helper()
	var lines []string
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends a line and returns the reply.
func (rc *rawConn) cmd(line string) string {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(line + "\r\n")); err != nil {
		rc.t.Fatalf("%q: %v", line, err)
	}
	return rc.reply()
}

// bdat sends a message as one last chunk and returns the reply.
func (rc *rawConn) bdat(msg string) string {
	rc.t.Helper()
	if _, err := fmt.Fprintf(rc.c, "BDAT %d LAST\r\n%s", len(msg), msg); err != nil {
		rc.t.Fatal(err)
	}
	return rc.reply()
}

// TestNULRefused: a NUL in EHLO, MAIL FROM or RCPT TO is refused with 501
// and never echoed back (issue 12 item 15); the session goes on.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.member(t, "anna@example-party.org")
	rc := dialRaw(t, e.mx)
	for _, step := range []struct{ cmd, want string }{
		{"EHLO evil\x00.example", "501 "},
		{"HELO evil\x00.example", "501 "},
		{"EHLO " + strings.Repeat("a.", 200) + "example", "501 "},
		{"EHLO client.example", "250"},
		{"MAIL FROM:<a\x00b@outside.example>", "501 "},
		{"MAIL FROM:<" + strings.Repeat("a", 250) + "@outside.example>", "501 "},
		{"MAIL FROM:<ab@outside.example>", "250 "},
		{"RCPT TO:<anna\x00@example-party.org>", "501 "},
		{"RCPT TO:<anna@example-party.org>", "250 "},
		{"RSET", "250 "},
		{"AB\x00C", "50"},
		{"AB\x00C x", "50"},
		// A repeated EHLO has no hook in go-smtp: the connection ends
		// with a 421 before the name could be echoed.
		{"EHLO again\x00.example", "421 "},
	} {
		got := rc.cmd(step.cmd)
		if !strings.HasPrefix(got, step.want) || strings.Contains(got, "\x00") {
			t.Errorf("%q: got %q, want %q…", step.cmd, got, step.want)
		}
	}
	if got := rc.reply(); got != "" {
		t.Errorf("after the 421: %q, want the connection closed", got)
	}
}

// TestLongDataLine: a line longer than the limit in DATA gets a clear 5xx,
// the transaction is reset and the next one goes through on the same
// connection (issue 12 item 15; RFC 5322 section 2.1.1).
func TestLongDataLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	anna := e.member(t, "anna@example-party.org")
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.example")
	for _, n := range []int{2500, 60000} {
		rc.cmd("MAIL FROM:<x@outside.example>")
		rc.cmd("RCPT TO:<anna@example-party.org>")
		if got := rc.cmd("DATA"); !strings.HasPrefix(got, "354") {
			t.Fatalf("DATA: %q", got)
		}
		got := rc.cmd("From: x@outside.example\r\nSubject: long\r\n\r\n" + strings.Repeat("a", n) + "\r\nend\r\n.")
		if !strings.HasPrefix(got, "5") || !strings.Contains(got, "longer than") {
			t.Errorf("%d-byte line: got %q, want a 5xx that says why", n, got)
		}
		if got := rc.cmd("RCPT TO:<anna@example-party.org>"); !strings.HasPrefix(got, "5") {
			t.Errorf("transaction not reset: RCPT got %q", got)
		}
	}
	if got := rc.cmd("MAIL FROM:<x@outside.example>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("next MAIL: %q", got)
	}
	rc.cmd("RCPT TO:<anna@example-party.org>")
	rc.cmd("DATA")
	if got := rc.cmd("From: x@outside.example\r\nSubject: short\r\n\r\nfine\r\n."); !strings.HasPrefix(got, "250") {
		t.Errorf("next message: %q", got)
	}
	if n := len(e.inbox(t, anna.Account.ID)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

// TestLongBDATLine: the same over BDAT (RFC 3030), where go-smtp lifts
// its own line limit: the client hears why, and the next MAIL works.
func TestLongBDATLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	anna := e.member(t, "anna@example-party.org")
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.example")
	rc.cmd("MAIL FROM:<x@outside.example>")
	rc.cmd("RCPT TO:<anna@example-party.org>")
	body := "From: x@outside.example\r\nSubject: long\r\n\r\n" + strings.Repeat("a", 100<<10) + "\r\n"
	got := rc.bdat(body)
	if !strings.HasPrefix(got, "5") || !strings.Contains(got, "longer than") {
		t.Errorf("BDAT with a long line: %q", got)
	}
	if got := rc.cmd("MAIL FROM:<x@outside.example>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("next MAIL: %q", got)
	}
	rc.cmd("RCPT TO:<anna@example-party.org>")
	body = "From: x@outside.example\r\nSubject: short\r\n\r\nfine\r\n"
	if got := rc.bdat(body); !strings.HasPrefix(got, "250") {
		t.Errorf("next message: %q", got)
	}
	if n := len(e.inbox(t, anna.Account.ID)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}
