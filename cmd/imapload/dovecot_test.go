package main

// The steady-session benchmark of issue 13: the tool's -steady loop drives
// caucus's IMAP server (in this process, as `caucus serve` builds it) and,
// in the same run, a Dovecot of its own (Debian's dovecot-imapd, maildir,
// default fsync settings, listening on 127.0.0.1 only), over implicit TLS,
// with the runs alternating between the two so that the load of the rest
// of the machine falls on both alike. It is a measurement, not a test: it
// runs only when CAUCUS_IMAPLOAD is set, and prints the figures.
//
//	CAUCUS_IMAPLOAD=1 go test ./cmd/imapload -run TestDovecot -v -timeout 60m
//
// Optional: CAUCUS_IMAPLOAD_CLIENTS ("8,50"), CAUCUS_IMAPLOAD_RUNS (3),
// CAUCUS_IMAPLOAD_DURATION ("20s"), CAUCUS_IMAPLOAD_ACCOUNTS (16; client i
// uses account i mod n), CAUCUS_IMAPLOAD_BASE (messages per mailbox, 100),
// CAUCUS_IMAPLOAD_TARGETS ("caucus,dovecot"), CAUCUS_IMAPLOAD_PYTHON (n:
// also run testdata/steady.py, the same loop with Python's imaplib, n times
// with 8 clients against each, alternately, as an outside cross-check),
// CAUCUS_IMAPLOAD_TRACE (set: take apart where caucus's STORE, EXPUNGE
// and APPEND writes spent their time, per run, see trace_test.go), and
// CAUCUS_IMAPLOAD_PROFILE (a directory: a CPU profile of each caucus run,
// and block and mutex profiles of the whole test; with the imaplib runs
// also their own CPU profiles and block and mutex profiles before and
// after them). The tool runs as a
// child process (this test binary again), so that the profiles hold
// caucus alone. The Dovecot side needs root (its master runs as root and
// drops to the users of the installed package).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dovecottest"
	"github.com/caucus-org/caucus/mail/imapserver"
)

