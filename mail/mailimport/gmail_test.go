package mailimport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
)

// gmailMessage is a message of the fake Gmail.
type gmailMessage struct {
	uid    uint32
	msgid  uint64
	flags  string // IMAP flag list content
	labels string // X-GM-LABELS list content, as Gmail sends it (modified UTF-7)
	body   []byte
	date   time.Time
}

// fakeGmail is a small IMAP server that answers as Gmail does for what
// an importer asks (https://developers.google.com/gmail/imap/imap-extensions):
// X-GM-EXT-1, labels as folders with "/" as delimiter, [Gmail]/All Mail
// (\All) holding every message but Spam and Trash, X-GM-MSGID and
// X-GM-LABELS in FETCH, and "NO [OVERQUOTA]" when over its limits.
type fakeGmail struct {
	ln      net.Listener
	boxes   map[string][]gmailMessage
	list    []string // LIST lines
	secret  string
	mu      sync.Mutex
	opened  []string // folders examined
	fetched int      // bodies sent
	// overquotaAt, if > 0, refuses the body FETCH once that many
	// bodies were sent; then it is cleared.
	overquotaAt int
	refusals    int
	// refuse, if set, is a folder that EXAMINE refuses.
	refuse string
}

// newFakeGmail starts the server on 127.0.0.1 with TLS and returns it
// with the client TLS configuration.
func newFakeGmail(t testing.TB) (*fakeGmail, *tls.Config) {
	dir := t.TempDir()
	cert, err := devcert.Ensure(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGmail{ln: ln, boxes: map[string][]gmailMessage{}, secret: "gmail-app-password"}
	g.list = []string{
		`(\HasNoChildren) "/" "INBOX"`,
		`(\HasChildren \Noselect) "/" "[Gmail]"`,
		`(\All \HasNoChildren) "/" "[Gmail]/All Mail"`,
		`(\Drafts \HasNoChildren) "/" "[Gmail]/Drafts"`,
		`(\HasNoChildren \Important) "/" "[Gmail]/Important"`,
		`(\HasNoChildren \Sent) "/" "[Gmail]/Sent Mail"`,
		`(\HasNoChildren \Junk) "/" "[Gmail]/Spam"`,
		`(\Flagged \HasNoChildren) "/" "[Gmail]/Starred"`,
		`(\HasNoChildren \Trash) "/" "[Gmail]/Trash"`,
		`(\HasChildren) "/" "Work"`,
		`(\HasNoChildren) "/" "Work/Projects"`,
		`(\HasNoChildren) "/" "Caf&AOk-"`,
	}
	t.Cleanup(func() { ln.Close() })
	go g.serve()
	return g, &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}
}

// add puts a message in a folder.
func (g *fakeGmail) add(folder string, m gmailMessage) {
	m.uid = uint32(len(g.boxes[folder]) + 1)
	if m.date.IsZero() {
		m.date = time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 3600))
	}
	g.boxes[folder] = append(g.boxes[folder], m)
	if folder == "[Gmail]/All Mail" && strings.Contains(m.labels, `\\Inbox`) {
		g.boxes["INBOX"] = append(g.boxes["INBOX"], m) // also there, as on Gmail: an importer must not copy it twice
	}
}

func (g *fakeGmail) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.session(c)
	}
}

// session answers one client.
func (g *fakeGmail) session(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\r\n", args...)
	}
	reply("* OK Gimap ready for requests from 127.0.0.1")
	w.Flush()
	var box []gmailMessage
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd := strings.ToUpper(rest)
		switch {
		case cmd == "CAPABILITY":
			reply("* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584")
			reply("%s OK Thats all she wrote!", tag)
		case cmd == "AUTHENTICATE PLAIN":
			reply("+ ")
			w.Flush()
			resp, _ := r.ReadString('\n')
			dec, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(resp))
			if string(dec) != "\x00member@gmail.test\x00"+g.secret {
				reply("%s NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", tag)
				break
			}
			reply("%s OK member@gmail.test authenticated (Success)", tag)
		case strings.HasPrefix(cmd, "ENABLE"):
			reply("%s NO not in this test", tag) // names stay modified UTF-7
		case strings.HasPrefix(cmd, "LIST"):
			for _, l := range g.list {
				reply("* LIST %s", l)
			}
			reply("%s OK Success", tag)
		case strings.HasPrefix(cmd, "EXAMINE "):
			name, _ := strconv.Unquote(rest[len("EXAMINE "):])
			if name == g.refuse {
				reply("%s NO [NONEXISTENT] Unknown Mailbox: %s (Failure)", tag, name)
				break
			}
			g.mu.Lock()
			g.opened = append(g.opened, name)
			g.mu.Unlock()
			box = g.boxes[name]
			reply("* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)")
			reply("* OK [UIDVALIDITY 11] UIDs valid.")
			reply("* %d EXISTS", len(box))
			reply("%s OK [READ-ONLY] %s selected. (Success)", tag, name)
		case cmd == "UID SEARCH ALL":
			var b strings.Builder
			for _, m := range box {
				fmt.Fprintf(&b, " %d", m.uid)
			}
			reply("* SEARCH%s", b.String())
			reply("%s OK SEARCH completed (Success)", tag)
		case strings.HasPrefix(cmd, "UID FETCH "):
			g.fetch(w, tag, rest[len("UID FETCH "):], box)
		case cmd == "LOGOUT":
			reply("* BYE LOGOUT Requested")
			reply("%s OK 73 good day (Success)", tag)
			w.Flush()
			return
		default:
			reply("%s BAD Unknown command", tag)
		}
		w.Flush()
	}
}

