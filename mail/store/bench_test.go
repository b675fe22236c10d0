package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// bulkInsert puts n messages into a mailbox directly, for benchmarks: one
// transaction, n distinct blobs rows, with search text (and blob files,
// which search reads) from text unless it is nil. It keeps the mailbox's
// counters right.
func bulkInsert(tb testing.TB, e *env, mailboxID int64, n int, text func(i int) (subject, body string)) {
	tb.Helper()
	ctx := tb.Context()
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		blobStmt, err := tx.PrepareContext(ctx, `INSERT INTO blobs (ref, size, envelope, structure, created_at) VALUES (?, ?, ?, ?, 0) RETURNING id`)
		if err != nil {
			return err
		}
		textStmt, err := tx.PrepareContext(ctx, `INSERT INTO message_text (rowid, body) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		hdrStmt, err := tx.PrepareContext(ctx, `INSERT INTO message_headers (rowid, fields) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		msgStmt, err := tx.PrepareContext(ctx, `INSERT INTO messages (mailbox_id, uid, blob_id, flags, internal_date, internal_day, sent_day, size, modseq)
			VALUES (?, ?, ?, ?, ?, ?, ?, 2000, 2)`)
		if err != nil {
			return err
		}
		for i := range n {
			subject, body := fmt.Sprint("message ", i), ""
			if text != nil {
				subject, body = text(i)
			}
			env, _ := encodeEnvelope(&imap.Envelope{Subject: subject, From: []imap.Address{{Name: "Anna", Mailbox: "anna", Host: "example.org"}}})
			bs, _ := encodeStructure(&imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"}, Size: 1000, Text: &imap.BodyStructureText{NumLines: 20}})
			ref := fmt.Sprintf("%064x", i+1<<40)
			if text != nil {
				ref = string(benchBlob(tb, e, simple(subject, body)))
			}
			var id int64
			if err := blobStmt.QueryRowContext(ctx, ref, 2000, env, bs).Scan(&id); err != nil {
				return err
			}
			if text != nil {
				if _, err := textStmt.ExecContext(ctx, id, fold(body)); err != nil {
					return err
				}
				if _, err := hdrStmt.ExecContext(ctx, id, headerText([]headerField{{"subject", fold(subject)}, {"from", "anna <anna@example.org>"}})); err != nil {
					return err
				}
			}
			date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
			var flags int64
			if i%3 != 0 {
				flags = bitSeen
			}
			if _, err := msgStmt.ExecContext(ctx, mailboxID, i+1, id, flags, date.Unix(), dayOf(date), dayOf(date)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET uid_next = ?1 + 1, highest_modseq = 2, messages = ?1,
			unseen = (SELECT count(*) FROM messages WHERE mailbox_id = ?2 AND flags & 1 = 0), size = ?1 * 2000 WHERE id = ?2`, n, mailboxID)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// benchBlob writes raw into the blob store as Put would, without the
// fsyncs, and returns its reference.
func benchBlob(tb testing.TB, e *env, raw string) blob.Ref {
	tb.Helper()
	sum := sha256.Sum256([]byte(raw))
	ref := blob.Ref(hex.EncodeToString(sum[:]))
	p := e.blobs.Path(ref)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(raw), 0o600); err != nil {
		tb.Fatal(err)
	}
	return ref
}

// words makes varied text for the search benchmark.
var words = strings.Fields(`budget canvassing posters rally venue flyer agenda meeting volunteers
	donation press release campaign election district council members newsletter training
	leaflets banner microphone schedule transport catering security permit statement`)

func benchText(i int) (string, string) {
	var b strings.Builder
	for j := range 60 {
		b.WriteString(words[(i*7+j*13+j*j)%len(words)])
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "ticket-%d", i)
	return fmt.Sprintf("Weekly update %d: %s", i, words[i%len(words)]), b.String()
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := newEnv(b)
			acct := e.account(b, 1)
			body := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", size/45)
			ctx := b.Context()
			i := 0
			b.SetBytes(int64(size))
			for b.Loop() {
				raw := simple(fmt.Sprint("message ", i), body)
				i++
				if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(raw), nil, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("%drecipients", n), func(b *testing.B) {
			e := newEnv(b)
			var accts []int64
			for i := range n {
				accts = append(accts, e.account(b, int64(i+1)))
			}
			ctx := b.Context()
			body := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 100)
			i := 0
			for b.Loop() {
				raw := simple(fmt.Sprint("message ", i), body)
				i++
				if _, err := e.s.Deliver(ctx, accts, strings.NewReader(raw)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeliverParallel delivers from 50 goroutines, as 50 SMTP
// sessions do: the deliveries share commits (group commit).
func BenchmarkDeliverParallel(b *testing.B) {
	e := newEnv(b)
	acct := e.account(b, 1)
	ctx := b.Context()
	body := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 230) // 10 KB
	var n atomic.Int64
	b.SetParallelism(25) // × GOMAXPROCS 2 = 50
	trips := e.db.RoundTrips()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			raw := simple(fmt.Sprint("message ", n.Add(1)), body)
			if _, err := e.s.Deliver(ctx, []int64{acct}, strings.NewReader(raw)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if trips := e.db.RoundTrips() - trips; trips > 0 { // PostgreSQL
		b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	}
}

// env100k is a store with 100,000 messages in INBOX, indexed for search
// if withText.
func env100k(b *testing.B, withText bool) (*env, Mailbox) {
	b.Helper()
	e := newEnv(b)
	acct := e.account(b, 1)
	mb := e.mailbox(b, acct, "INBOX")
	start := time.Now()
	var text func(int) (string, string)
	if withText {
		text = benchText
	}
	bulkInsert(b, e, mb.ID, 100_000, text)
	b.Logf("inserted 100,000 messages in %v", time.Since(start))
	return e, e.mailbox(b, acct, "INBOX")
}

func BenchmarkUIDs100k(b *testing.B) {
	e, mb := env100k(b, false)
	ctx := b.Context()
	for b.Loop() {
		uids, err := e.s.UIDs(ctx, mb.ID)
		if err != nil || len(uids) != 100_000 {
			b.Fatal(len(uids), err)
		}
	}
}

func BenchmarkMailbox100k(b *testing.B) {
	e, mb := env100k(b, false)
	ctx := b.Context()
	for b.Loop() {
		got, err := e.s.Mailbox(ctx, mb.AccountID, "INBOX")
		if err != nil || got.Messages != 100_000 || got.Unseen != 33_334 {
			b.Fatal(got, err)
		}
	}
}

func BenchmarkMessages100(b *testing.B) {
	e, mb := env100k(b, false)
	ctx := b.Context()
	uids := make([]imap.UID, 100)
	for i := range uids {
		uids[i] = imap.UID(50_000 + i)
	}
	for b.Loop() {
		msgs, err := e.s.Messages(ctx, mb.ID, uids)
		if err != nil || len(msgs) != 100 {
			b.Fatal(len(msgs), err)
		}
	}
}

func BenchmarkSearchText(b *testing.B) {
	e, mb := env100k(b, true)
	ctx := b.Context()
	for _, bm := range []struct {
		name string
		c    imap.SearchCriteria
		min  int
	}{
		{"BODY rare", imap.SearchCriteria{Body: []string{"ticket-4242"}}, 1},
		{"BODY none", imap.SearchCriteria{Body: []string{"no such phrase"}}, 0},
		{"BODY common", imap.SearchCriteria{Body: []string{"microphone"}}, 1000},
		{"TEXT rare", imap.SearchCriteria{Text: []string{"ticket-4242"}}, 1},
		{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "update 777:"}}}, 1},
		{"BODY short", imap.SearchCriteria{Body: []string{"zq"}}, 0},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, 33_334},
		{"SINCE UNSEEN", imap.SearchCriteria{Since: day(2026, 2, 15), NotFlag: []imap.Flag{imap.FlagSeen}}, 1},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				uids, err := e.s.Search(ctx, mb.ID, &bm.c)
				if err != nil || len(uids) < bm.min {
					b.Fatal(len(uids), err)
				}
			}
		})
	}
}

// BenchmarkStoreFlagsAll times STORE 1:* of \Seen on a mailbox of 2,000
// messages, a third of them unseen at first: +FLAGS and -FLAGS in turn,
// so that each STORE changes every message it does not already match.
func BenchmarkStoreFlagsAll(b *testing.B) {
	e := newEnv(b)
	acct := e.account(b, 1)
	in := e.mailbox(b, acct, "INBOX")
	bulkInsert(b, e, in.ID, 2000, nil)
	uids := make([]imap.UID, 2000)
	for i := range uids {
		uids[i] = imap.UID(i + 1)
	}
	ops := []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel}
	i := 0
	for b.Loop() {
		if _, _, err := e.s.StoreFlags(b.Context(), in.ID, uids, ops[i%2], []imap.Flag{imap.FlagSeen, "$Work"}, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSearchAccounts times the searches of imapload -steady: 16
// accounts of 100 messages each, appended one by one (so the full-text
// index has the segments steady use leaves), subjects of three common
// words, and a SUBJECT word or a BODY token searched in one mailbox; the
// index also holds 20,000 messages of another account, as a server's
// does (other members' mail, bodies expunged but not yet collected).
func BenchmarkSearchAccounts(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	other := e.mailbox(b, e.account(b, 99), "INBOX")
	bulkInsert(b, e, other.ID, 20000, func(i int) (string, string) {
		subject := fmt.Sprintf("Re: %s %s", words[i%len(words)], words[(i*7)%len(words)])
		_, body := benchText(i)
		return subject, body
	})
	var inbox Mailbox
	for a := range 16 {
		acct := e.account(b, int64(a+1))
		for i := range 100 {
			subject := fmt.Sprintf("Re: %s %s %s", words[(a*7+i*3)%len(words)], words[(i*5+a)%len(words)], words[(i*i+a*3)%len(words)])
			_, body := benchText(a*100 + i)
			raw := simple(subject, fmt.Sprintf("%s\nReference: tok%dq%d\n%s", body, a, i, body))
			if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(raw), nil, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
		inbox = e.mailbox(b, acct, "INBOX")
	}
	for _, bm := range []struct {
		name string
		c    imap.SearchCriteria
		want int // at least
	}{
		{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "rally"}}}, 1},
		{"BODY token", imap.SearchCriteria{Body: []string{"tok15q42"}}, 1},
	} {
		// "no header cache": header criteria as before the cache, each
		// candidate's body read, the index asked whatever the mailbox.
		for _, cache := range []bool{true, false} {
			name := bm.name
			if !cache {
				name += "/no header cache"
			}
			b.Run(name, func(b *testing.B) {
				headers := e.s.headers
				if !cache {
					e.s.headers = nil
					defer func() { e.s.headers = headers }()
				}
				cpu0 := cpuTime()
				for b.Loop() {
					uids, err := e.s.Search(ctx, inbox.ID, &bm.c)
					if err != nil || len(uids) < bm.want {
						b.Fatal(len(uids), err)
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// BenchmarkSelectQueries times the store's queries a rev1 client's SELECT
// and a SEARCH run besides the mailbox's row (keywords for FLAGS, first
// unseen, recent count, the index backlog check) on a mailbox of 100
// messages, with the CPU time per op: they run on every SELECT.
func BenchmarkSelectQueries(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	acct := e.account(b, 1)
	in := e.mailbox(b, acct, "INBOX")
	bulkInsert(b, e, in.ID, 100, nil)
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := e.s.Keywords(ctx, in.ID, 500); err != nil {
			b.Fatal(err)
		}
		if _, err := e.s.FirstUnseen(ctx, in.ID); err != nil {
			b.Fatal(err)
		}
		if _, err := e.s.CountFrom(ctx, in.ID, 50); err != nil {
			b.Fatal(err)
		}
		if err := e.s.indexPending(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// steadyRounds is how many rounds (APPEND, then EXPUNGE of the round
// before's message) BenchmarkSearchSteady runs before it searches: the
// expunged bodies stay in the full-text index until GC.
var steadyRounds = flag.Int("steady.rounds", 4000, "rounds BenchmarkSearchSteady runs before searching")

// BenchmarkSearchSteady times the searches of imapload -steady on an index
// built the way that load builds it: 16 accounts with a mailbox of 20
// messages, then rounds of an APPEND to one of them and an EXPUNGE of the
// message appended the round before, the indexer taking the appended
// bodies a few at a time (indexUrgent, as its 50 ms gathering does), and
// the expunged bodies staying in the index until garbage collection. It
// reports the segments the two FTS5 tables are made of.
func BenchmarkSearchSteady(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	const accounts, base, gathered = 16, 20, 4
	rounds := *steadyRounds
	rng := rand.New(rand.NewPCG(1, 2))
	appendOne := func(acct int64, i int, token string) imap.UID {
		subject := fmt.Sprintf("Re: %s %s %s", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		_, body := benchText(i)
		_, uid, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(simple(subject, body+"\nReference: "+token+"\n"+body)), nil, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		return uid
	}
	inboxes := make([]Mailbox, accounts)
	for a := range accounts {
		acct := e.account(b, int64(a+1))
		for i := range base {
			appendOne(acct, a*base+i, fmt.Sprintf("fill%dq%d", a, i))
		}
		inboxes[a] = e.mailbox(b, acct, "INBOX")
	}
	if err := e.s.indexPending(ctx); err != nil {
		b.Fatal(err)
	}
	var idxTime time.Duration
	last := make([]imap.UID, accounts)
	var token string
	for r := range rounds {
		a := r % accounts
		token = fmt.Sprintf("zx%dq%08x", a, rng.Uint32())
		uid := appendOne(int64(a+1), r, token)
		if last[a] != 0 { // EXPUNGE removes only messages marked \Deleted
			if _, _, err := e.s.StoreFlags(ctx, inboxes[a].ID, []imap.UID{last[a]}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := e.s.Expunge(ctx, inboxes[a].ID, []imap.UID{last[a]}); err != nil {
				b.Fatal(err)
			}
		}
		last[a] = uid
		if r%gathered == gathered-1 {
			t0 := time.Now()
			if err := e.s.indexUrgent(ctx); err != nil {
				b.Fatal(err)
			}
			idxTime += time.Since(t0)
		}
	}
	b.Logf("indexing the appended bodies took %v", idxTime)
	for _, t := range []string{"message_text", "message_headers"} {
		n, err := ftsSegments(ctx, e.db, t)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d segments", t, n)
	}
	inbox := inboxes[(rounds-1)%accounts]
	for _, bm := range []struct {
		name string
		c    imap.SearchCriteria
		want int // at least
	}{
		{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "rally"}}}, 0},
		// a word of every message's header fields, as imapload's "council"
		// (To: Branch Council) is: the index lists every body ever indexed
		{"SUBJECT common", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "example"}}}, 0},
		{"BODY token", imap.SearchCriteria{Body: []string{token}}, 1},
	} {
		// "no header cache": header criteria as before the cache, each
		// candidate's body read, the index asked whatever the mailbox.
		for _, cache := range []bool{true, false} {
			name := bm.name
			if !cache {
				name += "/no header cache"
			}
			b.Run(name, func(b *testing.B) {
				headers := e.s.headers
				if !cache {
					e.s.headers = nil
					defer func() { e.s.headers = headers }()
				}
				cpu0 := cpuTime()
				for b.Loop() {
					uids, err := e.s.Search(ctx, inbox.ID, &bm.c)
					if err != nil || len(uids) < bm.want {
						b.Fatal(len(uids), err)
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
