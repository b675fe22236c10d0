package imapserver

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/internal/testtool"
)

var (
	reHighest = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
	reValid   = regexp.MustCompile(`UIDVALIDITY (\d+)`)
)

func findNum(t *testing.T, re *regexp.Regexp, s string) uint64 {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %v in %q", re, s)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// fetchLines returns the untagged FETCH lines of an answer.
func fetchLines(all string) []string {
	var out []string
	for _, l := range strings.Split(all, "\r\n") {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH (") {
			out = append(out, l)
		}
	}
	return out
}

// TestQResyncThunderbird replays the resynchronisation Thunderbird does
// on a QRESYNC server (RFC 7162 3.2.5): ENABLE QRESYNC, then SELECT with
// the UIDVALIDITY and HIGHESTMODSEQ it saved and its known UIDs; it must
// get VANISHED (EARLIER) for what was expunged meanwhile and a FETCH
// (UID FLAGS MODSEQ) for what changed, and nothing for the rest.
func TestQResyncThunderbird(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	var uids []imap.UID
	for i := range 5 {
		uids = append(uids, appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", fmt.Sprintf("m%d", i), "x"), nil))
	}

	tb := e.wireLogin(t, m)
	if all := tb.ok("a CAPABILITY"); !strings.Contains(all, " CONDSTORE") || !strings.Contains(all, " QRESYNC") {
		t.Fatalf("CAPABILITY %q lacks CONDSTORE or QRESYNC", all)
	}
	if all := tb.ok("b ENABLE QRESYNC"); !strings.Contains(all, "* ENABLED QRESYNC") {
		t.Fatalf("ENABLE QRESYNC: %q", all)
	}
	all := tb.ok("c SELECT INBOX")
	validity, saved := findNum(t, reValid, all), findNum(t, reHighest, all)
	tb.ok("d LOGOUT")

	// Meanwhile, on the phone: one message read, one deleted.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(uids[1]), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(uids[3]), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(uids[3])).Close(); err != nil {
		t.Fatal(err)
	}

	tb = e.wireLogin(t, m)
	tb.ok("b ENABLE QRESYNC")
	all = tb.ok(fmt.Sprintf("c SELECT INBOX (QRESYNC (%d %d %d:%d))", validity, saved, uids[0], uids[4]))
	if !strings.Contains(all, fmt.Sprintf("* VANISHED (EARLIER) %d\r\n", uids[3])) {
		t.Errorf("SELECT (QRESYNC): no VANISHED (EARLIER) %d in %q", uids[3], all)
	}
	fetches := fetchLines(all)
	if len(fetches) != 1 || !strings.Contains(fetches[0], fmt.Sprintf("UID %d FLAGS (\\Seen) MODSEQ (", uids[1])) {
		t.Errorf("SELECT (QRESYNC) FETCH lines %q, want one for UID %d with FLAGS (\\Seen) and MODSEQ", fetches, uids[1])
	}
	if now := findNum(t, reHighest, all); now <= saved {
		t.Errorf("HIGHESTMODSEQ %d after changes, was %d", now, saved)
	}

	// Without the known UIDs (what Thunderbird sends), the same answer.
	all = tb.ok(fmt.Sprintf("c2 SELECT INBOX (QRESYNC (%d %d))", validity, saved))
	if !strings.Contains(all, fmt.Sprintf("* VANISHED (EARLIER) %d\r\n", uids[3])) || len(fetchLines(all)) != 1 {
		t.Errorf("SELECT (QRESYNC) without known UIDs: %q", all)
	}

	// The same through UID FETCH (CHANGEDSINCE … VANISHED) (RFC 7162 3.2.6).
	all = tb.ok(fmt.Sprintf("d UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", saved))
	if !strings.Contains(all, fmt.Sprintf("* VANISHED (EARLIER) %d\r\n", uids[3])) || len(fetchLines(all)) != 1 {
		t.Errorf("UID FETCH (CHANGEDSINCE VANISHED): %q", all)
	}

	// A wrong UIDVALIDITY resynchronises nothing.
	all = tb.ok(fmt.Sprintf("e EXAMINE INBOX (QRESYNC (%d %d))", validity+1, saved))
	if strings.Contains(all, "VANISHED") || len(fetchLines(all)) != 0 {
		t.Errorf("QRESYNC with another UIDVALIDITY: %q", all)
	}

	// An expunge by another session reaches this one as VANISHED, not
	// EXPUNGE (RFC 7162 3.2.10).
	tb.ok("f SELECT INBOX")
	if err := c.Store(imap.UIDSetNum(uids[4]), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(uids[4])).Close(); err != nil {
		t.Fatal(err)
	}
	all = tb.ok("g NOOP")
	if !strings.Contains(all, fmt.Sprintf("* VANISHED %d\r\n", uids[4])) || strings.Contains(all, "EXPUNGE") {
		t.Errorf("expunge by another session under QRESYNC: %q, want VANISHED %d", all, uids[4])
	}
	if fl := fetchLines(all); len(fl) != 1 || !strings.Contains(fl[0], "MODSEQ (") {
		t.Errorf("the \\Deleted set by another session: %q, want one FETCH with MODSEQ", fl)
	}
	// And this session's own UID EXPUNGE is answered with VANISHED too.
	tb.ok(fmt.Sprintf("h UID STORE %d +FLAGS.SILENT (\\Deleted)", uids[2]))
	all = tb.ok(fmt.Sprintf("i UID EXPUNGE %d", uids[2]))
	if !strings.Contains(all, fmt.Sprintf("* VANISHED %d\r\n", uids[2])) || strings.Contains(all, "EXPUNGE\r\n") {
		t.Errorf("UID EXPUNGE under QRESYNC: %q", all)
	}
}

// TestCondStore: the CONDSTORE commands (RFC 7162 3.1) over the wire.
func TestCondStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	var uids []imap.UID
	for i := range 3 {
		uids = append(uids, appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", fmt.Sprintf("m%d", i), "x"), nil))
	}
	w := e.wireLogin(t, m)
	all := w.ok("a SELECT INBOX (CONDSTORE)")
	start := findNum(t, reHighest, all)
	if all := w.ok("b STATUS INBOX (HIGHESTMODSEQ MESSAGES)"); !strings.Contains(all, fmt.Sprintf("HIGHESTMODSEQ %d", start)) {
		t.Errorf("STATUS HIGHESTMODSEQ: %q, want %d", all, start)
	}

	// STORE UNCHANGEDSINCE: the first succeeds and reports MODSEQ; the
	// second, with the old mod-sequence, fails with MODIFIED.
	all, tagged := w.cmd(fmt.Sprintf("c UID STORE %d (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)", uids[0], start))
	if !strings.HasPrefix(tagged, "c OK") || !strings.Contains(all, "MODSEQ (") || strings.Contains(tagged, "MODIFIED") {
		t.Fatalf("conditional STORE: %q", all)
	}
	all, tagged = w.cmd(fmt.Sprintf("d UID STORE %d,%d (UNCHANGEDSINCE %d) +FLAGS (\\Answered)", uids[0], uids[1], start))
	if !strings.HasPrefix(tagged, fmt.Sprintf("d OK [MODIFIED %d]", uids[0])) {
		t.Errorf("conditional STORE of a changed message: %q, want OK [MODIFIED %d]", all, uids[0])
	}
	if fl := fetchLines(all); len(fl) != 1 || !strings.Contains(fl[0], fmt.Sprintf("UID %d", uids[1])) {
		t.Errorf("conditional STORE: FETCH lines %q, want only UID %d", fl, uids[1])
	}
	all, tagged = w.cmd(fmt.Sprintf("e STORE 1 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Seen)", start))
	if !strings.HasPrefix(tagged, "e OK [MODIFIED 1]") || len(fetchLines(all)) != 0 {
		t.Errorf("sequence-number conditional STORE: %q, want OK [MODIFIED 1] and no FETCH", all)
	}

	// UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3).
	all, tagged = w.cmd(fmt.Sprintf("e2 UID STORE %d (UNCHANGEDSINCE 0) +FLAGS (\\Seen)", uids[2]))
	if !strings.HasPrefix(tagged, fmt.Sprintf("e2 OK [MODIFIED %d]", uids[2])) || len(fetchLines(all)) != 0 {
		t.Errorf("STORE UNCHANGEDSINCE 0: %q, want OK [MODIFIED %d] and no change", all, uids[2])
	}

	// FETCH CHANGEDSINCE lists the two changed messages only, with MODSEQ.
	all = w.ok(fmt.Sprintf("f FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)", start))
	if fl := fetchLines(all); len(fl) != 2 || !strings.Contains(fl[0], "MODSEQ (") {
		t.Errorf("FETCH CHANGEDSINCE: %q", fl)
	}
	all = w.ok("g FETCH 3 (MODSEQ)")
	if fl := fetchLines(all); len(fl) != 1 || !strings.Contains(fl[0], "MODSEQ (") {
		t.Errorf("FETCH MODSEQ: %q", all)
	}

	// SEARCH MODSEQ, with the highest mod-sequence of what it found.
	all = w.ok(fmt.Sprintf("h UID SEARCH MODSEQ %d", start+1))
	if !regexp.MustCompile(fmt.Sprintf(`\* SEARCH %d %d \(MODSEQ \d+\)`, uids[0], uids[1])).MatchString(all) {
		t.Errorf("SEARCH MODSEQ: %q", all)
	}

	// VANISHED needs QRESYNC enabled.
	if _, tagged := w.cmd(fmt.Sprintf("i UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", start)); !strings.HasPrefix(tagged, "i BAD") {
		t.Errorf("VANISHED without QRESYNC: %q, want BAD", tagged)
	}
	if _, tagged := w.cmd(fmt.Sprintf("j SELECT INBOX (QRESYNC (1 %d))", start)); !strings.HasPrefix(tagged, "j BAD") {
		t.Errorf("SELECT QRESYNC without ENABLE: %q, want BAD", tagged)
	}
}

// TestCondStoreClient drives CONDSTORE with the go-imap client, as far as
// it supports it.
func TestCondStoreClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	u := appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", "one", "x"), nil)
	appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", "two", "x"), nil)
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil || sel.HighestModSeq == 0 {
		t.Fatalf("SELECT (CONDSTORE): %+v, %v", sel, err)
	}
	msgs, err := c.Store(imap.UIDSetNum(u), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Important"}},
		&imap.StoreOptions{UnchangedSince: sel.HighestModSeq}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].ModSeq <= sel.HighestModSeq {
		t.Fatalf("STORE UNCHANGEDSINCE: %+v, %v", msgs, err)
	}
	msgs, err = c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != u || !slices.Contains(msgs[0].Flags, "$Important") {
		t.Errorf("FETCH CHANGEDSINCE: %+v, %v", msgs, err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq != msgs[0].ModSeq {
		t.Errorf("STATUS HIGHESTMODSEQ = %+v, %v; want %d", st, err, msgs[0].ModSeq)
	}
	var _ *imapclient.Client = c
}

// TestMissingUIDs: the fallback of VANISHED when the record of expunges
// was pruned: every UID of the set below UIDNEXT that does not exist.
func TestMissingUIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set      imap.UIDSet
		highest  imap.UID
		existing []imap.UID
		want     string
	}{
		{imap.UIDSet{{Start: 1, Stop: 0}}, 10, []imap.UID{2, 3, 7}, "1,4:6,8:10"},
		{imap.UIDSet{{Start: 3, Stop: 8}}, 10, []imap.UID{2, 3, 7}, "4:6,8"},
		{imap.UIDSet{{Start: 1, Stop: 5}}, 5, []imap.UID{1, 2, 3, 4, 5}, ""},
		{imap.UIDSet{{Start: 1, Stop: 0}}, 0, nil, ""},
		{imap.UIDSet{{Start: 9, Stop: 4}}, 20, nil, "4:9"},
	} {
		if got := missing(tc.set, tc.highest, tc.existing).String(); got != tc.want {
			t.Errorf("missing(%v, %d, %v) = %q, want %q", tc.set, tc.highest, tc.existing, got, tc.want)
		}
	}
}

