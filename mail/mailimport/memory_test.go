package mailimport

import (
	"archive/zip"
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/mail/store"
)

// TestImportMemoryBounded checks the "bounded memory": the heap
// an import keeps alive does not grow with the mailbox. A Takeout ZIP of
// a small mailbox and one of a mailbox twelve times larger, each with one
// 13 MB message in its middle, are imported in turn; the largest live
// heap seen (after each collection) while the larger one is imported may
// exceed the smaller one's by little, however much text it has (the text
// of imported messages once waited in memory for the indexer, up to
// 64 MB).
func TestImportMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 70 MB")
	}
	// Not parallel: the heap measured is the process's.
	small := memoryImportPeak(t, 4<<20)
	large := memoryImportPeak(t, 48<<20)
	t.Logf("largest live heap: %d MB importing 4 MB + 13 MB, %d MB importing 48 MB + 13 MB", small>>20, large>>20)
	if large > small+16<<20 {
		t.Errorf("importing 44 MB more mail kept %d MB more heap alive, want at most 16 MB", (large-small)>>20)
	}
}

// memoryImportPeak imports a Takeout ZIP of about size bytes of plain text
// mail and one 13 MB message, and returns the largest live heap seen.
func memoryImportPeak(t *testing.T, size int64) uint64 {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "takeout.zip")
	writeMemoryZip(t, zipPath, size)
	e := openEnv(t, dir, withTakeout(dir, newFakeFiles()))
	e.start()
	defer e.stopRun()
	runtime.GC()

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindTakeout, Paths: []string{zipPath}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	runtime.GC() // what the import left alive
	close(stop)
	wg.Wait()
	if rep.Job.State != StateDone || rep.Failed != 0 || rep.Copied == 0 {
		t.Fatalf("report: %+v, %d copied, %d failed", rep.Job, rep.Copied, rep.Failed)
	}
	return peak
}

