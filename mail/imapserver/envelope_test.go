package imapserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestEnvelopeGroupsRaw: FETCH ENVELOPE shows address groups as start and
// end markers and keeps route-form addresses with their route as the adl
// (issue 13 item 7; RFC 9051 section 7.5.2), on the wire as a client
// reads it: the addresses of a list follow each other with no space
// (env-to = "(" 1*address ")"), as Dovecot writes them; and the go-imap
// client reads that back.
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
	got := exchange("c", "FETCH 1 ENVELOPE")
	for _, want := range []string{
		`((NIL "@relay.example" "user" "domain.example"))`,                  // From
		`((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`,         // To
		`((NIL NIL "Board" NIL)(NIL NIL "a" "b.example")(NIL NIL NIL NIL))`, // Cc
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ENVELOPE lacks %s:\n%s", want, got)
		}
	}

	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH ENVELOPE with the go-imap client: %v, %d messages", err, len(msgs))
	}
	env := msgs[0].Envelope
	if len(env.From) != 1 || env.From[0].AtDomainList != "@relay.example" || env.From[0].Addr() != "user@domain.example" {
		t.Errorf("From read back: %+v", env.From)
	}
	if len(env.Cc) != 3 || !env.Cc[0].IsGroupStart() || env.Cc[1].Addr() != "a@b.example" || !env.Cc[2].IsGroupEnd() {
		t.Errorf("Cc read back: %+v", env.Cc)
	}
}