// TestMain runs the tool itself when IMAPLOAD_AS_TOOL is set: the
// benchmark starts this binary again as its load generator.
func TestMain(m *testing.M) {
	if os.Getenv("IMAPLOAD_AS_TOOL") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envPositive(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// imapTarget is a server under load: where it listens and its accounts.
type imapTarget struct {
	name  string
	addr  string // implicit TLS
	users string // file of "login password" lines
}

func TestDovecot(t *testing.T) {
	if os.Getenv("CAUCUS_IMAPLOAD") == "" {
		t.Skip("a benchmark: set CAUCUS_IMAPLOAD=1 to run it")
	}
	runs := envPositive(t, "CAUCUS_IMAPLOAD_RUNS", 3)
	accounts := envPositive(t, "CAUCUS_IMAPLOAD_ACCOUNTS", 16)
	base := envPositive(t, "CAUCUS_IMAPLOAD_BASE", 100)
	duration, err := time.ParseDuration(envString("CAUCUS_IMAPLOAD_DURATION", "20s"))
	if err != nil {
		t.Fatal(err)
	}
	var clients []int
	for s := range strings.SplitSeq(envString("CAUCUS_IMAPLOAD_CLIENTS", "8,50"), ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CAUCUS_IMAPLOAD_CLIENTS: %q", s)
		}
		clients = append(clients, n)
	}
	pyRuns := 0
	if os.Getenv("CAUCUS_IMAPLOAD_PYTHON") != "" {
		pyRuns = envPositive(t, "CAUCUS_IMAPLOAD_PYTHON", 1)
	}
	profDir := os.Getenv("CAUCUS_IMAPLOAD_PROFILE")
	if profDir != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		runtime.SetMutexProfileFraction(10)
		t.Cleanup(func() { writeProfiles(t, profDir) })
	}

	h := openCaucus(t, t.TempDir(), imapserver.Config{MaxConnsPerAddr: 10000, MaxConnsPerAccount: 10000},
		slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go h.store.RunIndexer(ctx) // as caucus serve runs it
	var targets []imapTarget
	for _, name := range strings.Split(envString("CAUCUS_IMAPLOAD_TARGETS", "caucus,dovecot"), ",") {
		switch name {
		case "caucus":
			targets = append(targets, caucusTarget(t, h, accounts))
		case "dovecot":
			targets = append(targets, dovecotTarget(t, h, accounts))
		default:
			t.Fatalf("CAUCUS_IMAPLOAD_TARGETS: unknown %q", name)
		}
	}

	type key struct {
		target  string
		clients int
	}
	results := map[key][]summary{}
	var traces strings.Builder // CAUCUS_IMAPLOAD_TRACE
	for _, n := range clients {
		for run := range runs {
			for _, tg := range targets {
				var stop func()
				if profDir != "" && tg.name == "caucus" {
					stop = startCPUProfile(t, filepath.Join(profDir, fmt.Sprintf("cpu-%d-%d.pprof", n, run+1)))
				}
				var tr *traceRun
				if tg.name == "caucus" {
					tr = beginTrace(h)
				}
				commits, cpu, heap := h.store.CommitStats(), toolCPU(), heapAllocs()
				s := runTool(t, tg, n, base, duration)
				if stop != nil {
					stop()
				}
				tr.end(&traces, fmt.Sprintf("caucus, %d clients, run %d", n, run+1))
				perSec := s.Ops[len(s.Ops)-1].PerSec
				t.Logf("%s, %d clients, run %d: %.0f ops/s, %d errors (load %s)%s", tg.name, n, run+1, perSec, s.Errors, loadAvg(),
					caucusCost(tg, toolCPU()-cpu, heapAllocs().minus(heap), perSec*duration.Seconds(), commits, h.store.CommitStats()))
				results[key{tg.name, n}] = append(results[key{tg.name, n}], s)
			}
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "imapload -steady, %d accounts, %d messages per mailbox, %s per run, implicit TLS; load average now %s\n",
		accounts, base, duration, loadAvg())
	for _, n := range clients {
		for _, tg := range targets {
			writeSummaries(&report, fmt.Sprintf("%s, %d clients", tg.name, n), results[key{tg.name, n}])
		}
		if len(targets) == 2 {
			writeRatios(&report, n, results[key{targets[0].name, n}], results[key{targets[1].name, n}])
		}
	}
	if pyRuns > 0 {
		writePython(t, &report, &traces, targets, h, pyRuns, duration, profDir)
	}
	if traces.Len() > 0 {
		t.Log("\n" + traces.String())
	}
	t.Log("\n" + report.String())
	for k, ss := range results {
		for _, s := range ss {
			if s.Errors > 0 || s.Lost > 0 {
				t.Errorf("%s, %d clients: %d errors, %d clients lost: %q", k.target, k.clients, s.Errors, s.Lost, s.Samples)
			}
		}
	}
}

// caucusCost says, for caucus, the CPU time this process (the server:
// the load tool is a child process) used per operation, the figure that
// the rest of the machine's load disturbs least, and how many writes
// (STORE, EXPUNGE, APPEND) its group commits carried between before and
// after, so how many shared each WAL sync, and how many lazy commits the
// indexer made meanwhile and how long each held the commit turn. It also
// gives the heap allocated per operation and the garbage collections per
// thousand operations (heap: the run's [heapAllocs] difference).
func caucusCost(tg imapTarget, cpu time.Duration, heap allocs, ops float64, before, after db.GroupStats) string {
	if tg.name != "caucus" || ops == 0 {
		return ""
	}
	s := fmt.Sprintf("; server CPU %.3f ms/op, %.1f KB allocated/op, %.2f GCs per 1000 ops", float64(cpu.Microseconds())/1000/ops,
		float64(heap.bytes)/1024/ops, float64(heap.cycles)*1000/ops)
	if commits, jobs := after.Commits-before.Commits, after.Jobs-before.Jobs; commits > 0 {
		s += fmt.Sprintf(", %d writes in %d commits, %.2f a commit", jobs, commits, float64(jobs)/float64(commits))
	}
	if lazy := after.Turns.Lazy - before.Turns.Lazy; lazy > 0 {
		s += fmt.Sprintf("; indexer: %d lazy commits, %.2f ms each, %.2f of it indexing", lazy,
			millis(after.Turns.LazyTime-before.Turns.LazyTime)/float64(lazy), millis(after.Turns.LazyWork-before.Turns.LazyWork)/float64(lazy))
	}
	return s
}

// allocs are the process's heap allocations and garbage collections so
// far (runtime/metrics).
type allocs struct{ bytes, cycles uint64 }

// heapAllocs reads the process's allocs.
func heapAllocs() allocs {
	m := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(m)
	return allocs{m[0].Value.Uint64(), m[1].Value.Uint64()}
}

// minus is a-b.
func (a allocs) minus(b allocs) allocs { return allocs{a.bytes - b.bytes, a.cycles - b.cycles} }

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// runTool runs this binary as the tool against tg and returns its figures.
func runTool(t *testing.T, tg imapTarget, clients, base int, duration time.Duration) summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), duration+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-addr", tg.addr, "-tls", "-insecure-skip-verify", "-users", tg.users,
		"-clients", strconv.Itoa(clients), "-duration", duration.String(), "-steady", "-base", strconv.Itoa(base), "-json")
	cmd.Env = append(os.Environ(), "IMAPLOAD_AS_TOOL=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var s summary
	if jerr := json.Unmarshal(stdout.Bytes(), &s); jerr != nil {
		t.Fatalf("%s: imapload: %v, %v\n%s%s", tg.name, err, jerr, stdout.Bytes(), stderr.Bytes())
	}
	return s
}

