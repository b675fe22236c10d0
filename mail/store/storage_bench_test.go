package store

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/db"
)

var storageN = flag.Int("storage.n", 20000, "messages BenchmarkStorage delivers")

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkStorage delivers -storage.n realistic messages (corpus_test.go)
// into one mailbox from 16 SMTP-like sessions and reports what they cost
// on disk (the data directory against the messages' bytes; the database's
// largest tables), how long indexing the burst took, how long indexing a
// further burst of 1,000 takes, and, as sub-benchmarks, the latency of
// searches: a word in 1 of 10,000 messages, the same with TEXT, a sender,
// a word in about one message in five, and one in nearly all.
func BenchmarkStorage(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.IndexBacklog = 1 << 30 })
	ctx := b.Context()
	acct := e.account(b, 1)
	n := *storageN
	c := newCorpus(42)
	msgs := make([]string, n+1000)
	var msgBytes int64
	for i := range msgs {
		marker := ""
		if i%10000 == 42 {
			marker = fmt.Sprintf("reference quetzalcoatl-%d", i)
		}
		msgs[i] = c.message(i, marker)
		if i < n {
			msgBytes += int64(len(msgs[i]))
		}
	}
	deliver := func(msgs []string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan string)
		for range 16 {
			wg.Go(func() {
				for m := range next {
					if _, err := e.s.Deliver(ctx, []int64{acct}, strings.NewReader(m)); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, m := range msgs {
			next <- m
		}
		close(next)
		wg.Wait()
		return time.Since(start)
	}
	index := func() time.Duration {
		start := time.Now()
		if err := e.s.indexPending(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	took := deliver(msgs[:n])
	idx := index()
	b.Logf("delivered %d messages (%.1f MB, mean %d B) in %v; indexing them took %v (%.0f µs each)",
		n, float64(msgBytes)/1e6, msgBytes/int64(n), took.Round(time.Millisecond), idx.Round(time.Millisecond), float64(idx.Microseconds())/float64(n))
	e.report(b, msgBytes)

	deliver(msgs[n:])
	b.Logf("a further burst of 1,000 messages indexed in %v", index().Round(time.Millisecond))

	inbox := e.mailbox(b, acct, "INBOX").ID
	// Words of 7 letters or more: the most frequent (in nearly every
	// message) and one of rank 200 or below (in about one in five).
	var everywhere, common string
	for rank, w := range c.vocab {
		if len(w) >= 7 && everywhere == "" {
			everywhere = w
		}
		if len(w) >= 7 && rank >= 200 {
			common = w
			break
		}
	}
	for _, bm := range []struct {
		name string
		c    imap.SearchCriteria
		min  int
	}{
		{"BODY rare", imap.SearchCriteria{Body: []string{"quetzalcoatl-42"}}, 1},
		{"TEXT rare", imap.SearchCriteria{Text: []string{"quetzalcoatl"}}, 1},
		{"FROM", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: c.vocab[200] + "@"}}}, 1},
		{"BODY common", imap.SearchCriteria{Body: []string{common}}, n / 20},
		{"BODY everywhere", imap.SearchCriteria{Body: []string{everywhere}}, n / 2},
	} {
		b.Run(bm.name, func(b *testing.B) {
			cpu := cpuTime()
			var found int
			for b.Loop() {
				uids, err := e.s.Search(ctx, inbox, &bm.c)
				if err != nil || len(uids) < bm.min {
					b.Fatal(len(uids), err)
				}
				found = len(uids)
			}
			// The machine is shared: CPU time shows what wall time
			// would be on an idle one (more with verification on
			// both processors).
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(found), "found")
		})
	}
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report logs the data directory's size against msgBytes, with and without
// the write-ahead log, and the database's largest tables. On PostgreSQL
// the database is the store's tables and indexes in its schema (the
// server's own files and WAL left out), and the largest are listed
// separately, each table (with its TOAST) and each index.
func (e *env) report(b *testing.B, msgBytes int64) {
	blobs := dirBytes(b, e.blobDir)
	var dbBytes, wal int64
	query := `SELECT name, sum(pgsize) FROM dbstat GROUP BY name`
	if e.db.Engine() == db.Postgres {
		query = `SELECT c.relname, CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')`
	} else {
		if fi, err := os.Stat(e.dbh.Path); err == nil {
			dbBytes = fi.Size()
		}
		if fi, err := os.Stat(e.dbh.Path + "-wal"); err == nil {
			wal = fi.Size()
		}
	}
	rows, err := e.db.QueryContext(b.Context(), query)
	if err != nil {
		b.Fatal(err)
	}
	type table struct {
		name string
		size int64
	}
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.size); err != nil {
			b.Fatal(err)
		}
		tables = append(tables, t)
		if e.db.Engine() == db.Postgres {
			dbBytes += t.size
		}
	}
	rows.Close()
	total := blobs + dbBytes + wal
	b.Logf("%s: data %.1f MB = %.3f × the messages (blobs %.3f ×, database %.3f ×, of which WAL %.1f MB)",
		e.db.Engine(), float64(total)/1e6, float64(total)/float64(msgBytes), float64(blobs)/float64(msgBytes), float64(dbBytes+wal)/float64(msgBytes), float64(wal)/1e6)
	slices.SortFunc(tables, func(x, y table) int { return int(y.size - x.size) })
	var parts []string
	for _, t := range tables[:min(len(tables), 8)] {
		parts = append(parts, fmt.Sprintf("%s %.3f ×", t.name, float64(t.size)/float64(msgBytes)))
	}
	b.Logf("largest tables: %s", strings.Join(parts, ", "))
}
