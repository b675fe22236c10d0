package imapserver

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The conformance table: every command of RFC 9051 (and the IMAP4rev1
// commands of RFC 3501 that it dropped) in every connection state, with
// its error paths, as raw exchanges. Cases run in order on one account, so
// that a case may rely on what the ones before it did.

// connState is the state a case's connection is put in first.
type connState int

const (
	notAuthenticated connState = iota
	authenticated
	selectedRW // SELECT INBOX
	selectedRO // EXAMINE INBOX
)

func (s connState) String() string {
	return [...]string{"not authenticated", "authenticated", "selected", "examined"}[s]
}

// conformanceCase is one exchange in one state.
type conformanceCase struct {
	section string // of RFC 9051, or "3501 x.y" for IMAP4rev1
	state   connState
	setup   []string // commands run first, each must answer OK
	ex      exchange
}

// conformanceCases returns the table. The account starts with INBOX
// holding three messages (1 \Seen, 2 none, 3 \Flagged and keyword
// "Urgent") and the mailboxes Work and Work/2026.
func conformanceCases(msg string) []conformanceCase {
	return append(conformanceStateCases(msg), conformanceSelectedCases(msg)...)
}

// conformanceStateCases are the cases of RFC 9051 6.1 to 6.3: any state,
// not authenticated, authenticated.
func conformanceStateCases(msg string) []conformanceCase {
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
	const bad, ok = "BAD…", "OK…"
	// An argument that fails to decode (a date-time, a number set, a
	// search key, a modified UTF-7 name) is a syntax error: BAD (RFC 9051
	// 7.1.5), never NO [SERVERBUG], and no error in the log.
	return []conformanceCase{
		// 6.1 Any state.
		{section: "6.1.1", state: notAuthenticated, ex: exchange{cmd: "CAPABILITY", result: ok, want: []string{"* CAPABILITY IMAP4rev2 IMAP4rev1 … AUTH=PLAIN…"}}},
		{section: "6.1.1", state: selectedRW, ex: exchange{cmd: "CAPABILITY", result: ok, want: []string{"* CAPABILITY IMAP4rev2 IMAP4rev1 … IDLE …"}, not: []string{"… LOGINDISABLED…"}}},
		{section: "6.1.1", state: authenticated, ex: exchange{cmd: "CAPABILITY extra", result: bad}},
		{section: "6.1.2", state: notAuthenticated, ex: exchange{cmd: "NOOP", result: ok}},
		{section: "6.1.2", state: selectedRO, ex: exchange{cmd: "NOOP", result: ok}},
		{section: "6.1.3", state: notAuthenticated, ex: exchange{cmd: "LOGOUT", result: ok, want: []string{"* BYE …"}}},
		{section: "6.1.3", state: selectedRW, ex: exchange{cmd: "LOGOUT", result: ok, want: []string{"* BYE …"}}},

		// 6.2 Not authenticated state.
		{section: "6.2.1", state: notAuthenticated, ex: exchange{cmd: "STARTTLS", result: "BAD…|NO…"}},
		{section: "6.2.2", state: notAuthenticated, ex: exchange{cmd: "AUTHENTICATE NOSUCHMECH", result: "NO…|BAD…"}},
		{section: "6.2.2", state: notAuthenticated, ex: exchange{cmd: "AUTHENTICATE PLAIN " + "AGFubmFAZXhhbXBsZS5vcmcAd3Jvbmc=", result: "NO [AUTHENTICATIONFAILED]…"}},
		{section: "6.2.2", state: authenticated, ex: exchange{cmd: "AUTHENTICATE PLAIN", result: bad}},
		{section: "6.2.3", state: notAuthenticated, ex: exchange{cmd: `LOGIN anna@example.org wrong`, result: "NO [AUTHENTICATIONFAILED]…"}},
		{section: "6.2.3", state: notAuthenticated, ex: exchange{cmd: `LOGIN onlyone`, result: bad}},
		{section: "6.2.3", state: authenticated, ex: exchange{cmd: `LOGIN a b`, result: bad}},

		// 6.3 Authenticated state: wrong state first.
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "SELECT INBOX", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "EXAMINE INBOX", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "CREATE x", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "DELETE x", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "RENAME x y", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "SUBSCRIBE INBOX", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "UNSUBSCRIBE INBOX", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: `LIST "" *`, result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "NAMESPACE", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "STATUS INBOX (MESSAGES)", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "APPEND INBOX " + lit(msg), result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "IDLE", result: bad}},
		{section: "6.3", state: notAuthenticated, ex: exchange{cmd: "ENABLE IMAP4rev2", result: bad}},
		{section: "3501 6.3.9", state: notAuthenticated, ex: exchange{cmd: `LSUB "" *`, result: bad}},

		// 6.3.1 ENABLE.
		{section: "6.3.1", state: authenticated, ex: exchange{cmd: "ENABLE IMAP4rev2", result: ok, want: []string{"* ENABLED IMAP4rev2"}}},
		{section: "6.3.1", state: authenticated, ex: exchange{cmd: "ENABLE NOSUCHEXT", result: ok, not: []string{"* ENABLED NOSUCHEXT"}}},
		{section: "6.3.1", state: authenticated, ex: exchange{cmd: "ENABLE", result: bad}},
		{section: "6.3.1", state: authenticated, ex: exchange{cmd: "ENABLE ", result: bad}},
		// "only valid in the authenticated state, before any mailbox is
		// selected"; 6.4 does not list ENABLE among the selected state's.
		{section: "6.3.1", state: selectedRW, ex: exchange{cmd: "ENABLE IMAP4rev2", result: bad, not: []string{"* ENABLED …"}}},
		{section: "6.3.1", state: selectedRW, setup: []string{"UNSELECT"}, ex: exchange{cmd: "ENABLE IMAP4rev2", result: ok, want: []string{"* ENABLED IMAP4rev2"}}},

		// 6.3.2 SELECT, 6.3.3 EXAMINE.
		{section: "6.3.2", state: authenticated, ex: exchange{cmd: "SELECT INBOX", result: "OK [READ-WRITE]…", want: []string{
			"* 3 EXISTS", "* OK [UIDVALIDITY #]…", "* OK [UIDNEXT 4]…", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft Urgent)`,
			`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft Urgent \*)]…`, "* # RECENT", "* OK [UNSEEN 2]…"}}},
		{section: "6.3.2", state: authenticated, ex: exchange{cmd: "SELECT inbox", result: "OK [READ-WRITE]…", want: []string{"* 3 EXISTS"}}},
		{section: "6.3.2", state: authenticated, ex: exchange{cmd: "SELECT NoSuchBox", result: "NO [NONEXISTENT]…"}},
		{section: "6.3.2", state: selectedRW, ex: exchange{cmd: "SELECT Work", result: "OK [READ-WRITE]…", want: []string{"* OK [CLOSED]…", "* 0 EXISTS"}}},
		{section: "6.3.2", state: selectedRW, ex: exchange{cmd: "SELECT NoSuchBox", result: "NO…"}, setup: nil},
		{section: "6.3.2", state: authenticated, setup: []string{"ENABLE IMAP4rev2"}, ex: exchange{cmd: "SELECT INBOX", result: "OK [READ-WRITE]…", want: []string{"* 3 EXISTS"}, not: []string{"* # RECENT", "* OK [UNSEEN #]…"}}},
		{section: "6.3.3", state: authenticated, ex: exchange{cmd: "EXAMINE INBOX", result: "OK [READ-ONLY]…", want: []string{"* 3 EXISTS", "* OK [PERMANENTFLAGS ()]…"}}},
		{section: "6.3.3", state: authenticated, ex: exchange{cmd: "EXAMINE NoSuchBox", result: "NO [NONEXISTENT]…"}},

		// 6.3.4 CREATE.
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE Projects/Flyers/", result: ok}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: `LIST "" Projects*`, result: ok, want: []string{`* LIST (\HasChildren) "/" "Projects"`, `* LIST (\HasNoChildren) "/" "Projects/Flyers"`}}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE Projects", result: "NO [ALREADYEXISTS]…"}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE inbox", result: "NO…"}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE a//b", result: "NO [CANNOT]…"}},
		{section: "6.3.4", state: selectedRW, ex: exchange{cmd: "CREATE Drafts2", result: ok}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE", result: bad}},

		// 6.3.5 DELETE.
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE Drafts2", result: ok}},
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE Drafts2", result: "NO [NONEXISTENT]…"}},
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE INBOX", result: "NO…"}},
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE Projects", result: "NO [HASCHILDREN]…"}},
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE Projects/Flyers", result: ok}},

		// 6.3.6 RENAME.
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: "RENAME Projects Plans", result: ok}},
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: `LIST "" Plans`, result: ok, want: []string{`* LIST (\HasNoChildren) "/" "Plans"`}}},
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: "RENAME NoSuchBox Other", result: "NO [NONEXISTENT]…"}},
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: "RENAME Plans Work", result: "NO [ALREADYEXISTS]…"}},
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: "RENAME Plans", result: bad}},

		// 6.3.7 SUBSCRIBE, 6.3.8 UNSUBSCRIBE.
		{section: "6.3.7", state: authenticated, ex: exchange{cmd: "SUBSCRIBE Plans", result: ok}},
		{section: "6.3.7", state: authenticated, ex: exchange{cmd: "SUBSCRIBE NoSuchBox", result: "NO…"}},
		{section: "6.3.8", state: authenticated, ex: exchange{cmd: "UNSUBSCRIBE Plans", result: ok}},
		{section: "6.3.8", state: selectedRO, ex: exchange{cmd: "UNSUBSCRIBE NoSuchBox", result: "NO…"}},

		// 6.3.9 LIST.
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "" %`, result: ok, want: []string{`* LIST (\HasNoChildren) "/" INBOX`, `* LIST (\HasChildren) "/" "Work"`, `* LIST (\Sent \HasNoChildren) "/" "Sent"`}, not: []string{`* LIST (…) "/" "Work/2026"`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "" *`, result: ok, want: []string{`* LIST (\HasNoChildren) "/" "Work/2026"`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "Work/" %`, result: ok, want: []string{`* LIST (\HasNoChildren) "/" "Work/2026"`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "" NoSuch*`, result: ok, not: []string{"* LIST …"}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "" ""`, result: ok, want: []string{`* LIST (\Noselect) "/" ""`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST (SPECIAL-USE) "" *`, result: ok, want: []string{`* LIST (\Trash \HasNoChildren) "/" "Trash"`}, not: []string{`* LIST (…) "/" "Work"`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST "" (INBOX Work) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))`, result: ok, want: []string{`* STATUS INBOX (MESSAGES 3 UNSEEN 2)`, `* STATUS "Work" (MESSAGES 0 UNSEEN 0)`}}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST (NOSUCHOPTION) "" *`, result: bad}},
		{section: "6.3.9", state: authenticated, ex: exchange{cmd: `LIST ""`, result: bad}},
		{section: "3501 6.3.9", state: authenticated, ex: exchange{cmd: `LSUB "" *`, result: ok, want: []string{`* LSUB () "/" INBOX`}}},

		// 6.3.10 NAMESPACE.
		{section: "6.3.10", state: authenticated, ex: exchange{cmd: "NAMESPACE", result: ok, want: []string{`* NAMESPACE (("" "/")) NIL (("Shared/" "/"))`}}},

		// 6.3.11 STATUS.
		{section: "6.3.11", state: authenticated, ex: exchange{cmd: "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)", result: ok, want: []string{"* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY # UNSEEN 2 DELETED 0 SIZE #)"}}},
		{section: "6.3.11", state: selectedRW, ex: exchange{cmd: "STATUS Work (MESSAGES RECENT)", result: ok, want: []string{`* STATUS "Work" (MESSAGES 0 RECENT 0)`}}},
		{section: "6.3.11", state: authenticated, ex: exchange{cmd: "STATUS NoSuchBox (MESSAGES)", result: "NO [NONEXISTENT]…"}},
		{section: "6.3.11", state: authenticated, ex: exchange{cmd: "STATUS INBOX (NOSUCHITEM)", result: bad}},
		{section: "6.3.11", state: authenticated, ex: exchange{cmd: "STATUS INBOX", result: bad}},

		// 6.3.12 APPEND.
		{section: "6.3.12", state: authenticated, ex: exchange{cmd: `APPEND Work (\Seen Later) "01-Jun-2026 10:00:00 +0200" ` + lit(msg), result: "OK [APPENDUID # 1]…"}},
		{section: "6.3.12", state: authenticated, ex: exchange{cmd: `APPEND NoSuchBox ` + lit(msg), result: "NO [TRYCREATE]…"}},
		{section: "6.3.12", state: authenticated, ex: exchange{cmd: `APPEND Work (\Seen) "not a date" ` + lit(msg), result: bad}},
		{section: "6.3.12", state: authenticated, ex: exchange{cmd: `APPEND Work (\Bogus) ` + lit(msg), result: "BAD…|NO…"}},
		{section: "6.3.12", state: authenticated, ex: exchange{cmd: `APPEND Work {99999999999+}`, result: "BAD…|NO…"}},
		{section: "6.3.12", state: selectedRW, ex: exchange{cmd: `APPEND INBOX ` + lit(msg), result: "OK [APPENDUID # 4]…", want: []string{"* 4 EXISTS"}}},
		{section: "6.3.12", state: selectedRW, ex: exchange{cmd: `UID EXPUNGE 4`, result: "NO…|OK…"}, setup: []string{`UID STORE 4 +FLAGS.SILENT (\Deleted)`}},

		// 6.3.13 IDLE is tested with the go-imap client in imap_test.go;
		// here its refusal when not in the right state and a bad DONE.
	}
}

// conformanceSelectedCases are the cases of RFC 9051 6.4, of the RFC 3501
// fetch items, and garbage.
func conformanceSelectedCases(msg string) []conformanceCase {
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
	const bad, ok = "BAD…", "OK…"
	// An argument that fails to decode (a date-time, a number set, a
	// search key, a modified UTF-7 name) is a syntax error: BAD (RFC 9051
	// 7.1.5), never NO [SERVERBUG], and no error in the log.
	return []conformanceCase{
		// 6.4 Selected state: wrong state first.
		{section: "6.4", state: authenticated, ex: exchange{cmd: "CLOSE", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "UNSELECT", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "EXPUNGE", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "SEARCH ALL", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "FETCH 1 FLAGS", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: `STORE 1 +FLAGS (\Seen)`, result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "COPY 1 Work", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "MOVE 1 Work", result: bad}},
		{section: "6.4", state: authenticated, ex: exchange{cmd: "UID FETCH 1 FLAGS", result: bad}},
		{section: "3501 6.4.1", state: authenticated, ex: exchange{cmd: "CHECK", result: "OK…|BAD…"}},
		{section: "6.4", state: notAuthenticated, ex: exchange{cmd: "FETCH 1 FLAGS", result: bad}},

		// 6.4.1 CLOSE, 6.4.2 UNSELECT.
		{section: "6.4.1", state: selectedRO, ex: exchange{cmd: "CLOSE", result: ok, not: []string{"* # EXPUNGE"}}},
		{section: "6.4.1", state: selectedRO, setup: []string{"CLOSE"}, ex: exchange{cmd: "FETCH 1 FLAGS", result: bad}},
		{section: "6.4.2", state: selectedRW, ex: exchange{cmd: "UNSELECT", result: ok}},
		{section: "6.4.2", state: selectedRW, setup: []string{"UNSELECT"}, ex: exchange{cmd: "SEARCH ALL", result: bad}},
		{section: "6.4.2", state: selectedRW, ex: exchange{cmd: "UNSELECT now", result: bad}},

		// 6.4.3 EXPUNGE.
		{section: "6.4.3", state: selectedRO, ex: exchange{cmd: "EXPUNGE", result: "NO…"}},
		{section: "6.4.3", state: selectedRW, ex: exchange{cmd: "EXPUNGE", result: ok, not: []string{"* # EXPUNGE"}}},
		{section: "6.4.3", state: selectedRW, setup: []string{"APPEND INBOX " + lit(msg), `STORE 4 +FLAGS.SILENT (\Deleted)`}, ex: exchange{cmd: "EXPUNGE", result: ok, want: []string{"* 4 EXPUNGE"}}},

		// 6.4.4 SEARCH.
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH UNSEEN", result: ok, want: []string{"* SEARCH 2 3"}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH FLAGGED KEYWORD Urgent", result: ok, want: []string{"* SEARCH 3"}}},
		{section: "6.4.4", state: selectedRO, ex: exchange{cmd: "UID SEARCH OR SEEN FLAGGED", result: ok, want: []string{"* SEARCH 1 3"}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH RETURN (MIN MAX COUNT) ALL", result: ok, want: []string{`* ESEARCH (TAG "t#") MIN 1 MAX 3 COUNT 3`}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH SUBJECT conformance 2:*", result: ok, want: []string{"* SEARCH 2 3"}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH CHARSET UTF-8 BODY hello", result: ok, want: []string{"* SEARCH 1 2 3"}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH CHARSET KOI9-NOPE BODY x", result: "NO [BADCHARSET…]…|BAD…"}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH NOSUCHKEY", result: bad}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH SINCE 31-Foo-2026", result: bad}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH UID 1:x", result: bad}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH SENTBEFORE 1-Jan-2026 NOSUCHKEY", result: bad}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "SEARCH", result: bad}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: `SEARCH SUBJECT "unterminated`, result: bad}},

		// 6.4.5 FETCH.
		{section: "6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)", result: ok, want: []string{`* 1 FETCH (UID 1 FLAGS (\Seen) INTERNALDATE "…" RFC822.SIZE #)`}}},
		{section: "6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]", result: ok, want: []string{`* 2 FETCH (UID 2 BODY[HEADER.FIELDS ("SUBJECT")] {#}Subject: conformance 2…)`}, not: []string{`… FLAGS (\Seen…`}}},
		{section: "6.4.5", state: selectedRO, setup: []string{"FETCH 2 BODY[]"}, ex: exchange{cmd: "FETCH 2 FLAGS", result: ok, want: []string{`* 2 FETCH (UID 2 FLAGS ())`}}}, // read-only: no \Seen
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH 1:* (ENVELOPE BODYSTRUCTURE)", result: ok, want: []string{`* 3 FETCH (UID 3 ENVELOPE (…"conformance 3"…) BODYSTRUCTURE ("text" "plain" …))`}}},
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH 1 BINARY.PEEK[1]", result: ok, want: []string{"* 1 FETCH (UID 1 BINARY[1] ~{#}hello…)"}}},
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH 9 FLAGS", result: "OK…|NO…|BAD…", not: []string{"* 9 FETCH …"}}},
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH 1 (NOSUCHITEM)", result: bad}},
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH x FLAGS", result: bad}},
		{section: "6.4.5", state: selectedRW, ex: exchange{cmd: "UID FETCH 1:0x FLAGS", result: bad}},
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `STORE 1,y +FLAGS (\Seen)`, result: bad}},
		{section: "6.4.7", state: selectedRW, ex: exchange{cmd: `COPY z Work`, result: bad}},
		{section: "6.4.7", state: selectedRW, ex: exchange{cmd: `COPY 1 "&Jjo"`, result: bad}},

		// 6.4.6 STORE.
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `STORE 2 +FLAGS (\Answered)`, result: ok, want: []string{`* 2 FETCH (FLAGS (\Answered))`}}},
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `STORE 2 -FLAGS.SILENT (\Answered)`, result: ok, not: []string{"* 2 FETCH …"}}},
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `UID STORE 3 FLAGS (\Flagged Urgent)`, result: ok, want: []string{`* 3 FETCH (UID 3 FLAGS (Urgent \Flagged))`}}},
		{section: "6.4.6", state: selectedRO, ex: exchange{cmd: `STORE 2 +FLAGS (\Seen)`, result: "NO…"}},
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `STORE 2 +FLAGS (bad]keyword)`, result: bad}},
		{section: "6.4.6", state: selectedRW, ex: exchange{cmd: `STORE 2 FROB (\Seen)`, result: bad}},

		// 6.4.7 COPY.
		{section: "6.4.7", state: selectedRO, ex: exchange{cmd: "COPY 1 Work", result: "OK [COPYUID # 1 #]…"}},
		{section: "6.4.7", state: selectedRW, ex: exchange{cmd: "COPY 1 NoSuchBox", result: "NO [TRYCREATE]…"}},
		{section: "6.4.7", state: selectedRW, ex: exchange{cmd: "COPY 1", result: bad}},

		// 6.4.8 MOVE.
		{section: "6.4.8", state: selectedRO, ex: exchange{cmd: "MOVE 1 Work", result: "NO…"}},
		{section: "6.4.8", state: selectedRW, ex: exchange{cmd: "MOVE 1 NoSuchBox", result: "NO [TRYCREATE]…"}},
		{section: "6.4.8", state: selectedRW, setup: []string{"APPEND INBOX " + lit(msg)}, ex: exchange{cmd: "UID MOVE 6 Work", result: ok, want: []string{"* OK [COPYUID # 6 #]…", "* 4 EXPUNGE"}}},

		// 6.4.9 UID.
		{section: "6.4.9", state: selectedRW, ex: exchange{cmd: "UID FETCH 1:* FLAGS", result: ok, want: []string{"* 1 FETCH (UID 1 FLAGS …)", "* 3 FETCH (UID 3 FLAGS …)"}}},
		{section: "6.4.9", state: selectedRW, ex: exchange{cmd: "UID FETCH 100:200 FLAGS", result: ok, not: []string{"* # FETCH …"}}},
		{section: "6.4.9", state: selectedRW, ex: exchange{cmd: "UID NOSUCH 1", result: bad}},

		// More of 6.4.4 to 6.4.9: partial fetch, SEARCHRES, ESEARCH over
		// UIDs, UID EXPUNGE, UID COPY, STATUS of the selected mailbox.
		{section: "6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 BODY.PEEK[]<0.5>", result: ok, want: []string{"* 1 FETCH (UID 1 BODY[]<0> {5}From:)"}}},
		{section: "6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 BODY.PEEK[1.MIME]", result: ok, want: []string{"* 1 FETCH (UID 1 BODY[1.MIME] …)"}}},
		{section: "6.4.4", state: selectedRW, setup: []string{"SEARCH RETURN (SAVE) FLAGGED"}, ex: exchange{cmd: "FETCH $ (FLAGS)", result: ok, want: []string{"* 3 FETCH (UID 3 FLAGS …)"}, not: []string{"* 1 FETCH …"}}},
		{section: "6.4.4", state: selectedRW, ex: exchange{cmd: "UID SEARCH RETURN (ALL COUNT) 1:*", result: ok, want: []string{`* ESEARCH (TAG "t#") UID ALL 1:3 COUNT 3`}}},
		{section: "6.4.9", state: selectedRO, ex: exchange{cmd: "UID COPY 1:2 Work", result: "OK [COPYUID # 1:2 #:#]…"}},
		{section: "6.4.9", state: selectedRO, ex: exchange{cmd: "UID EXPUNGE 1", result: "NO…"}},
		{section: "6.4.9", state: selectedRW, ex: exchange{cmd: "UID EXPUNGE 1:3", result: ok, not: []string{"* # EXPUNGE"}}}, // none is \Deleted
		{section: "6.3.11", state: selectedRW, ex: exchange{cmd: "STATUS INBOX (MESSAGES)", result: ok, want: []string{"* STATUS INBOX (MESSAGES 3)"}}},
		{section: "6.3.6", state: authenticated, ex: exchange{cmd: "RENAME INBOX INBOX", result: "NO…"}},
		{section: "6.3.4", state: authenticated, ex: exchange{cmd: "CREATE INBOX/Sub", result: ok}},
		{section: "6.3.5", state: authenticated, ex: exchange{cmd: "DELETE INBOX/Sub", result: ok}},

		// RFC 3501 6.4.5: the IMAP4rev1 fetch items RFC 9051 dropped.
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 RFC822.HEADER", result: ok, want: []string{"* 1 FETCH (UID 1 RFC822.HEADER {#}From: …)"}}},
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 RFC822.TEXT", result: ok, want: []string{"* 1 FETCH (UID 1 RFC822.TEXT {#}hello…)"}}},
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 (RFC822 FLAGS)", result: ok, want: []string{"* 1 FETCH (UID 1 FLAGS (…) RFC822 {#}From: …)"}}},
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 BODY", result: ok, want: []string{`* 1 FETCH (UID 1 BODY ("text" "plain" …))`}}},
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 FAST", result: ok, want: []string{`* 1 FETCH (UID 1 FLAGS (\Seen) INTERNALDATE "…" RFC822.SIZE #)`}}},
		{section: "3501 6.4.5", state: selectedRO, ex: exchange{cmd: "FETCH 1 ALL", result: ok, want: []string{`* 1 FETCH (UID 1 FLAGS (\Seen) INTERNALDATE "…" RFC822.SIZE # ENVELOPE (…))`}}},

		{section: "3501 6.4.5", state: selectedRW, ex: exchange{cmd: "FETCH 2 RFC822.TEXT", result: ok, want: []string{`* 2 FETCH (UID 2 FLAGS (\Seen…) RFC822.TEXT {#}hello…)`}}},
		{section: "3501 6.4.5", state: selectedRW, ex: exchange{cmd: `STORE 2 -FLAGS.SILENT (\Seen)`, result: ok}},

		// Garbage.
		{section: "2.2.2", state: notAuthenticated, ex: exchange{cmd: "FROBNICATE", result: bad}},
		{section: "2.2.2", state: selectedRW, ex: exchange{cmd: "FROBNICATE", result: bad}},
	}
}

// TestConformance runs the table. Each case gets a connection of its own,
// put in its state; the server must log no warning or error throughout.
func TestConformance(t *testing.T) {
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	seed := e.raw(t, m)
	msg := func(n int) string {
		return message("bob@example.org", "anna@example.org", fmt.Sprintf("conformance %d", n), "hello")
	}
	appendRaw(t, seed, "INBOX", `\Seen`, msg(1))
	appendRaw(t, seed, "INBOX", ``, msg(2))
	appendRaw(t, seed, "INBOX", `\Flagged Urgent`, msg(3))
	seed.ok("CREATE Work/2026")
	seed.ok("LOGOUT")
	for _, c := range conformanceCases(msg(9)) {
		name := fmt.Sprintf("%s/%s/%s", c.section, c.state, strings.SplitN(c.ex.cmd, "\r\n", 2)[0])
		t.Run(name, func(t *testing.T) {
			rc := e.raw(t, nil)
			if c.state >= authenticated {
				rc.ok(fmt.Sprintf("LOGIN %q %q", m.Account.Login, m.secret))
			}
			switch c.state {
			case selectedRW:
				rc.ok("SELECT INBOX")
			case selectedRO:
				rc.ok("EXAMINE INBOX")
			}
			for _, s := range c.setup {
				rc.ok(s)
			}
			rc.checkAlt(c.ex)
		})
	}
}

// checkAlt is check where the result pattern may name alternatives
// separated by "|".
func (rc *rawConn) checkAlt(ex exchange) {
	rc.t.Helper()
	alts := strings.Split(ex.result, "|")
	if len(alts) == 1 {
		rc.check(ex)
		return
	}
	u, res := rc.cmd(ex.cmd)
	matched := false
	for _, a := range alts {
		matched = matched || pattern(a).MatchString(res)
	}
	if !matched {
		rc.t.Errorf("%s: answer %q, want one of %q (untagged %q)", ex.cmd, res, alts, u)
	}
	for _, n := range ex.not {
		if anyMatch(pattern(n), u) {
			rc.t.Errorf("%s: untagged %q unexpected in %q", ex.cmd, n, u)
		}
	}
}

// TestConformanceIdleLogout covers what a one-line table cannot: IDLE
// (RFC 9051 6.3.13) with its continuation and DONE, an update during IDLE,
// a synchronizing literal's continuation (RFC 9051 4.3), ID before login
// (RFC 2971), and the logout state: after LOGOUT's BYE and OK the server
// closes the connection (RFC 9051 3.4).
func TestConformanceIdleLogout(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	rc := e.raw(t, m)
	rc.ok("SELECT INBOX")
	rc.send("i1 IDLE")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q, want a continuation", l)
	}
	other := e.raw(t, m)
	appendRaw(t, other, "INBOX", "", message("bob@example.org", "anna@example.org", "during idle", "x"))
	if l := rc.line(); l != "* 1 EXISTS" {
		t.Errorf("during IDLE: %q, want * 1 EXISTS", l)
	}
	rc.send("DONE")
	if u, res := rc.until("i1"); !strings.HasPrefix(res, "OK") {
		t.Errorf("IDLE … DONE: %q %q", u, res)
	}
	// A synchronizing literal waits for the server's go-ahead.
	rc.send("a1 LOGIN {4}")
	if l := rc.line(); !strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "a1 BAD") {
		t.Errorf("literal in the wrong state: %q", l)
	}
	rc.send("x y")
	rc.check(exchange{cmd: "NOOP", result: "OK…"})
	msg := message("bob@example.org", "anna@example.org", "sync literal", "x")
	rc.send(fmt.Sprintf("a2 APPEND INBOX {%d}", len(msg)))
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND with a synchronizing literal: %q, want a continuation", l)
	}
	rc.c.Write([]byte(msg + "\r\n"))
	if _, res := rc.until("a2"); !strings.HasPrefix(res, "OK [APPENDUID") {
		t.Errorf("APPEND: %q", res)
	}
	rc.check(exchange{cmd: "LOGOUT", result: "OK…", want: []string{"* BYE …"}})
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := rc.r.ReadByte(); err == nil {
		t.Errorf("after LOGOUT the server sent %q, want the connection closed", n)
	}
}

// TestConformanceID: ID before login is answered (RFC 2971).
func TestConformanceID(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, nil)
	rc.check(exchange{cmd: `ID ("name" "K-9 Mail" "version" "6.8")`, result: "OK…", want: []string{`* ID (…"name" "caucus"…)`}})
	rc.check(exchange{cmd: `ID NIL`, result: "OK…"})
}

