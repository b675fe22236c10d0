package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEnvelopeGroupsRaw: FETCH ENVELOPE shows address groups as start and
// end markers and keeps route-form addresses (issue 13 item 7; RFC 9051
// section 7.5.2), on the wire as a client reads it.
func TestEnvelopeGroupsRaw(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	msg := strings.ReplaceAll("From: <@relay.example:user@domain.example>\nTo: undisclosed-recipients:;\nCc: Board: a@b.example;\nSubject: groups\n\nbody\n", "\n", "\r\n")
	c := e.login(t, m, nil)
	appendMsg(t, c, "INBOX", msg, nil)

	conn, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	exchange := func(tag, cmd string) string {
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		var out strings.Builder
		for {
			l, err := r.ReadString('\n')
			out.WriteString(l)
			if err != nil || strings.HasPrefix(l, tag+" ") {
				return out.String()
			}
		}
	}
	r.ReadString('\n') // greeting
	exchange("a", fmt.Sprintf("LOGIN %q %q", m.Account.Login, m.secret))
	exchange("b", "SELECT INBOX")
	// go-imap puts a space between the addresses of a list, which the
	// RFC 9051 grammar (env-to = "(" 1*address ")") does not have;
	// compare without it.
	got := strings.ReplaceAll(exchange("c", "FETCH 1 ENVELOPE"), ") (", ")(")
	for _, want := range []string{
		`((NIL NIL "user" "domain.example"))`,                               // From
		`((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`,         // To
		`((NIL NIL "Board" NIL)(NIL NIL "a" "b.example")(NIL NIL NIL NIL))`, // Cc
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ENVELOPE lacks %s:\n%s", want, got)
		}
	}
}
