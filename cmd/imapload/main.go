// Command imapload is a load generator for IMAP servers. Each of K clients
// signs in once, selects a mailbox, and then loops over operations drawn
// from a weighted mix (SELECT, FETCH of flags, envelopes or whole bodies,
// SEARCH, STORE, APPEND, EXPUNGE) until the run's duration ends; then it
// prints the throughput and the latency percentiles of each operation.
//
// It speaks IMAP4rev1 (RFC 3501) with UIDPLUS (RFC 4315), which it needs to
// know the UIDs of the messages it appends and to expunge only those, so the
// same run works against caucus and against Dovecot. Operations other than
// APPEND and EXPUNGE address only the messages that were in the mailbox when
// the run started (their sequence numbers never change, since the tool only
// ever expunges its own messages); a mailbox keeps about the same size
// across runs.
//
// Usage:
//
//	imapload -addr 127.0.0.1:993 -tls -cafile cert.pem -user u -pass p -fill 10000
//	imapload -addr 127.0.0.1:993 -tls -cafile cert.pem -user u -pass p -clients 16 -duration 20s
//
// The operations:
//
//	select         SELECT the mailbox again
//	fetchflags     FETCH n:n+99 (UID FLAGS): 100 consecutive messages
//	fetchenvelope  FETCH n:n+49 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)
//	fetchbody      FETCH n (UID BODY.PEEK[]) of one message
//	search         UID SEARCH UNSEEN or UID SEARCH SUBJECT <word>, alternately
//	store          STORE n +FLAGS or -FLAGS (\Seen or \Flagged) of one message
//	append         APPEND a generated message of 2 to 20 KB
//	expunge        UID STORE u +FLAGS.SILENT (\Deleted) then UID EXPUNGE u,
//	               of a message this client appended (two round trips)
//	status         STATUS (MESSAGES UIDNEXT UNSEEN) of the mailbox
//	searchbody     UID SEARCH BODY <word>
//	noop           NOOP
//
// With -steady the tool instead runs the steady-session loop of real
// clients (steady.go): each client keeps its session and repeats APPEND
// (2 to 200 KB), SELECT, STATUS of other mailboxes, SEARCH of a header and
// of body text, FETCH of the appended message compared byte for byte,
// STORE of flags and keywords, FETCH of all flags, EXPUNGE and NOOP, over
// several accounts (-users). The benchmark that runs it against caucus and
// Dovecot side by side is TestDovecot in dovecot_test.go:
//
//	CAUCUS_IMAPLOAD=1 go test ./cmd/imapload -run TestDovecot -v -timeout 60m
//
// Latencies are those of whole commands as the client sees them, from
// sending to the tagged response, including reading all the data. The tool
// runs on the same machine as the server, so its own CPU time is printed
// too: it competes with the server for the cores.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "imapload: %v\n", err)
		os.Exit(1)
	}
}