// writeMemoryZip writes a Takeout ZIP whose mbox has about size bytes of
// plain text messages of 20 KB, and one message of 13 MB (a base64
// attachment) in the middle.
func writeMemoryZip(t *testing.T, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "Takeout/Mail/All mail Including Spam and Trash.mbox", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(17, uint64(size)))
	words := make([]string, 2000)
	for i := range words {
		b := make([]byte, 2+rng.IntN(9))
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(b)
	}
	var written int64
	for i := 0; written < size; i++ {
		fmt.Fprintf(bw, "From m%d@xxx Mon Nov 30 10:00:00 +0000 2026\nX-Gmail-Labels: Inbox\nFrom: s%d@example.org\nTo: member@caucus.test\nSubject: text %d\nMessage-ID: <mem-%d@example.org>\n\n", i, i, i, i)
		for n := 0; n < 20<<10; {
			line := ""
			for len(line) < 70 {
				line += words[rng.IntN(len(words))] + " "
			}
			bw.WriteString(line + "\n")
			n += len(line) + 1
		}
		bw.WriteString("\n")
		written += 20 << 10
		if i == 100 {
			writeLargeMessage(t, bw, rng)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeLargeMessage writes a message with a 10 MB attachment (13 MB in
// base64) to w, in mbox form.
func writeLargeMessage(t *testing.T, w io.Writer, rng *rand.Rand) {
	fmt.Fprintf(w, "From big@xxx Mon Nov 30 10:00:00 +0000 2026\nX-Gmail-Labels: Inbox\nFrom: big@example.org\nSubject: large\nMessage-ID: <mem-large@example.org>\n"+
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee the attachment\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
	raw := make([]byte, 57*1024)
	enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: w})
	for range (10 << 20) / len(raw) {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		if _, err := enc.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	enc.Close()
	fmt.Fprintf(w, "\n--b--\n\n")
}

// lineWriter cuts what is written into lines of 76 bytes.
type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.col == 76 {
			if _, err := l.w.Write([]byte{'\n'}); err != nil {
				return 0, err
			}
			l.col = 0
		}
		if _, err := l.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		l.col++
	}
	return len(p), nil
}

// TestImportIndexUnmapped checks that the database pages an import and
// the indexing of its messages read do not stay in the process's
// resident memory through SQLite's memory maps of the database file
// (issue 17: after a 1 GB import, the indexer's connections held 100 MB
// of a 66 MB database mapped, in four maps, and a 5 GB import's peak RSS
// was mostly such pages). A mailbox of 29 MB is imported with the index
// built during the import (a backlog of 100 bodies, as past the default
// 50,000 in a large import) and after it, until nothing waits; the
// database's pages resident in maps, sampled meanwhile, stay under a
// quarter of its size.
func TestImportIndexUnmapped(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 29 MB")
	}
	if dbtest.Engine() != db.SQLite {
		t.Skip("SQLite's memory map")
	}
	t.Parallel()
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "takeout.zip")
	writeMemoryZip(t, zipPath, 16<<20)
	e := openEnvStore(t, dir, store.Options{IndexBacklog: 100, IndexIdle: 50 * time.Millisecond}, withTakeout(dir, newFakeFiles()))
	e.start()
	dbPath := filepath.Join(dir, "caucus.db")

	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, mappedResident(t, dbPath))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	id, err := e.im.Start(t.Context(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindTakeout, Paths: []string{zipPath}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	for waiting := true; waiting; time.Sleep(50 * time.Millisecond) {
		if err := e.db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM blob_unindexed)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	peak = max(peak, mappedResident(t, dbPath))
	if rep.Job.State != StateDone || rep.Failed != 0 || rep.Copied == 0 {
		t.Fatalf("report: %+v, %d copied, %d failed", rep.Job, rep.Copied, rep.Failed)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages; database %d KB, at most %d KB of it resident in maps", rep.Copied, fi.Size()>>10, peak>>10)
	if peak > fi.Size()/4 {
		t.Errorf("%d KB of the database's pages resident in memory maps during the import and its indexing, want at most a quarter of its %d KB", peak>>10, fi.Size()>>10)
	}
}

// mappedResident returns how many bytes of the file at path are resident
// in this process through memory maps: the Rss of its mappings in
// /proc/self/smaps (proc(5)), once per map.
func mappedResident(t *testing.T, path string) int64 {
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Error(err)
		return 0
	}
	var n int64
	ours := false
	for line := range strings.SplitSeq(string(raw), "\n") {
		if isMappingLine(line) {
			f := strings.Fields(line)
			ours = len(f) >= 6 && strings.Join(f[5:], " ") == path
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ours && ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			n += kb << 10
		}
	}
	return n
}

// TestCountsUnmapped checks that reading a finished job's totals, a scan
// of a row per message it dealt with, leaves none of those pages resident
// in the database's memory maps (after a 5 GB import, the scan left one
// connection's map holding 103 MB, most of the peak RSS). A job of
// 60,000 items and as many placements is counted and reported on
// ([Importer.Report] reads the placements too).
func TestCountsUnmapped(t *testing.T) {
	if dbtest.Engine() != db.SQLite {
		t.Skip("SQLite's memory map")
	}
	t.Parallel()
	dir := t.TempDir()
	e := openEnv(t, dir)
	ctx := t.Context()
	const n = 60000
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mailimport_jobs (id, account_id, kind, source, started_by, state, created_at)
			VALUES (1, 1, 'takeout', 'x', 'admin', ?, 0)`, StateDone); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?)
			INSERT INTO mailimport_items (job_id, folder, source_id, status, message_id, blob_ref, size)
			SELECT 1, 'Takeout/Mail/All mail Including Spam and Trash.mbox', printf('%020d', n), ?, printf('<m%d@example.org>', n),
				lower(hex(randomblob(32))), 1000 FROM i`, n, statusCopied)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mailimport_folders (job_id, key, dest) VALUES (1, 'Inbox', 'INBOX')`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mailimport_placed (job_id, dest, blob_ref) SELECT 1, 'INBOX', blob_ref FROM mailimport_items`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ExecContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err) // the rows in the database file, where a map reads them
	}
	dbPath := filepath.Join(dir, "caucus.db")
	before := mappedResident(t, dbPath)
	c, err := e.im.counts(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.copied != n || c.bytes != n*1000 {
		t.Fatalf("counts: %+v, want %d copied of %d bytes", c, n, n*1000)
	}
	rep, err := e.im.Report(ctx, 1) // counts, and the placements per folder
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied != n || len(rep.Folders) != 1 || rep.Folders[0].Copied != n {
		t.Fatalf("report: %d copied, folders %+v; want %d in INBOX", rep.Copied, rep.Folders, n)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	after := mappedResident(t, dbPath)
	t.Logf("database %d KB; mapped %d KB before counting, %d KB after", fi.Size()>>10, before>>10, after>>10)
	if after > before+fi.Size()/8 {
		t.Errorf("counting and reporting a job's %d items left %d KB more of the database resident in maps, want at most an eighth of its %d KB", n, (after-before)>>10, fi.Size()>>10)
	}
}
