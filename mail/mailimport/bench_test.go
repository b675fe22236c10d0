package mailimport

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// Benchmarks of the figures: an import from a local IMAP server
// (Dovecot) of 10 KB messages, at least 500 messages/s with bounded
// memory; an mbox read at at least 50 MB/s. Each reports its rate, the
// allocations per message and the process's peak RSS (VmHWM), and the
// load average, since the machine is shared.
//
//	go test ./mail/mailimport -run XXX -bench . -benchtime 1x

// BenchmarkImportIMAP imports 2,000 messages of 10 KB from Dovecot over
// TLS into a fresh store, per iteration, alternating with the peer,
// isync's mbsync copying the same mailbox into a Maildir (fsyncing, as
// by default), three rounds.
//
// CAUCUS_IMPORT_IMAP_MB makes the source that many MB of 100 KB messages
// and runs caucus alone, once, waiting for the full-text index to catch
// up before it reports the peak RSS (issue 17: "a 5 GB mailbox imports in
// under 200 MB of RSS"; CAUCUS_IMPORT_IMAP_MB=5120):
//
//	CAUCUS_IMPORT_IMAP_MB=5120 go test ./mail/mailimport -run XXX -bench ImportIMAP -benchtime 1x -timeout 1h
func BenchmarkImportIMAP(b *testing.B) {
	n, size, runs := 2000, 10<<10, 3
	big, _ := strconv.Atoi(os.Getenv("CAUCUS_IMPORT_IMAP_MB"))
	if big > 0 {
		size = 100 << 10
		n, runs = big<<20/size, 1
	}
	addr, tc, fx := startDovecot(b, n, size)
	for range runs {
		b.Run("caucus", func(b *testing.B) { benchCaucusIMAP(b, addr, tc, int64(n), big > 0) })
		if big == 0 {
			b.Run("mbsync", func(b *testing.B) { benchMbsync(b, addr, fx, int64(n)) })
		}
	}
}

// benchCaucusIMAP is one side of BenchmarkImportIMAP.
// With indexed, a run lasts until the full-text index has every message.
func benchCaucusIMAP(b *testing.B, addr string, tc *tls.Config, n int64, indexed bool) {
	var msgs int64
	var elapsed, cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, func(o *Options) { o.TLS = tc })
		reportCreate(b, e.dir)
		e.start()
		runtime.GC()
		resetPeakRSS()
		b.StartTimer()
		start, startCPU := time.Now(), cpuTime()
		id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "bench", Source: SourceSpec{
			Kind: KindIMAP, Addr: addr, Login: "member@dovecot.test", Password: "pw-dovecot-secret"}})
		if err != nil {
			b.Fatal(err)
		}
		rep := e.waitEnd(id)
		elapsed += time.Since(start)
		cpu += cpuTime() - startCPU
		if rep.Copied != n {
			b.Fatalf("copied %d of %d: %s", rep.Copied, n, rep.Job.Message)
		}
		msgs += rep.Copied
		b.StopTimer()
		if indexed {
			waitIndexed(b, e)
		}
		reportMapped(b, e.dir)
		e.stopRun()
		b.StartTimer()
	}
	b.ReportMetric(float64(msgs)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs), "cpu-µs/msg")
	reportRSS(b)
}

// benchMbsync is the peer's side: mbsync pulls the whole mailbox into a
// new Maildir.
func benchMbsync(b *testing.B, addr string, fx *maildirFixture, n int64) {
	mbsync := testtool.Need(b, "mbsync")
	_, port, _ := net.SplitHostPort(addr)
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		conf := filepath.Join(dir, "mbsyncrc")
		rc := fmt.Sprintf(`IMAPAccount src
Host localhost
Port %s
User member@dovecot.test
Pass pw-dovecot-secret
SSLType IMAPS
CertificateFile %s
AuthMechs PLAIN

IMAPStore far
Account src

MaildirStore near
Path %[3]s/mail/
Inbox %[3]s/mail/INBOX
SubFolders Verbatim

Channel c
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
`, port, fx.cert, dir)
		if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		out, err := exec.Command(mbsync, "-q", "-c", conf, "-a").CombinedOutput()
		elapsed += time.Since(start)
		if err != nil {
			b.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkMboxRead reads a generated mbox (messages of 10 to 200 KB)
// through the mbox source: listing and fetching every message into its
// spool, as a job does, without the store.
func BenchmarkMboxRead(b *testing.B) {
	path, size := benchMbox(b, 256<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		src, err := OpenMbox(MboxConfig{Paths: []string{path}})
		if err != nil {
			b.Fatal(err)
		}
		fs, _ := src.Folders(context.Background())
		err = src.List(context.Background(), fs[0], func(items []Item) error {
			return src.Fetch(context.Background(), fs[0], items, func(_ Item, body Body) error {
				defer body.Close()
				_, err := io.Copy(io.Discard, body)
				return err
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRSS(b)
}

// BenchmarkImportMbox imports a generated 128 MB mbox into a fresh
// store, per iteration: the whole job (store writes, fsyncs, parsing).
func BenchmarkImportMbox(b *testing.B) {
	path, size := benchMbox(b, 128<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		e.start()
		b.StartTimer()
		id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "bench", Source: SourceSpec{Kind: KindMbox, Paths: []string{path}}})
		if err != nil {
			b.Fatal(err)
		}
		if rep := e.waitEnd(id); rep.Job.State != StateDone || rep.Failed != 0 {
			b.Fatalf("report: %+v", rep.Job)
		}
		b.StopTimer()
		e.stopRun()
		b.StartTimer()
	}
	reportRSS(b)
}

// benchMbox writes an mbox of about size bytes.
func benchMbox(b *testing.B, size int64) (string, int64) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var written int64
	for i := 0; written < size; i++ {
		var mw mboxWriter
		mw.add(testMessage(i, 10<<10+(i%20)*10<<10, ""), "Inbox,Label "+strconv.Itoa(i%7))
		n, _ := w.Write(mw.b.Bytes())
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path, written
}

// reportRSS reports the process's peak resident memory and the load.
func reportRSS(b *testing.B) {
	runtime.GC()
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			b.ReportMetric(kb/1024, "peakRSS-MB")
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("load average: %s", strings.TrimSpace(string(load)))
}
