package imapserver

import (
	"strings"
	"testing"
)

// TestListEmptyPattern: LIST "" "" answers the hierarchy delimiter and
// root (RFC 9051 6.3.9); go-imap dropped the empty pattern (issue 13 #2).
func TestListEmptyPattern(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	w := e.wireLogin(t, e.member(t, "anna@example.org"))
	all := w.ok(`a LIST "" ""`)
	if !strings.Contains(all, `* LIST (\Noselect) "/" ""`) {
		t.Errorf(`LIST "" "" = %q, want the delimiter line`, all)
	}
}

// TestUnterminatedQuoted: a quoted string cannot span lines (RFC 9051 9,
// QUOTED-CHAR excludes CR and LF), so a line that ends inside one is an
// immediate BAD and the next command is answered normally (issue 13 #3).
func TestUnterminatedQuoted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	w := e.wireLogin(t, e.member(t, "anna@example.org"))
	w.send("a SELECT \"INBOX\r\n")
	if _, tagged := w.until("a"); !strings.HasPrefix(tagged, "a BAD") {
		t.Errorf("unterminated quoted string: %q, want a BAD", tagged)
	}
	w.ok("b NOOP")
	w.send("c STATUS \"INBOX\nd NOOP\r\n")
	if _, tagged := w.until("c"); !strings.HasPrefix(tagged, "c BAD") {
		t.Errorf("quoted string ending at a lone LF: %q, want a BAD", tagged)
	}
	w.until("d")
}

// TestID: ID before sign-in is answered, with caucus's name and no version
// (RFC 2971); several phone clients send it first (issue 13 #11).
func TestID(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	e := newEnvLog(t, Config{}, logs)
	w := e.wire(t)
	if all := w.ok("a CAPABILITY"); !strings.Contains(all, " ID") {
		t.Errorf("CAPABILITY %q lacks ID", all)
	}
	all := w.ok(`b ID ("name" "K-9 Mail" "version" "6.8" "os" NIL)`)
	if !strings.Contains(all, `* ID ("name" "caucus")`) || strings.Contains(strings.ToLower(all), "version") {
		t.Errorf("ID = %q, want the name only", all)
	}
	if got := logs.matching("name=K-9 Mail version=6.8"); len(got) != 1 {
		t.Errorf("log records of the client's ID: %q, want one with its name and version", got)
	}
	w.ok("c ID NIL")
	if all, tagged := w.cmd(`d ID ("name")`); !strings.HasPrefix(tagged, "d BAD") {
		t.Errorf("ID with a key and no value: %q, want BAD", all)
	}
	// The limits of RFC 2971 3.3: 30 fields, names of 30 octets, values of 1024.
	many := strings.Repeat(`"k" "v" `, 31)
	for _, bad := range []string{"(" + many[:len(many)-1] + ")", `("` + strings.Repeat("n", 31) + `" "v")`, `("name" "` + strings.Repeat("v", 1025) + `")`} {
		if all, tagged := w.cmd("x ID " + bad); !strings.HasPrefix(tagged, "x BAD") {
			t.Errorf("ID over a limit of RFC 2971 3.3: %q, want BAD", all)
		}
	}
	w.ok("y ID (" + strings.Repeat(`"k" "v" `, 29) + `"name" "` + strings.Repeat("v", 1024) + `")`)
	m := e.member(t, "anna@example.org")
	w.ok("e LOGIN " + m.Account.Login + " " + m.secret)
	w.ok(`f ID ("name" "Thunderbird")`)
}

// TestOversizeLoginLiteral: a LOGIN literal over the 4 KiB limit is
// refused with a clear error, and what follows is never read as the rest
// of the command (issue 12 #15).
func TestOversizeLoginLiteral(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")

	// Synchronizing literal: the client waits for "+", gets NO instead and
	// sends its next command, which must be answered as such.
	w := e.wire(t)
	w.send("a LOGIN {5000}\r\n")
	if all, tagged := w.until("a"); !strings.HasPrefix(tagged, "a NO [TOOBIG]") {
		t.Errorf("LOGIN with a 5000-byte literal: %q, want NO [TOOBIG]", all)
	}
	w.ok("b LOGIN " + m.Account.Login + " " + m.secret)

	// Non-synchronizing literal: its bytes follow at once. They must not
	// be taken as the user name and the rest of the line; the server
	// answers NO and ends the connection.
	w = e.wire(t)
	w.send("a LOGIN {5000+}\r\n" + m.Account.Login + " " + m.secret + "\r\n")
	all, tagged := w.until("a")
	if !strings.HasPrefix(tagged, "a NO [TOOBIG]") {
		t.Errorf("LOGIN with a non-synchronizing 5000-byte literal: %q, want NO [TOOBIG]", all)
	}
	if l := w.line(); l != "" && !strings.HasPrefix(l, "* BYE") {
		t.Errorf("after a refused non-synchronizing literal: %q, want BYE or the end", l)
	}
}