// TestConformanceAuth: the ways of signing in of RFC 9051 6.2.2 and 6.2.3
// succeed with an app password: AUTHENTICATE PLAIN with an initial
// response (SASL-IR, RFC 4959) and after a continuation, LOGIN with
// quoted strings and with literals; the state changes to authenticated.
func TestConformanceAuth(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	m := e.member(t, "anna@example.org")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + m.Account.Login + "\x00" + m.secret))

	rc := e.raw(t, nil)
	rc.check(exchange{cmd: "AUTHENTICATE PLAIN " + plain, result: "OK…"})
	rc.check(exchange{cmd: "SELECT INBOX", result: "OK [READ-WRITE]…"})

	rc = e.raw(t, nil)
	rc.send("a1 AUTHENTICATE PLAIN")
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE PLAIN: %q, want a continuation", l)
	}
	rc.send(plain)
	if _, res := rc.until("a1"); !strings.HasPrefix(res, "OK") {
		t.Errorf("AUTHENTICATE PLAIN after continuation: %q", res)
	}
	rc.check(exchange{cmd: "LOGIN x y", result: "BAD…"}) // already authenticated

	rc = e.raw(t, nil)
	rc.check(exchange{cmd: fmt.Sprintf("LOGIN {%d+}\r\n%s {%d+}\r\n%s", len(m.Account.Login), m.Account.Login, len(m.secret), m.secret), result: "OK…"})
	rc.check(exchange{cmd: "NAMESPACE", result: "OK…"})

	rc = e.raw(t, nil)
	rc.send("a1 AUTHENTICATE PLAIN")
	rc.line()
	rc.send("*") // the client cancels (RFC 9051 6.2.2)
	if _, res := rc.until("a1"); !strings.HasPrefix(res, "BAD") && !strings.HasPrefix(res, "NO") {
		t.Errorf("cancelled AUTHENTICATE: %q, want BAD", res)
	}
	rc.check(exchange{cmd: "SELECT INBOX", result: "BAD…"}) // still not authenticated
}