const defaultMix = "select=5,fetchflags=30,fetchenvelope=20,fetchbody=15,search=10,store=10,append=5,expunge=5"

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imapload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:993", "server `host:port`")
	implicitTLS := fs.Bool("tls", false, "implicit TLS (port 993)")
	startTLS := fs.Bool("starttls", false, "STARTTLS (port 143)")
	insecure := fs.Bool("insecure-skip-verify", false, "do not verify the server's certificate")
	caFile := fs.String("cafile", "", "PEM file of the CA certificates to trust instead of the system's")
	serverName := fs.String("servername", "", "name to verify the certificate against (default: the host of -addr)")
	alpn := fs.String("alpn", "", "ALPN protocol to offer in the TLS handshake, e.g. imap (default: none, like most mail clients)")
	user := fs.String("user", "", "login")
	pass := fs.String("pass", "", "password (default $IMAPLOAD_PASS)")
	usersFile := fs.String("users", "", `file of "login password" lines; client i signs in as line i mod n`)
	clients := fs.Int("clients", 4, "number of concurrent clients (connections)")
	duration := fs.Duration("duration", 20*time.Second, "how long to run")
	ops := fs.Int("ops", 0, "operations per client instead of a duration (0: run for -duration)")
	mailbox := fs.String("mailbox", "INBOX", "mailbox to work in")
	mixFlag := fs.String("mix", defaultMix, "operation `weights`, name=weight,… (see the package doc)")
	fillN := fs.Int("fill", 0, "instead of a run, APPEND `n` generated messages with -clients connections and exit")
	seed := fs.Uint64("seed", 1, "random seed (client i uses seed+i)")
	steady := fs.Bool("steady", false, "run the steady-session loop of real clients (see steady.go) instead of the -mix")
	base := fs.Int("base", 100, "with -steady: fill each account's mailbox to `n` messages first")
	minSize := fs.Int("min-size", 2048, "with -steady: smallest message, bytes")
	maxSize := fs.Int("max-size", 200*1024, "with -steady: largest message, bytes")
	jsonOut := fs.Bool("json", false, "print the figures as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := config{Addr: *addr, Clients: *clients, Duration: *duration, Ops: *ops, Mailbox: *mailbox, Seed: *seed,
		Steady: *steady, Base: *base, Sizes: steadySizes{Min: *minSize, Max: *maxSize}}
	if *steady && (*base < 1 || *minSize < 512 || *maxSize < *minSize) {
		return errors.New("-steady needs -base ≥ 1 and 512 ≤ -min-size ≤ -max-size")
	}
	switch {
	case *implicitTLS && *startTLS:
		return errors.New("give -tls or -starttls, not both")
	case *implicitTLS:
		cfg.Security = securityTLS
	case *startTLS:
		cfg.Security = securityStartTLS
	}
	if cfg.Security != securityNone {
		var err error
		if cfg.TLS, err = tlsConfig(*addr, *serverName, *caFile, *insecure); err != nil {
			return err
		}
		if *alpn != "" {
			cfg.TLS.NextProtos = []string{*alpn}
		}
	}
	if *pass == "" {
		*pass = os.Getenv("IMAPLOAD_PASS")
	}
	switch {
	case *usersFile != "":
		accts, err := readUsers(*usersFile)
		if err != nil {
			return err
		}
		cfg.Accounts = accts
	case *user != "":
		cfg.Accounts = []account{{Login: *user, Password: *pass}}
	default:
		return errors.New("give -user and -pass, or -users FILE")
	}
	var err error
	if cfg.Mix, err = parseMix(*mixFlag); err != nil {
		return err
	}
	if cfg.Clients < 1 {
		return errors.New("-clients must be at least 1")
	}
	if *fillN > 0 {
		start := time.Now()
		if err := fill(ctx, cfg, *fillN); err != nil {
			return err
		}
		d := time.Since(start)
		fmt.Fprintf(stdout, "appended %d messages to %s in %.1f s (%.0f/s)\n", *fillN, cfg.Mailbox, d.Seconds(), float64(*fillN)/d.Seconds())
		return nil
	}
	runFn := run
	if cfg.Steady {
		runFn = runSteady
	}
	res, err := runFn(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		if err := json.NewEncoder(stdout).Encode(res.summarize(cfg)); err != nil {
			return err
		}
	} else {
		res.print(stdout, cfg)
	}
	if res.Errors() > 0 || res.Lost > 0 {
		return fmt.Errorf("%d errors, %d clients lost", res.Errors(), res.Lost)
	}
	return nil
}

// security is how a client protects its connection.
type security int

const (
	securityNone     security = iota // plain text: most servers refuse LOGIN
	securityTLS                      // implicit TLS
	securityStartTLS                 // STARTTLS
)

func (s security) String() string {
	return [...]string{"plain text", "TLS", "STARTTLS"}[s]
}

func tlsConfig(addr, serverName, caFile string, insecure bool) (*tls.Config, error) {
	if serverName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("-addr: %w", err)
		}
		serverName = host
	}
	// A non-nil empty NextProtos: imapclient offers ALPN "imap" only when
	// it is nil.
	c := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12, NextProtos: []string{}}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
	}
	return c, nil
}

// account is a login and its password.
type account struct{ Login, Password string }

// readUsers reads "login password" lines; blank lines and lines starting
// with # are skipped.
func readUsers(name string) ([]account, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []account
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		login, pw, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"login password\"", name, n)
		}
		out = append(out, account{Login: login, Password: strings.TrimSpace(pw)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no accounts", name)
	}
	return out, nil
}

// op is a kind of operation.
type op int

const (
	opSelect op = iota
	opFetchFlags
	opFetchEnvelope
	opFetchBody
	opSearch
	opStore
	opAppend
	opExpunge
	opStatus
	opSearchBody
	opNoop
	numOps
)

var opNames = [numOps]string{"select", "fetchflags", "fetchenvelope", "fetchbody", "search", "store", "append", "expunge", "status", "searchbody", "noop"}
var opTitles = [numOps]string{"SELECT", "FETCH flags", "FETCH envelope", "FETCH body", "SEARCH", "STORE", "APPEND", "EXPUNGE", "STATUS", "SEARCH BODY", "NOOP"}