// writePython runs testdata/steady.py with 8 clients runs times against
// each target, alternately, and writes the figures and, with two targets,
// their ratios, and for caucus its CPU time per operation and commits (h
// is its harness, which also has the CA certificate the clients trust).
// With profDir it writes a CPU profile of caucus during its
// imaplib runs (cpu-python-N.pprof) and the block and mutex profiles
// before and after them (block-python-0.pprof, block-python.pprof, …:
// compare with pprof -diff_base).
func writePython(t *testing.T, report, traces *strings.Builder, targets []imapTarget, h *harness, runs int, duration time.Duration, profDir string) {
	python := testtool.Need(t, "python3")
	if profDir != "" {
		writeProfilesNamed(t, profDir, "-python-0")
	}
	results := make([][]summary, len(targets))
	for run := range runs {
		for i, tg := range targets {
			var stop func()
			if profDir != "" && tg.name == "caucus" {
				stop = startCPUProfile(t, filepath.Join(profDir, fmt.Sprintf("cpu-python-%d.pprof", run+1)))
			}
			var tr *traceRun
			if tg.name == "caucus" {
				tr = beginTrace(h)
			}
			commits, cpu, heap := h.store.CommitStats(), toolCPU(), heapAllocs()
			s := runPython(t, python, tg, h.certFile, 8, duration)
			if stop != nil {
				stop()
			}
			tr.end(traces, fmt.Sprintf("caucus, 8 clients, imaplib run %d", run+1))
			perSec := s.Ops[len(s.Ops)-1].PerSec
			t.Logf("%s, 8 clients, imaplib run %d: %.0f ops/s, %d errors (load %s)%s", tg.name, run+1, perSec, s.Errors, loadAvg(),
				caucusCost(tg, toolCPU()-cpu, heapAllocs().minus(heap), perSec*duration.Seconds(), commits, h.store.CommitStats()))
			results[i] = append(results[i], s)
		}
	}
	if profDir != "" {
		writeProfilesNamed(t, profDir, "-python")
	}
	for i, tg := range targets {
		writeSummaries(report, fmt.Sprintf("%s, 8 clients, Python imaplib", tg.name), results[i])
	}
	if len(targets) == 2 {
		writeRatios(report, 8, results[0], results[1])
	}
}

// runPython runs testdata/steady.py, the same loop with imaplib.
func runPython(t *testing.T, python string, tg imapTarget, caFile string, clients int, duration time.Duration) summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), duration+5*time.Minute)
	defer cancel()
	host, port, _ := net.SplitHostPort(tg.addr)
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "steady.py"), host, port, caFile, tg.users,
		strconv.Itoa(clients), strconv.FormatFloat(duration.Seconds(), 'f', 0, 64))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var s summary
	if jerr := json.Unmarshal(stdout.Bytes(), &s); jerr != nil || err != nil {
		t.Fatalf("%s: steady.py: %v, %v\n%s%s", tg.name, err, jerr, stdout.Bytes(), stderr.Bytes())
	}
	if s.Errors > 0 {
		t.Errorf("%s: steady.py: %d errors: %q", tg.name, s.Errors, s.Samples)
	}
	return s
}

