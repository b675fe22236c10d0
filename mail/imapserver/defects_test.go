package imapserver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The tests in this file reproduce the defects of issue 13 found by
// clients and an outside conformance suite; each failed before its fix.

// TestStatusRecentDeletedStorage: mutt with "mailboxes" set checks each
// mailbox with STATUS … (MESSAGES UNSEEN RECENT); asking for RECENT or
// DELETED-STORAGE crashed the command handler and closed the connection.
func TestStatusRecentDeletedStorage(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	msg := message("bob@example.org", "anna@example.org", "hi", "hello")
	rc.send(fmt.Sprintf("a1 APPEND INBOX (\\Deleted) {%d+}", len(msg)))
	rc.send(msg)
	if _, res := rc.until("a1"); !strings.HasPrefix(res, "OK") {
		t.Fatalf("APPEND: %s", res)
	}
	for _, ex := range []exchange{
		// mutt's mail check (imap_mailbox_status / imap_buffy_check).
		{cmd: `STATUS "INBOX" (MESSAGES UNSEEN RECENT)`, result: "OK…", want: []string{`* STATUS INBOX (MESSAGES 1 UNSEEN 1 RECENT 1)`}},
		{cmd: `STATUS "INBOX" (UIDNEXT UIDVALIDITY UNSEEN RECENT MESSAGES)`, result: "OK…", want: []string{`* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY # UNSEEN 1 RECENT 1)`}},
		{cmd: `STATUS Sent (RECENT DELETED-STORAGE DELETED)`, result: "OK…", want: []string{`* STATUS "Sent" (DELETED 0 DELETED-STORAGE 0 RECENT 0)`}},
		{cmd: `STATUS INBOX (DELETED DELETED-STORAGE)`, result: "OK…", want: []string{`* STATUS INBOX (DELETED 1 DELETED-STORAGE 1)`}}, // KiB, rounded up
		{cmd: `LIST "" "*" RETURN (STATUS (MESSAGES RECENT DELETED-STORAGE))`, result: "OK…", want: []string{
			`* LIST (…) "/" INBOX`,
			`* STATUS INBOX (MESSAGES 1 DELETED-STORAGE 1 RECENT 1)`,
			`* STATUS "Sent" (MESSAGES 0 DELETED-STORAGE 0 RECENT 0)`,
		}},
		{cmd: `NOOP`, result: "OK…"},
	} {
		rc.check(ex)
	}
}

// TestCloseAfterExamine: CLOSE of a mailbox opened with EXAMINE closes it
// without error and expunges nothing (RFC 9051 6.4.1); EXPUNGE after
// EXAMINE is still refused.
func TestCloseAfterExamine(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	msg := message("bob@example.org", "anna@example.org", "hi", "hello")
	rc.send(fmt.Sprintf("a1 APPEND INBOX (\\Deleted) {%d+}", len(msg)))
	rc.send(msg)
	rc.until("a1")
	for _, ex := range []exchange{
		{cmd: `EXAMINE INBOX`, result: "OK [READ-ONLY]…", want: []string{"* 1 EXISTS"}},
		{cmd: `EXPUNGE`, result: "NO…"},
		{cmd: `CLOSE`, result: "OK…", not: []string{"* # EXPUNGE"}},
		{cmd: `FETCH 1 FLAGS`, result: "BAD…"}, // no mailbox selected any more
		{cmd: `STATUS INBOX (MESSAGES)`, result: "OK…", want: []string{"* STATUS INBOX (MESSAGES 1)"}},
		{cmd: `SELECT INBOX`, result: "OK [READ-WRITE]…", want: []string{"* 1 EXISTS"}},
		{cmd: `CLOSE`, result: "OK…", not: []string{"* # EXPUNGE"}}, // CLOSE says nothing
		{cmd: `STATUS INBOX (MESSAGES)`, result: "OK…", want: []string{"* STATUS INBOX (MESSAGES 0)"}},
	} {
		rc.check(ex)
	}
}