func (o op) String() string { return opNames[o] }

// Window sizes of the FETCH operations.
const (
	flagsWindow    = 100
	envelopeWindow = 50
)

// mix is the weight of each operation.
type mix [numOps]int

// parseMix reads "name=weight,…"; operations not named get weight 0.
func parseMix(s string) (mix, error) {
	var m mix
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return m, fmt.Errorf("-mix: %q: want name=weight", part)
		}
		i := slices.Index(opNames[:], strings.ToLower(strings.TrimSpace(name)))
		if i < 0 {
			return m, fmt.Errorf("-mix: unknown operation %q (have %s)", name, strings.Join(opNames[:], ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return m, fmt.Errorf("-mix: %s: weight must be a whole number ≥ 0", name)
		}
		m[i] = n
		total += n
	}
	if total == 0 {
		return m, errors.New("-mix: all weights are zero")
	}
	return m, nil
}

// pick draws an operation; with noExpunge it draws among the others.
func (m *mix) pick(rng *rand.Rand, noExpunge bool) op {
	total := 0
	for o, w := range m {
		if noExpunge && op(o) == opExpunge {
			continue
		}
		total += w
	}
	if total == 0 {
		return numOps
	}
	n := rng.IntN(total)
	for o, w := range m {
		if noExpunge && op(o) == opExpunge {
			continue
		}
		if n < w {
			return op(o)
		}
		n -= w
	}
	panic("unreachable")
}

// config is what a run needs.
type config struct {
	Addr     string
	Security security
	TLS      *tls.Config
	Accounts []account
	Clients  int
	Duration time.Duration
	// Ops, when above zero, is how many operations each client runs;
	// Duration is then only a bound on a server that stops answering.
	// With Ops and Seed the sequence of operations is fixed, whatever the
	// machine's speed.
	Ops     int
	Mailbox string
	Mix     mix
	Seed    uint64

	// The steady-session loop (-steady, steady.go).
	Steady bool
	Base   int // messages each account's mailbox is filled to first
	Sizes  steadySizes
}

func (cfg *config) dial(i int) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: cfg.TLS, Dialer: &net.Dialer{Timeout: 10 * time.Second}}
	var c *imapclient.Client
	var err error
	switch cfg.Security {
	case securityTLS:
		c, err = imapclient.DialTLS(cfg.Addr, opts)
	case securityStartTLS:
		c, err = imapclient.DialStartTLS(cfg.Addr, opts)
	default:
		c, err = imapclient.DialInsecure(cfg.Addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("client %d: %w", i, err)
	}
	a := cfg.Accounts[i%len(cfg.Accounts)]
	if err := c.Login(a.Login, a.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("client %d: login %s: %w", i, a.Login, err)
	}
	return c, nil
}