// fetch answers UID FETCH.
func (g *fakeGmail) fetch(w *bufio.Writer, tag, args string, box []gmailMessage) {
	set, items, _ := strings.Cut(args, " ")
	var uids []uint32
	for part := range strings.SplitSeq(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		for u := a; u <= b; u++ {
			uids = append(uids, uint32(u))
		}
	}
	body := strings.Contains(items, "BODY.PEEK[]")
	g.mu.Lock()
	defer g.mu.Unlock()
	if body && g.overquotaAt > 0 && g.fetched >= g.overquotaAt {
		g.overquotaAt = 0
		g.refusals++
		fmt.Fprintf(w, "%s NO [OVERQUOTA] Account exceeded command or bandwidth limits. (Failure)\r\n", tag)
		return
	}
	for seq, m := range box {
		if !slices.Contains(uids, m.uid) {
			continue
		}
		if body {
			g.fetched++
			fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n", seq+1, m.uid, len(m.body), m.body)
			continue
		}
		fmt.Fprintf(w, "* %d FETCH (X-GM-MSGID %d X-GM-LABELS (%s) UID %d FLAGS (%s) INTERNALDATE %q RFC822.SIZE %d)\r\n",
			seq+1, m.msgid, m.labels, m.uid, m.flags, m.date.Format("02-Jan-2006 15:04:05 -0700"), len(m.body))
	}
	fmt.Fprintf(w, "%s OK Success\r\n", tag)
}

// seedGmail fills g and returns what caucus should hold afterwards.
func seedGmail(g *fakeGmail, fillers int) []stored {
	var want []stored
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 3600))
	put := func(folder string, i int, flags, labels string, dests []string, wantFlags string) {
		body := testMessage(1000+i, 800, "")
		g.add(folder, gmailMessage{msgid: 1600000000000000000 + uint64(i), flags: flags, labels: labels, body: body})
		for _, d := range dests {
			want = append(want, stored{Folder: d, Hash: hashOf(body), Flags: wantFlags, Date: date.Unix()})
		}
	}
	all := "[Gmail]/All Mail"
	put(all, 1, `\Seen`, `"\\Inbox" "\\Important" Work/Projects`, []string{"INBOX", "Work/Projects"}, `$important \seen`)
	put(all, 2, `\Seen`, `"\\Sent"`, []string{"Sent"}, `\seen`)
	put(all, 3, `\Seen`, ``, []string{"Archive"}, `\seen`)
	put(all, 4, `\Draft`, `"\\Draft"`, []string{"Drafts"}, `\draft`)
	put(all, 5, `\Seen \Flagged`, `"\\Starred" "\\Inbox" "Caf&AOk-"`, []string{"INBOX", "Café"}, `\flagged \seen`)
	put(all, 6, `$NotPhishing`, `"Reise/Rom" "Team: Vorstand"`, []string{"Reise/Rom", "Team: Vorstand"}, `$notphishing`)
	put("[Gmail]/Spam", 7, ``, ``, []string{"Junk"}, ``)
	put("[Gmail]/Trash", 8, `\Seen`, ``, []string{"Trash"}, `\seen`)
	for i := range fillers {
		put(all, 100+i, `\Seen`, `"\\Inbox"`, []string{"INBOX"}, `\seen`)
	}
	slices.SortFunc(want, func(a, b stored) int { return strings.Compare(a.Folder+a.Hash+a.Flags, b.Folder+b.Hash+b.Flags) })
	return want
}