// TestKeywordsAnnounced: FLAGS and PERMANENTFLAGS at SELECT list the
// keywords in use, and a STORE of a new keyword sends a FLAGS update to
// every session that has the mailbox selected (RFC 9051 7.3.5, 6.3.2).
func TestKeywordsAnnounced(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	msg := message("bob@example.org", "anna@example.org", "hi", "hello")
	rc.send(fmt.Sprintf("a1 APPEND INBOX (\\Seen $Forwarded) {%d+}", len(msg)))
	rc.send(msg)
	rc.until("a1")
	other := e.raw(t, m)
	rc.check(exchange{cmd: `SELECT INBOX`, result: "OK [READ-WRITE]…", want: []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded \*)]…`,
	}})
	other.check(exchange{cmd: `EXAMINE INBOX`, result: "OK [READ-ONLY]…", want: []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded)`,
		`* OK [PERMANENTFLAGS ()]…`,
	}})
	rc.check(exchange{cmd: `STORE 1 +FLAGS (Campaign2026)`, result: "OK…", want: []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded Campaign2026)`,
		`* 1 FETCH (FLAGS (…Campaign2026…))`,
	}})
	other.check(exchange{cmd: `NOOP`, result: "OK…", want: []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded Campaign2026)`,
	}})
	// A keyword already announced is not announced again.
	rc.check(exchange{cmd: `STORE 1 -FLAGS (Campaign2026)`, result: "OK…", not: []string{`* FLAGS …`}})
	rc.check(exchange{cmd: `STORE 1 +FLAGS (Campaign2026)`, result: "OK…", not: []string{`* FLAGS …`}})
	// APPEND of a message with a new keyword to the selected mailbox.
	rc.check(exchange{cmd: fmt.Sprintf("APPEND INBOX (Volunteer) {%d+}\r\n%s", len(msg), msg), result: "OK…", want: []string{`* FLAGS (… Volunteer)`, `* 2 EXISTS`}})
}

// TestInvalidMUTF7Name: a mailbox name that is not valid modified UTF-7
// is the client's error (BAD or NO [CANNOT]), logged as nothing worse than
// debug; a LIST pattern that cannot match lists nothing.
func TestInvalidMUTF7Name(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	for _, name := range []string{`"&Jjo"`, `"&AGE-"`, `"a&-b&"`, `"&ZeVnLIqe-&"`} {
		for _, cmd := range []string{"SELECT", "EXAMINE", "CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "STATUS %s (MESSAGES)", "RENAME INBOX/x %s"} {
			line := cmd + " " + name
			if strings.Contains(cmd, "%s") {
				line = fmt.Sprintf(cmd, name)
			}
			u, res := rc.cmd(line)
			if !strings.HasPrefix(res, "BAD") && !strings.HasPrefix(res, "NO [CANNOT]") && !strings.HasPrefix(res, "NO [NONEXISTENT]") {
				t.Errorf("%s: %q (untagged %q), want BAD or NO [CANNOT]", line, res, u)
			}
		}
	}
	rc.check(exchange{cmd: `LIST "" "&Jjo*"`, result: "OK…", not: []string{"* LIST …"}})
	rc.check(exchange{cmd: `LIST "&Jjo" "*"`, result: "OK…", not: []string{"* LIST …"}})
	rc.check(exchange{cmd: `LIST "" ("&Jjo")`, result: "OK…", not: []string{"* LIST …"}})
	rc.check(exchange{cmd: `LIST "" ("&Jjo*" "INBOX")`, result: "OK…", want: []string{`* LIST (…) "/" INBOX`}})
	rc.check(exchange{cmd: `LSUB "" "&Jjo*"`, result: "OK…", not: []string{"* LSUB …"}})
	rc.check(exchange{cmd: `LSUB "&Jjo" "*"`, result: "OK…", not: []string{"* LSUB …"}})
	rc.check(exchange{cmd: `NOOP`, result: "OK…"})
}

// appendRaw appends msg to mailbox over rc with the given flags.
func appendRaw(t *testing.T, rc *rawConn, mailbox, flags, msg string) {
	t.Helper()
	rc.ok(fmt.Sprintf("APPEND %s (%s) {%d+}\r\n%s", mailbox, flags, len(msg), msg))
}