// dialAll connects and signs in n clients, a few at a time.
func (cfg *config) dialAll(ctx context.Context, n int) ([]*imapclient.Client, error) {
	cs := make([]*imapclient.Client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			cs[i], errs[i] = cfg.dial(i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(cs)
		return nil, err
	}
	return cs, nil
}

func closeAll(cs []*imapclient.Client) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// msgCounter numbers generated messages across clients.
var msgCounter atomic.Uint64

// words make up generated subjects and bodies; SEARCH SUBJECT looks for one.
var words = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
	mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
	agenda budget caucus motion member meeting minutes branch council ballot leaflet canvass
	treasurer secretary chair delegate amendment quorum vote region district campaign poster
	volunteer donation event press release policy draft final review summer winter autumn spring`)

// message generates an RFC 5322 message of about size bytes (CRLF lines).
func message(rng *rand.Rand, size int) []byte {
	n := msgCounter.Add(1)
	var b bytes.Buffer
	b.Grow(size + 100)
	fmt.Fprintf(&b, "From: Load Generator <load@imapload.invalid>\r\n"+
		"To: Load Target <target@imapload.invalid>\r\n"+
		"Subject: load test %s %s %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <%d.%d.%d@imapload.invalid>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))],
		time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), n, rng.Uint32())
	writeWords(&b, rng, size)
	return b.Bytes()
}

// messageSize draws a size between 2 and 20 KB.
func messageSize(rng *rand.Rand) int { return 2048 + rng.IntN(18*1024+1) }

func appendMessage(c *imapclient.Client, mailbox string, msg []byte) (imap.UID, error) {
	cmd := c.Append(mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// fill appends n generated messages to the mailbox over cfg.Clients connections.
func fill(ctx context.Context, cfg config, n int) error {
	cs, err := cfg.dialAll(ctx, min(cfg.Clients, n))
	if err != nil {
		return err
	}
	defer closeAll(cs)
	var next atomic.Int64
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		rng := rand.New(rand.NewPCG(cfg.Seed+uint64(i), 0x1f11))
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if _, err := appendMessage(c, cfg.Mailbox, message(rng, messageSize(rng))); err != nil {
					errs[i] = fmt.Errorf("client %d: append: %w", i, err)
					return
				}
			}
			errs[i] = c.Logout().Wait()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// opStats are the recorded outcomes of one kind of operation.
type opStats struct {
	Durations []time.Duration // of the operations that succeeded
	Errors    int
}

// result is what a run measured.
type result struct {
	Messages uint32        // in the mailbox when the run started
	Elapsed  time.Duration // from the start until the last client finished
	Ops      [numOps]opStats
	Redrawn  int      // EXPUNGE draws replaced because the client had appended nothing left to remove
	Lost     int      // clients whose connection failed
	Samples  []string // the first few error messages
	ToolCPU  time.Duration
	Busy     float64 // cores busy on the whole machine during the run, -1 if unknown
}

// Errors counts failed operations.
func (r *result) Errors() int {
	n := 0
	for _, s := range r.Ops {
		n += s.Errors
	}
	return n
}

// Count counts the operations that succeeded.
func (r *result) Count() int {
	n := 0
	for _, s := range r.Ops {
		n += len(s.Durations)
	}
	return n
}

// percentile returns the nearest-rank percentile p (0 < p ≤ 1) of sorted d.
// measure runs the clients' loops side by side and records how long they
// took, the tool's own CPU and how busy the machine was meanwhile.
func (r *result) measure(loops []func()) {
	busy0, busyOK := machineBusy()
	cpu0 := toolCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(loop)
	}
	wg.Wait()
	r.Elapsed = time.Since(start)
	r.ToolCPU = toolCPU() - cpu0
	r.Busy = -1
	if busy1, ok := machineBusy(); ok && busyOK {
		r.Busy = (busy1 - busy0) / r.Elapsed.Seconds()
	}
}

// add merges one client's figures, keeping the first few error samples.
func (r *result) add(stats *[numOps]opStats, lost bool, samples []string) {
	for o := range numOps {
		r.Ops[o].Durations = append(r.Ops[o].Durations, stats[o].Durations...)
		r.Ops[o].Errors += stats[o].Errors
	}
	if lost {
		r.Lost++
	}
	if room := maxSamples - len(r.Samples); room > 0 {
		r.Samples = append(r.Samples, samples[:min(room, len(samples))]...)
	}
}

// maxSamples is how many error messages a result keeps.
const maxSamples = 5

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64) + "ms" }

func (r *result) print(w io.Writer, cfg config) {
	sec := r.Elapsed.Seconds()
	fmt.Fprintf(w, "imapload: %d clients, %d accounts, %s %s, mailbox %s (%d messages), %.1f s\n",
		cfg.Clients, len(cfg.Accounts), cfg.Security, cfg.Addr, cfg.Mailbox, r.Messages, sec)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tcount\tops/s\tp50\tp90\tp99\tmax\terrors\t")
	var all []time.Duration
	for o := range numOps {
		s := r.Ops[o]
		if len(s.Durations) == 0 && s.Errors == 0 {
			continue
		}
		d := slices.Clone(s.Durations)
		slices.Sort(d)
		all = append(all, d...)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t\n", opTitles[o], len(d), float64(len(d))/sec,
			ms(percentile(d, .5)), ms(percentile(d, .9)), ms(percentile(d, .99)), ms(percentile(d, 1)), s.Errors)
	}
	slices.Sort(all)
	fmt.Fprintf(tw, "total\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t\n", len(all), float64(len(all))/sec,
		ms(percentile(all, .5)), ms(percentile(all, .9)), ms(percentile(all, .99)), ms(percentile(all, 1)), r.Errors())
	tw.Flush()
	cores := runtime.NumCPU()
	fmt.Fprintf(w, "this tool used %.1f s of CPU (%.2f of %d cores)", r.ToolCPU.Seconds(), r.ToolCPU.Seconds()/sec, cores)
	if r.Busy >= 0 {
		fmt.Fprintf(w, "; the whole machine was busy %.2f of %d cores", r.Busy, cores)
	}
	fmt.Fprintln(w)
	if r.Redrawn > 0 {
		fmt.Fprintf(w, "%d EXPUNGE draws were replaced: the client had no message of its own left to remove\n", r.Redrawn)
	}
	if r.Lost > 0 {
		fmt.Fprintf(w, "%d clients lost their connection\n", r.Lost)
	}
	for _, s := range r.Samples {
		fmt.Fprintf(w, "error: %s\n", s)
	}
}

// seedAppends is how many messages each client appends (untimed) before
// the run, so that EXPUNGE has messages of its own to remove from the start.
const seedAppends = 4

// worker is one client's state during a run.
type worker struct {
	id      int
	c       *imapclient.Client
	rng     *rand.Rand
	mix     *mix
	mailbox string
	base    uint32     // messages 1..base were there at the start and are never expunged
	own     []imap.UID // messages this client appended and has not expunged
	stats   [numOps]opStats
	redrawn int
	lost    bool
	samples []string
}

// run connects cfg.Clients clients, runs the mix for cfg.Duration, and
// removes the messages it appended.
func run(ctx context.Context, cfg config) (*result, error) {
	cs, err := cfg.dialAll(ctx, cfg.Clients)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	ws := make([]*worker, len(cs))
	for i, c := range cs {
		data, err := c.Select(cfg.Mailbox, nil).Wait()
		if err != nil {
			return nil, fmt.Errorf("client %d: select %s: %w", i, cfg.Mailbox, err)
		}
		ws[i] = &worker{id: i, c: c, rng: rand.New(rand.NewPCG(cfg.Seed+uint64(i), 0x10ad)), mix: &cfg.Mix, mailbox: cfg.Mailbox, base: data.NumMessages}
	}
	base := ws[0].base
	for _, w := range ws {
		base = min(base, w.base)
	}
	if base < flagsWindow {
		return nil, fmt.Errorf("mailbox %s has %d messages; fill it with at least %d first (-fill)", cfg.Mailbox, base, flagsWindow)
	}
	if cfg.Mix[opExpunge] > 0 {
		var wg sync.WaitGroup
		errs := make([]error, len(ws))
		for i, w := range ws {
			w.base = base
			wg.Go(func() {
				for range seedAppends {
					uid, err := appendMessage(w.c, w.mailbox, message(w.rng, messageSize(w.rng)))
					if err == nil && uid == 0 {
						err = errors.New("no APPENDUID: the server lacks UIDPLUS, which EXPUNGE needs")
					}
					if err != nil {
						errs[i] = fmt.Errorf("client %d: append: %w", i, err)
						return
					}
					w.own = append(w.own, uid)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}

	// A server that stops answering must not hold the run: close the
	// connections a while after the end.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-runCtx.Done():
		case <-time.After(cfg.Duration + 30*time.Second):
			// A run bounded by Ops takes as long as the server makes it;
			// the same bound then only stops a server that hangs.
		}
		closeAll(cs)
	}()

	res := &result{Messages: base}
	deadline := time.Now().Add(cfg.Duration)
	if cfg.Ops > 0 {
		deadline = deadline.Add(30 * time.Second)
	}
	loops := make([]func(), len(ws))
	for i, w := range ws {
		loops[i] = func() { w.loop(ctx, deadline, cfg.Ops) }
	}
	res.measure(loops)
	for _, w := range ws {
		res.add(&w.stats, w.lost, w.samples)
		res.Redrawn += w.redrawn
	}

	// Remove what the run appended, untimed.
	var cleanup []error
	for _, w := range ws {
		if w.lost {
			continue
		}
		if err := w.expunge(w.own); err != nil {
			cleanup = append(cleanup, fmt.Errorf("client %d: removing its messages: %w", w.id, err))
		}
		w.c.Logout().Wait()
	}
	return res, errors.Join(cleanup...)
}

// loop runs operations until the deadline, or, with budget above zero,
// until it has run budget of them.
func (w *worker) loop(ctx context.Context, deadline time.Time, budget int) {
	for n := 0; ctx.Err() == nil && time.Now().Before(deadline) && (budget == 0 || n < budget); n++ {
		o := w.mix.pick(w.rng, false)
		if o == opExpunge && len(w.own) == 0 {
			w.redrawn++
			if o = w.mix.pick(w.rng, true); o == numOps {
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		t0 := time.Now()
		err := w.do(o)
		d := time.Since(t0)
		if err != nil {
			w.stats[o].Errors++
			if len(w.samples) < 3 {
				w.samples = append(w.samples, fmt.Sprintf("client %d: %s: %v", w.id, o, err))
			}
			var ierr *imap.Error
			if !errors.As(err, &ierr) {
				// Not a NO or BAD: the connection is gone.
				w.lost = true
				return
			}
			continue
		}
		w.stats[o].Durations = append(w.stats[o].Durations, d)
	}
}

// seq draws a message of the starting mailbox; window draws n consecutive ones.
func (w *worker) seq() uint32 { return 1 + w.rng.Uint32N(w.base) }

func (w *worker) window(n uint32) imap.SeqSet {
	n = min(n, w.base)
	start := 1 + w.rng.Uint32N(w.base-n+1)
	return imap.SeqSet{{Start: start, Stop: start + n - 1}}
}

func (w *worker) do(o op) error {
	c := w.c
	switch o {
	case opSelect:
		data, err := c.Select(w.mailbox, nil).Wait()
		if err == nil && data.NumMessages < w.base {
			err = fmt.Errorf("mailbox shrank to %d messages, below the %d it started with", data.NumMessages, w.base)
		}
		return err
	case opFetchFlags:
		return w.fetch(w.window(flagsWindow), &imap.FetchOptions{UID: true, Flags: true})
	case opFetchEnvelope:
		return w.fetch(w.window(envelopeWindow), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true})
	case opFetchBody:
		return w.fetch(imap.SeqSetNum(w.seq()), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	case opSearch:
		crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
		if w.rng.IntN(2) == 0 {
			crit = &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: words[w.rng.IntN(len(words))]}}}
		}
		_, err := c.UIDSearch(crit, nil).Wait()
		return err
	case opStore:
		flag := imap.FlagSeen
		if w.rng.IntN(2) == 0 {
			flag = imap.FlagFlagged
		}
		sop := imap.StoreFlagsAdd
		if w.rng.IntN(2) == 0 {
			sop = imap.StoreFlagsDel
		}
		return c.Store(imap.SeqSetNum(w.seq()), &imap.StoreFlags{Op: sop, Flags: []imap.Flag{flag}}, nil).Close()
	case opAppend:
		uid, err := appendMessage(c, w.mailbox, message(w.rng, messageSize(w.rng)))
		if err != nil {
			return err
		}
		if uid == 0 {
			return errors.New("no APPENDUID: the server lacks UIDPLUS, which EXPUNGE needs")
		}
		w.own = append(w.own, uid)
		return nil
	case opStatus:
		_, err := c.Status(w.mailbox, &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true}).Wait()
		return err
	case opSearchBody:
		_, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{words[w.rng.IntN(len(words))]}}, nil).Wait()
		return err
	case opNoop:
		return c.Noop().Wait()
	case opExpunge:
		uid := w.own[0]
		w.own = w.own[1:]
		return w.expunge([]imap.UID{uid})
	}
	return fmt.Errorf("unknown operation %d", o)
}

// fetch runs a FETCH and checks that every message asked for came back
// (and, for a body, that it was not empty).
func (w *worker) fetch(set imap.SeqSet, opts *imap.FetchOptions) error {
	cmd := w.c.Fetch(set, opts)
	want := 0
	for _, r := range set {
		want += int(r.Stop - r.Start + 1)
	}
	got := 0
	empty := false
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		got++
		for item := msg.Next(); item != nil; item = msg.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok {
				n, _ := io.Copy(io.Discard, b.Literal)
				empty = empty || n == 0
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	if got < want {
		return fmt.Errorf("FETCH %v returned %d of %d messages", set, got, want)
	}
	if empty {
		return fmt.Errorf("FETCH %v returned an empty body", set)
	}
	return nil
}

// expunge removes messages by UID: UID STORE +FLAGS.SILENT (\Deleted) and
// UID EXPUNGE (RFC 4315), which leaves other \Deleted messages alone.
func (w *worker) expunge(uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	if err := w.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	return w.c.UIDExpunge(set).Close()
}

// toolCPU is the CPU time (user and system) this process has used.
func toolCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the seconds of CPU time all cores have spent not idle
// since boot (Linux /proc/stat), to tell whether the machine was saturated.
func machineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for i, s := range f[1:] {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 || i == 7 { // idle, iowait, steal
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += n
	}
	return busy / 100, true // USER_HZ is 100 on Linux
}