// writeSummaries writes one line per operation: ops/s of each run, then
// the median run's p50 and p99.
func writeSummaries(b *strings.Builder, title string, ss []summary) {
	if len(ss) == 0 {
		return
	}
	fmt.Fprintf(b, "%s (busy cores: %s; tool: %s)\n", title, joinRuns(ss, func(s summary) float64 { return s.Busy }, "%.2f"),
		joinRuns(ss, func(s summary) float64 { return s.ToolCPU }, "%.2f"))
	fmt.Fprintf(b, "  %-14s %-26s %-22s %s\n", "command", "ops/s per run", "p50 ms per run", "p99 ms per run")
	for _, o := range ss[0].Ops {
		get := func(f func(opSummary) float64) func(summary) float64 {
			return func(s summary) float64 { x, _ := s.opNamed(o.Name); return f(x) }
		}
		fmt.Fprintf(b, "  %-14s %-26s %-22s %s\n", o.Name,
			joinRuns(ss, get(func(x opSummary) float64 { return x.PerSec }), "%.1f"),
			joinRuns(ss, get(func(x opSummary) float64 { return x.P50 }), "%.1f"),
			joinRuns(ss, get(func(x opSummary) float64 { return x.P99 }), "%.1f"))
	}
}

func joinRuns(ss []summary, f func(summary) float64, format string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf(format, f(s))
	}
	return strings.Join(parts, " ")
}

// writeRatios writes, for each command, a's ops/s over b's in each pair
// of runs, and a's median p99 over b's.
func writeRatios(b *strings.Builder, clients int, a, bs []summary) {
	n := min(len(a), len(bs))
	if n == 0 {
		return
	}
	fmt.Fprintf(b, "%s / %s, %d clients: ops/s ratio per run, p99 ratio of the medians\n", "caucus", "dovecot", clients)
	for _, o := range a[0].Ops {
		var ratios []string
		var pa, pb []float64
		for i := range n {
			x, _ := a[i].opNamed(o.Name)
			y, ok := bs[i].opNamed(o.Name)
			if !ok || y.PerSec == 0 {
				continue
			}
			ratios = append(ratios, fmt.Sprintf("%.2f", x.PerSec/y.PerSec))
			pa, pb = append(pa, x.P99), append(pb, y.P99)
		}
		p99 := "-"
		if m := median(pb); m > 0 {
			p99 = fmt.Sprintf("%.2f", median(pa)/m)
		}
		fmt.Fprintf(b, "  %-14s %-26s %s\n", o.Name, strings.Join(ratios, " "), p99)
	}
}

// median returns the median of xs.
func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)/2]
}

func startCPUProfile(t *testing.T, name string) (stop func()) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func writeProfiles(t *testing.T, dir string) { writeProfilesNamed(t, dir, "") }

// writeProfilesNamed writes the block and mutex profiles so far to dir,
// as block<suffix>.pprof and mutex<suffix>.pprof.
func writeProfilesNamed(t *testing.T, dir, suffix string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	for _, name := range []string{"block", "mutex"} {
		f, err := os.Create(filepath.Join(dir, name+suffix+".pprof"))
		if err != nil {
			t.Error(err)
			return
		}
		if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
			t.Error(err)
		}
		f.Close()
	}
}

// caucusTarget enrols n accounts with mail app passwords on the in-process
// caucus and serves its IMAP.
func caucusTarget(t *testing.T, h *harness, n int) imapTarget {
	imaps, _ := h.serve(t)
	var lines strings.Builder
	for i := range n {
		login, secret := h.member(t, fmt.Sprintf("load%d@localhost", i+1))
		fmt.Fprintf(&lines, "%s %s\n", login, secret)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return imapTarget{name: "caucus", addr: imaps, users: users}
}

// dovecotTarget starts a Dovecot of its own (internal/testtool/dovecottest:
// maildir, default fsync, implicit TLS on 127.0.0.1 with the harness's
// certificate) with n accounts, and writes their logins and passwords.
func dovecotTarget(t *testing.T, h *harness, n int) imapTarget {
	users := map[string]string{}
	var lines strings.Builder
	for i := range n {
		login, pass := fmt.Sprintf("load%d@dovecot.test", i+1), fmt.Sprintf("pw-%x", random(12))
		users[login] = pass
		fmt.Fprintf(&lines, "%s %s\n", login, pass)
	}
	srv := dovecottest.Start(t, dovecottest.Options{
		Users: users, CertFile: h.certFile, KeyFile: h.keyFile,
		CreateSpecial: true, MaxUserIPConns: 1000,
	})
	usersFile := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(usersFile, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return imapTarget{name: "dovecot", addr: srv.Addr, users: usersFile}
}