// TestRev1RecentUnseen: an IMAP4rev1 client gets the number of recent
// messages and the first unseen one at SELECT, \Recent in FETCH, and
// SEARCH RECENT/NEW/OLD (RFC 3501 6.3.1, 2.3.2, 6.4.4); a read-write
// SELECT takes \Recent away from later sessions, EXAMINE does not; an
// IMAP4rev2 client gets none of it (RFC 9051 removed \Recent).
func TestRev1RecentUnseen(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	a := e.raw(t, m)
	msg := message("bob@example.org", "anna@example.org", "hi", "hello")
	appendRaw(t, a, "INBOX", `\Seen`, msg)
	appendRaw(t, a, "INBOX", ``, msg)
	appendRaw(t, a, "INBOX", `\Flagged`, msg)
	for _, ex := range []exchange{
		{cmd: `STATUS INBOX (RECENT UNSEEN)`, result: "OK…", want: []string{`* STATUS INBOX (UNSEEN 2 RECENT 3)`}},
		{cmd: `EXAMINE INBOX`, result: "OK [READ-ONLY]…", want: []string{`* 3 RECENT`, `* OK [UNSEEN 2]…`}},
		{cmd: `STATUS INBOX (RECENT)`, result: "OK…", want: []string{`* STATUS INBOX (RECENT 3)`}}, // EXAMINE took nothing
		{cmd: `SELECT INBOX`, result: "OK [READ-WRITE]…", want: []string{`* 3 EXISTS`, `* 3 RECENT`, `* OK [UNSEEN 2]…`}},
		{cmd: `FETCH 1:3 FLAGS`, result: "OK…", want: []string{`* 1 FETCH (UID 1 FLAGS (\Seen \Recent))`, `* 2 FETCH (UID 2 FLAGS (\Recent))`, `* 3 FETCH (UID 3 FLAGS (\Flagged \Recent))`}},
		{cmd: `SEARCH RECENT`, result: "OK…", want: []string{`* SEARCH 1 2 3`}},
		{cmd: `SEARCH NEW`, result: "OK…", want: []string{`* SEARCH 2 3`}},
		{cmd: `SEARCH OLD`, result: "OK…", want: []string{`* SEARCH`}},
		{cmd: `UID SEARCH NOT RECENT`, result: "OK…", want: []string{`* SEARCH`}},
	} {
		a.check(ex)
	}
	b := e.raw(t, m)
	for _, ex := range []exchange{
		{cmd: `STATUS INBOX (RECENT)`, result: "OK…", want: []string{`* STATUS INBOX (RECENT 0)`}},
		{cmd: `SELECT INBOX`, result: "OK [READ-WRITE]…", want: []string{`* 0 RECENT`, `* OK [UNSEEN 2]…`}},
		{cmd: `FETCH 2 FLAGS`, result: "OK…", want: []string{`* 2 FETCH (UID 2 FLAGS ())`}},
		{cmd: `SEARCH OLD`, result: "OK…", want: []string{`* SEARCH 1 2 3`}},
		{cmd: `UNSELECT`, result: "OK…"},
	} {
		b.check(ex)
	}
	appendRaw(t, b, "INBOX", `\Seen`, msg)
	b.check(exchange{cmd: `STATUS INBOX (RECENT)`, result: "OK…", want: []string{`* STATUS INBOX (RECENT 1)`}})
	// The session that has it selected hears of the new message, recent
	// for it too (RFC 3501 7.3.2), and only once.
	a.check(exchange{cmd: `NOOP`, result: "OK…", want: []string{`* 4 EXISTS`, `* 4 RECENT`}})
	a.check(exchange{cmd: `NOOP`, result: "OK…", not: []string{`* # RECENT`}})
	c := e.raw(t, m)
	c.ok(`ENABLE IMAP4rev2`)
	c.check(exchange{cmd: `SELECT INBOX`, result: "OK [READ-WRITE]…", want: []string{`* 4 EXISTS`}, not: []string{`* # RECENT`, `* OK [UNSEEN #]…`}})
	c.check(exchange{cmd: `FETCH 4 FLAGS`, result: "OK…", want: []string{`* 4 FETCH (UID 4 FLAGS (\Seen))`}})
	c.check(exchange{cmd: `SEARCH RECENT`, result: "OK…", want: []string{`* ESEARCH (TAG "t#")`}, not: []string{`… ALL …`}})
}