// TestGmail imports from a Gmail-like server: labels become folders, a
// message with several labels is one body in several folders, All Mail
// is read once (and only unlabelled messages go to Archive), Spam and
// Trash are read from their folders, system labels become special-use
// folders or flags.
func TestGmail(t *testing.T) {
	t.Parallel()
	g, tc := newFakeGmail(t)
	want := seedGmail(g, 0)
	e := newEnv(t, func(o *Options) { o.TLS = tc })
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{
		Kind: KindIMAP, Addr: g.ln.Addr().String(), Login: "member@gmail.test", Password: Secret(g.secret)}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone || rep.Failed != 0 || rep.Duplicates != 0 {
		t.Fatalf("report: %+v", rep)
	}
	compare(t, e.contents(1), want)
	got := e.contents(1)
	h1 := ""
	for _, w := range want {
		if w.Folder == "Work/Projects" {
			h1 = w.Hash
		}
	}
	if countHash(got, h1) != 2 {
		t.Errorf("the message with two folder labels is in %d folders, want 2", countHash(got, h1))
	}
	perFolder := map[string]int64{}
	for _, f := range rep.Folders {
		perFolder[f.Dest] = f.Copied
	}
	for dest, n := range byFolder(want) {
		if perFolder[dest] != int64(n) {
			t.Errorf("report: %d copied to %s, want %d (%+v)", perFolder[dest], dest, n, rep.Folders)
		}
	}
	g.mu.Lock()
	opened := slices.Clone(g.opened)
	g.mu.Unlock()
	slices.Sort(opened)
	opened = slices.Compact(opened)
	if fmt.Sprint(opened) != "[[Gmail]/All Mail [Gmail]/Spam [Gmail]/Trash]" {
		t.Errorf("folders read: %v, want only All Mail, Spam and Trash", opened)
	}
}

// TestGmailOverquota: when Gmail refuses for bandwidth, the job waits
// and continues later, and ends with the same result.
//
// The importer's clock stands still until the test has seen the job
// waiting: a wait ends at a whole second (not_before), so with the real
// clock it lasted anywhere from 1 s down to a few milliseconds, and a
// test that was slow to look (under -race, on a loaded machine) saw the
// job running again and never waiting.
func TestGmailOverquota(t *testing.T) {
	t.Parallel()
	g, tc := newFakeGmail(t)
	want := seedGmail(g, 300)
	g.overquotaAt = 150
	start := time.Now()
	var resumed atomic.Bool // the clock moves past the wait
	now := func() time.Time {
		if resumed.Load() {
			return start.Add(time.Hour)
		}
		return start
	}
	e := newEnv(t, func(o *Options) { o.TLS, o.Now = tc, now })
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{
		Kind: KindIMAP, Addr: g.ln.Addr().String(), Login: "member@gmail.test", Password: Secret(g.secret)}})
	if err != nil {
		t.Fatal(err)
	}
	var sawWait string
	for {
		p, ch, err := e.im.Progress(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == StateWaiting {
			sawWait = p.Message
			resumed.Store(true)
		}
		if p.State == StateDone || p.State == StateFailed {
			break
		}
		<-ch
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone {
		t.Fatalf("report: %+v", rep)
	}
	g.mu.Lock()
	refusals := g.refusals
	g.mu.Unlock()
	if refusals != 1 || !strings.Contains(sawWait, "bandwidth") {
		t.Errorf("refusals %d; message while waiting %q", refusals, sawWait)
	}
	compare(t, e.contents(1), want)
}

// TestGmailFolderGone: a folder the server lists but will not open is
// reported, and the rest is copied.
func TestGmailFolderGone(t *testing.T) {
	t.Parallel()
	g, tc := newFakeGmail(t)
	want := slices.DeleteFunc(seedGmail(g, 0), func(s stored) bool { return s.Folder == "Trash" })
	g.refuse = "[Gmail]/Trash"
	e := newEnv(t, func(o *Options) { o.TLS = tc })
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{
		Kind: KindIMAP, Addr: g.ln.Addr().String(), Login: "member@gmail.test", Password: Secret(g.secret)}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone || rep.Failed != 1 || len(rep.Problems) != 1 || rep.Problems[0].Folder != "[Gmail]/Trash" ||
		!strings.Contains(rep.Problems[0].Reason, "would not open") {
		t.Fatalf("report: %+v", rep)
	}
	compare(t, e.contents(1), want)
}
