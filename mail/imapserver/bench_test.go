package imapserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// quietEnv is a test server whose log shows warnings only: a benchmark
// signs in thousands of times.
func quietEnv(b *testing.B, cfg Config) *testEnv {
	b.Helper()
	return newEnvLog(b, cfg, slog.NewTextHandler(b.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// BenchmarkSelect100k times SELECT INBOX + UNSELECT over implicit TLS with
// imapclient, for an INBOX of 100,000 messages. The mailbox is built once:
// 1,000 distinct messages through the store's Deliver, then copied into
// INBOX itself with the store's Copy (what IMAP COPY does) until there are
// 100,000 message rows; SELECT reads message rows, not bodies.
//
// "alone": no other session has INBOX selected, so every SELECT loads the
// mailbox's UIDs from the store. "shared": a second connection keeps INBOX
// selected, so SELECT finds the live state in memory.
func BenchmarkSelect100k(b *testing.B) {
	const n, distinct = 100_000, 1_000
	e := quietEnv(b, Config{})
	m := e.member(b, "big@example.org")
	ctx := b.Context()
	start := time.Now()
	deliverMany(b, e, m, distinct, strings.Repeat("Minutes of the meeting. ", 20))
	mb, err := e.store.Mailbox(ctx, m.Account.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	uids, err := e.store.UIDs(ctx, mb.ID)
	if err != nil || len(uids) != distinct {
		b.Fatalf("%d UIDs after delivery, %v", len(uids), err)
	}
	for range n/distinct - 1 {
		if _, _, _, err := e.store.Copy(ctx, mb.ID, uids, m.Account.ID, "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built INBOX of %d messages in %v", n, time.Since(start).Round(time.Millisecond))

	dial := func() *imapclient.Client { return benchLogin(b, e, m) }
	c := dial()
	for _, shared := range []bool{false, true} {
		name := "alone"
		if shared {
			name = "shared"
			other := dial()
			if _, err := other.Select("INBOX", nil).Wait(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				data, err := c.Select("INBOX", nil).Wait()
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Unselect().Wait(); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
				if data.NumMessages != n {
					b.Fatalf("SELECT: %d messages, want %d", data.NumMessages, n)
				}
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// deliverMany delivers n distinct messages to m's INBOX through the store,
// four at a time.
func deliverMany(b *testing.B, e *testEnv, m *member, n int, body string) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				msg := message("Anna Example <anna@example.org>", m.Account.Login, fmt.Sprintf("m%d", i), body)
				if _, err := e.store.Deliver(b.Context(), []int64{m.Account.ID}, strings.NewReader(msg)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// benchLogin connects over implicit TLS and signs m in.
func benchLogin(b *testing.B, e *testEnv, m *member) *imapclient.Client {
	b.Helper()
	c, err := imapclient.DialTLS(e.imaps, e.options(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(m.Account.Login, m.secret).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkFetch100 times FETCH of 100 consecutive messages (of 1,000
// delivered ones) over IMAP, asking for flags only or for envelopes too, and
// the two store reads such a FETCH can be served from: Messages (all the
// metadata, with envelope and body structure decoded from JSON) and Flags.
// The session's Fetch calls Messages whatever the items asked for.
func BenchmarkFetch100(b *testing.B) {
	const n = 1000
	e := quietEnv(b, Config{})
	m := e.member(b, "fetch@example.org")
	deliverMany(b, e, m, n, strings.Repeat("Agenda for the branch meeting. ", 10))
	c := benchLogin(b, e, m)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *imap.FetchOptions
	}{
		{"imap/UID+FLAGS", &imap.FetchOptions{UID: true, Flags: true}},
		{"imap/UID+FLAGS+ENVELOPE+DATE+SIZE", &imap.FetchOptions{UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				start := uint32(1 + (i*100)%(n-100))
				i++
				msgs, err := c.Fetch(imap.SeqSet{{Start: start, Stop: start + 99}}, tc.opts).Collect()
				if err != nil || len(msgs) != 100 {
					b.Fatalf("FETCH: %d messages, %v", len(msgs), err)
				}
			}
		})
	}
	mb, err := e.store.Mailbox(b.Context(), m.Account.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	uids, err := e.store.UIDs(b.Context(), mb.ID)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("store/Messages", func(b *testing.B) {
		i := 0
		for b.Loop() {
			start := (i * 100) % (n - 100)
			i++
			if msgs, err := e.store.Messages(b.Context(), mb.ID, uids[start:start+100]); err != nil || len(msgs) != 100 {
				b.Fatal(len(msgs), err)
			}
		}
	})
	b.Run("store/Flags", func(b *testing.B) {
		i := 0
		for b.Loop() {
			start := (i * 100) % (n - 100)
			i++
			if flags, err := e.store.Flags(b.Context(), mb.ID, uids[start:start+100]); err != nil || len(flags) != 100 {
				b.Fatal(len(flags), err)
			}
		}
	})
}

// BenchmarkIdleMemory measures what the server holds for each signed-in
// connection that has selected INBOX and is in IDLE: the growth of the Go
// heap and goroutine stacks in use (after garbage collection) while N such
// connections are open, divided by N. The clients run in a child process
// (this test binary again, as TestIdleHelper), speaking raw IMAP lines over
// TLS, so nothing of theirs is counted. All connections are of one account
// and share INBOX's live state (its UID list, 10 messages here), so the
// figure is the per-connection cost: TLS and go-imap buffers, the session,
// its goroutines. SQLite's page cache (modernc's allocator, outside the Go
// heap) is not per connection and not counted; the RSS growth of the process
// is reported beside it for comparison.
func BenchmarkIdleMemory(b *testing.B) {
	raiseFileLimit(b)
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			e := quietEnv(b, Config{MaxConnsPerAddr: n + 10, MaxConnsPerAccount: n + 10})
			m := e.member(b, "idle@example.org")
			for i := range 10 {
				msg := message("anna@example.org", "idle@example.org", fmt.Sprintf("m%d", i), "Hello.")
				if _, err := e.store.Deliver(b.Context(), []int64{m.Account.ID}, strings.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
			// Warm up what is made once: TLS session ticket keys, the auth
			// cache, the database's prepared statements.
			runIdleClients(b, e, m, 20, func() {})
			var perConn, heapPer, stackPer, goroutines, rss, retained float64
			for b.Loop() {
				before := serverMemory()
				var during memory
				runIdleClients(b, e, m, n, func() {
					if got := e.openConns(); got != n {
						b.Fatalf("server has %d connections open, want %d", got, n)
					}
					during = serverMemory()
				})
				waitConns(b, e, 0)
				after := serverMemory()
				perConn = float64(during.inUse()-before.inUse()) / float64(n)
				heapPer = float64(int64(during.HeapInuse)-int64(before.HeapInuse)) / float64(n)
				stackPer = float64(int64(during.StackInuse)-int64(before.StackInuse)) / float64(n)
				goroutines = float64(during.goroutines-before.goroutines) / float64(n)
				rss = float64(during.rss-before.rss) / float64(n)
				retained = float64(after.inUse()-before.inUse()) / float64(n)
			}
			b.ReportMetric(perConn, "bytes/conn")
			b.ReportMetric(heapPer, "heap-bytes/conn")
			b.ReportMetric(stackPer, "stack-bytes/conn")
			b.ReportMetric(goroutines, "goroutines/conn")
			b.ReportMetric(rss, "rss-bytes/conn")
			b.ReportMetric(retained, "retained-bytes/conn")
		})
	}
}

type memory struct {
	runtime.MemStats
	goroutines int
	rss        int64
}

func (m memory) inUse() int64 { return int64(m.HeapInuse + m.StackInuse) }

// serverMemory collects garbage and reads the process's memory figures.
func serverMemory() memory {
	runtime.GC()
	runtime.GC()
	var m memory
	runtime.ReadMemStats(&m.MemStats)
	m.goroutines = runtime.NumGoroutine()
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.rss = kb << 10
			}
		}
	}
	return m
}

func waitConns(b *testing.B, e *testEnv, want int) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.openConns() != want {
		if time.Now().After(deadline) {
			b.Fatalf("server has %d connections open after 30 s, want %d", e.openConns(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func raiseFileLimit(tb testing.TB) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
	if lim.Cur < 12000 {
		tb.Skipf("file descriptor limit %d is too low for this benchmark; raise it (ulimit -n 65536)", lim.Cur)
	}
}

// runIdleClients starts n idling clients of m in a child process, calls
// measure once they all idle, and ends the child.
func runIdleClients(b *testing.B, e *testEnv, m *member, n int, measure func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("CAUCUS_IDLE_HELPER=%s %d %s %s", e.imaps, n, m.Account.Login, m.secret))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "idle-helper: ready" {
			ready = true
			break
		}
		b.Log(sc.Text())
	}
	if ready {
		measure()
	}
	stdin.Close() // the child closes its connections and exits
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil || !ready {
		b.Fatalf("idle helper: ready=%v, %v", ready, err)
	}
}

// TestIdleHelper is BenchmarkIdleMemory's client process: it opens n TLS
// connections, and on each signs in, selects INBOX and starts IDLE, then
// says "idle-helper: ready" and waits for its standard input to close.
func TestIdleHelper(t *testing.T) {
	spec := os.Getenv("CAUCUS_IDLE_HELPER")
	if spec == "" {
		t.Skip("client process of BenchmarkIdleMemory")
	}
	f := strings.Fields(spec)
	addr, login, secret := f[0], f[2], f[3]
	n, _ := strconv.Atoi(f[1])
	raiseFileLimit(t)
	conns := make([]*tls.Conn, n)
	errs := make(chan error, n)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				c, err := idleClient(addr, login, secret)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", k, err)
					return
				}
				conns[k] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("idle-helper: ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

func idleClient(addr, login, secret string) (*tls.Conn, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // loopback test server with a throwaway certificate
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	expect := func(prefix string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, prefix) {
				if strings.HasPrefix(line, prefix+"OK") || prefix == "+" || prefix == "* OK" {
					return nil
				}
				return fmt.Errorf("%q", strings.TrimSpace(line))
			}
		}
	}
	steps := []struct{ cmd, want string }{
		{"", "* OK"},
		{fmt.Sprintf("a LOGIN %s %s\r\n", imapQuote(login), imapQuote(secret)), "a "},
		{"b SELECT INBOX\r\n", "b "},
		{"c IDLE\r\n", "+"},
	}
	for _, s := range steps {
		if s.cmd != "" {
			if _, err := io.WriteString(c, s.cmd); err != nil {
				c.Close()
				return nil, err
			}
		}
		if err := expect(s.want); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", strings.TrimSpace(s.cmd), err)
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// imapQuote writes s as an IMAP quoted string (RFC 9051 4.3).
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