// TestSearchNestingLimit: deeply nested or very many SEARCH criteria get
// NO [LIMIT] before any SQL runs, not NO [SERVERBUG] from SQLite's
// recursion limit (issue 12 item 15); the session goes on.
func TestSearchNestingLimit(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	appendRaw(t, rc, "INBOX", ``, message("bob@example.org", "anna@example.org", "hi", "hello"))
	rc.ok("SELECT INBOX")
	for _, ex := range []exchange{
		{cmd: "SEARCH " + strings.Repeat("NOT ", 2000) + "ALL", result: "NO [LIMIT]…"},
		{cmd: "SEARCH " + strings.Repeat("OR SEEN ", 700) + "SEEN", result: "NO [LIMIT]…"},
		{cmd: "UID SEARCH " + strings.Repeat("UNDELETED ", 3000), result: "NO [LIMIT]…"},
		{cmd: "SEARCH NOT NOT (OR SEEN (OR FLAGGED FROM bob)) UNDELETED", result: "OK…", want: []string{"* SEARCH 1"}},
	} {
		rc.check(ex)
	}
}

// TestSearchParenDepth: parentheses nested past go-imap's decoder depth
// are a client error.
func TestSearchParenDepth(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, e.member(t, "anna@example.org"))
	rc.ok("SELECT INBOX")
	rc.check(exchange{cmd: "SEARCH " + strings.Repeat("(", 1500) + "SEEN" + strings.Repeat(")", 1500), result: "BAD…"})
	rc.check(exchange{cmd: "NOOP", result: "OK…"})
}

// TestKeywordsBounded: a mailbox announces at most maxMailboxKeywords
// keywords, however many its messages carry.
func TestKeywordsBounded(t *testing.T) {
	t.Parallel()
	ms := &mailboxState{}
	var flags []imap.Flag
	for i := range maxMailboxKeywords + 50 {
		flags = append(flags, imap.Flag(fmt.Sprintf("kw%d", i)))
	}
	if !ms.learnKeywords(flags) {
		t.Fatal("no keyword learnt")
	}
	if n := len(ms.flags()); n != len(systemFlags)+maxMailboxKeywords {
		t.Errorf("FLAGS lists %d flags, want %d", n, len(systemFlags)+maxMailboxKeywords)
	}
	if ms.learnKeywords([]imap.Flag{"one-more"}) {
		t.Error("a keyword past the bound was learnt")
	}
}

// TestLongCommandLine: a command line past go-imap's 50 KiB bound is the
// client's error, answered BAD [TOOBIG] with nothing in the log above
// debug (not NO [SERVERBUG] and an ERROR line per attempt). The rest of
// the line cannot be told from a next command, so the connection ends
// (RFC 9051 section 7.1.5 BYE) instead of reading it as one.
func TestLongCommandLine(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, e.member(t, "anna@example.org"))
	rc.ok("SELECT INBOX")
	u, res := rc.cmd(`SEARCH SUBJECT "` + strings.Repeat("x", 60*1024) + `" t9 NOOP`)
	if !strings.HasPrefix(res, "BAD [TOOBIG]") {
		t.Errorf("a 60 KiB command line: %q (untagged %q), want BAD [TOOBIG]", res, u)
	}
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(rc.r)
	if !strings.HasPrefix(string(rest), "* BYE") || err != nil {
		t.Errorf("after the long line: %q, %v; want BYE and the connection closed", rest, err)
	}
}