// FuzzCondStoreCommands feeds the commands this package's go-imap patches
// parse (ID, the CONDSTORE and QRESYNC additions to SELECT, FETCH, STORE,
// SEARCH and STATUS) to a signed-in session that enabled QRESYNC and
// selected INBOX. The server must never panic or hang.
func FuzzCondStoreCommands(f *testing.F) {
	for _, seed := range []string{
		`a ID ("name" "x" "version" NIL)`, "a ID NIL", `a ID ("a" "b" "c")`,
		"a SELECT INBOX (CONDSTORE)", "a EXAMINE INBOX (QRESYNC (1 1 1:* (1:3 4:6)))", "a SELECT INBOX (QRESYNC (1 1 (1 2)))",
		"a SELECT INBOX (QRESYNC (0 0))", "a UID FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 1 VANISHED)", "a FETCH 1:* FLAGS (CHANGEDSINCE 18446744073709551615)",
		"a STORE 1:* (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)", "a UID STORE 1 (UNCHANGEDSINCE 5) FLAGS (x)",
		`a SEARCH MODSEQ "/flags/\\draft" all 5`, "a UID SEARCH RETURN (MIN MAX) MODSEQ 1", "a STATUS INBOX (HIGHESTMODSEQ)",
		"a ENABLE CONDSTORE QRESYNC", "a UID EXPUNGE 1:*", `a LIST "" ""`, "a LOGIN {5000+}\r\nx", "a SELECT \"INBOX\r\n",
	} {
		f.Add([]byte(seed))
	}
	panics := &testtool.PanicLog{}
	e := newEnvLog(f, Config{MaxConnsPerAddr: 1 << 20, MaxConnsPerAccount: 1 << 20}, panics)
	m := e.member(f, "fuzz@example.org")
	pl := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	go e.srv.ServeTLS(pl) // Shutdown, at cleanup, closes it
	f.Fuzz(func(t *testing.T, input []byte) {
		cli, srv := net.Pipe()
		pl.conns <- pipeConn{srv}
		c := tls.Client(cli, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(done) }()
		fmt.Fprintf(c, "p1 LOGIN %s %s\r\np2 ENABLE QRESYNC\r\np3 SELECT INBOX\r\np4 APPEND INBOX {3+}\r\nx\r\n\r\n", m.Account.Login, m.secret)
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

// BenchmarkResync is what a phone's reconnect costs on an INBOX of 10,000
// messages of which 10 changed flags and 5 were expunged since its last
// visit: "full" re-reads every flag (SELECT, then UID FETCH 1:* (FLAGS),
// what a client does without CONDSTORE); "qresync" is one SELECT with the
// QRESYNC parameter (RFC 7162 3.2.5). Both over implicit TLS on one
// signed-in connection; B/op-wire is what the server sent.
func BenchmarkResync(b *testing.B) {
	const n, distinct = 10_000, 1_000
	e := quietEnv(b, Config{})
	m := e.member(b, "phone@example.org")
	ctx := b.Context()
	deliverMany(b, e, m, distinct, "Agenda of the meeting.")
	mb, err := e.store.Mailbox(ctx, m.Account.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	uids, err := e.store.UIDs(ctx, mb.ID)
	if err != nil {
		b.Fatal(err)
	}
	for range n/distinct - 1 {
		if _, _, _, err := e.store.Copy(ctx, mb.ID, uids, m.Account.ID, "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
	if mb, err = e.store.Mailbox(ctx, m.Account.ID, "INBOX"); err != nil {
		b.Fatal(err)
	}
	saved := mb.HighestModSeq
	for i := range 10 {
		if _, _, err := e.store.StoreFlags(ctx, mb.ID, uids[i*50:i*50+1], imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := e.store.StoreFlags(ctx, mb.ID, uids[900:905], imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		b.Fatal(err)
	}
	if _, err := e.store.Expunge(ctx, mb.ID, uids[900:905]); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"full", "qresync"} {
		b.Run(mode, func(b *testing.B) {
			w := e.wireLogin(b, m)
			w.ok("e ENABLE QRESYNC")
			var wire int
			for b.Loop() {
				var all string
				if mode == "full" {
					all = w.ok("s EXAMINE INBOX") + w.ok("f UID FETCH 1:* (FLAGS)")
				} else {
					all = w.ok(fmt.Sprintf("s EXAMINE INBOX (QRESYNC (%d %d))", mb.UIDValidity, saved))
				}
				wire += len(all)
			}
			b.ReportMetric(float64(wire)/float64(b.N), "B/op-wire")
		})
	}
}