// TestAuthenticateMalformed: a malformed AUTHENTICATE (an initial
// response that is not base64, a PLAIN message without its NULs, a
// response line longer than the reader's buffer) is the client's error,
// BAD or NO, never NO [SERVERBUG] and an ERROR line: before sign-in,
// anyone could otherwise write to the log at will (RFC 9051 6.2.2).
func TestAuthenticateMalformed(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, nil)
	for _, cmd := range []string{"AUTHENTICATE PLAIN !!!", "AUTHENTICATE PLAIN Zm9v", "AUTHENTICATE PLAIN AGZvbw=="} {
		if u, res := rc.cmd(cmd); strings.Contains(res, "SERVERBUG") || !strings.HasPrefix(res, "BAD") && !strings.HasPrefix(res, "NO") {
			t.Errorf("%s: %q (untagged %q), want BAD or NO", cmd, res, u)
		}
	}
	rc.send("a1 AUTHENTICATE PLAIN")
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE PLAIN: %q, want a continuation", l)
	}
	rc.send(strings.Repeat("QUFB", 5000))
	if u, res := rc.until("a1"); strings.Contains(res, "SERVERBUG") || !strings.HasPrefix(res, "BAD") && !strings.HasPrefix(res, "NO") {
		t.Errorf("a 20000-byte SASL response: %q (untagged %q), want BAD or NO", res, u)
	}
}

// TestClientHangsUpMidFetch: a client that hangs up while a large FETCH
// is being written (phones do, all day) is routine: nothing above debug
// in the log, where go-imap logged "handling FETCH command: write: ...
// connection reset by peer" at ERROR.
func TestClientHangsUpMidFetch(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, e.member(t, "anna@example.org"))
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 40000) // 3 MB
	appendRaw(t, rc, "INBOX", ``, message("bob@example.org", "anna@example.org", "big", body))
	rc.ok("SELECT INBOX")
	// 12 MB, more than the socket buffers; the first line says the
	// server is writing.
	rc.send("f1 FETCH 1 (BODY[] BODY[TEXT] RFC822 RFC822.TEXT)")
	rc.r.ReadString('\n')
	rc.c.Close()
	// The server notices when its next write fails; a second connection
	// then shows that it is still serving, and the log is checked at
	// cleanup.
	deadline := time.Now().Add(10 * time.Second)
	for e.openConns() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.raw(t, nil).check(exchange{cmd: "NOOP", result: "OK…"})
}

// TestFetchMissingBody: a FETCH of a body whose blob cannot be opened (a
// disk error, a restore that lost blobs) wrote the start of the message's
// FETCH response, then the tagged NO on the same unterminated line: a
// client (go-imap's own) waited for the rest of the response for ever.
// The body is opened before anything of the response is written, so the
// answer is a clean NO and the connection stays usable.
func TestFetchMissingBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	w := e.wireLogin(t, m)
	msg := "From: bob@example.org\r\nSubject: minutes\r\n\r\nthe minutes\r\n"
	w.ok(fmt.Sprintf("A1 APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	err := filepath.WalkDir(e.blobs, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			err = os.Remove(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ok("S1 SELECT INBOX")
	all, tagged := w.cmd("F1 UID FETCH 1:* (FLAGS BODY.PEEK[])")
	if !strings.HasPrefix(tagged, "F1 NO") || strings.Contains(all, "* 1 FETCH") {
		t.Fatalf("FETCH of a lost body: %q", all)
	}
	w.ok("N1 NOOP")
	w.ok("F2 UID FETCH 1:* (FLAGS)")
}

// TestFetchCutBody: a body that ends before its recorded size (a blob
// damaged on disk) is found only once its literal is begun; the response
// cannot be finished, so the connection is closed (the client sees the end
// and reconnects) instead of left waiting with the writer held.
func TestFetchCutBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	w := e.wireLogin(t, m)
	msg := "From: bob@example.org\r\nSubject: minutes\r\n\r\n" + strings.Repeat("the minutes of the board\r\n", 100)
	w.ok(fmt.Sprintf("A1 APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	err := filepath.WalkDir(e.blobs, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			err = os.Truncate(p, 10)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ok("S1 SELECT INBOX")
	w.send("F1 UID FETCH 1 BODY.PEEK[]\r\n")
	w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(w.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was left waiting: %v", err)
	}
}
