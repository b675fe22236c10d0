package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	caucuscfg "github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/mail/imapserver"
	"github.com/caucus-org/caucus/mail/store"
)

func TestParseMix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want mix
		err  string
	}{
		{in: defaultMix, want: mix{5, 30, 20, 15, 10, 10, 5, 5}},
		{in: "fetchbody=1", want: mix{opFetchBody: 1}},
		{in: " SELECT = 2 , store=3,", want: mix{opSelect: 2, opStore: 3}},
		{in: "select=0", err: "all weights are zero"},
		{in: "copy=1", err: "unknown operation"},
		{in: "select", err: "want name=weight"},
		{in: "select=-1", err: "whole number"},
	} {
		got, err := parseMix(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseMix(%q) = %v, want error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{.5, 50}, {.9, 90}, {.99, 99}, {1, 100}, {.001, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, .5); got != 0 {
		t.Errorf("percentile(nil) = %v", got)
	}
	if got := percentile([]time.Duration{7}, .99); got != 7 {
		t.Errorf("percentile([7], .99) = %v", got)
	}
}

func TestMessageSize(t *testing.T) {
	t.Parallel()
	rng := newTestRand()
	for range 200 {
		size := messageSize(rng)
		m := message(rng, size)
		if len(m) < 2048 || len(m) > 20*1024+200 {
			t.Fatalf("message of %d bytes for size %d", len(m), size)
		}
		if !bytes.Contains(m, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatal("message is not CRLF-terminated RFC 5322")
		}
	}
}

// TestRun drives an in-process caucus IMAP server with the tool: a fill
// through the command line, then a one-second run of the default mix over
// implicit TLS and a short one over STARTTLS. Every operation must have
// run, none failed, and the mailbox must be back to the size it had.
func TestRun(t *testing.T) {
	t.Parallel()
	h := openCaucus(t, t.TempDir(), imapserver.Config{}, slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	login, secret := h.member(t, "load@localhost")
	imaps, imapAddr := h.serve(t)

	const base = 150
	var out bytes.Buffer
	err := mainErr(t.Context(), []string{"-addr", imaps, "-tls", "-cafile", h.certFile, "-user", login, "-pass", secret,
		"-clients", "3", "-fill", strconv.Itoa(base)}, &out, &out)
	if err != nil {
		t.Fatalf("fill: %v\n%s", err, out.String())
	}
	t.Log(strings.TrimSpace(out.String()))

	mix, err := parseMix(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		addr string
		sec  security
		ops  int
	}{
		// Counted, not timed: with a fixed seed each client's sequence of
		// operations is the same on a fast machine and a loaded one, so
		// "every operation was recorded" cannot depend on the load.
		{"tls", imaps, securityTLS, 150},
		{"starttls", imapAddr, securityStartTLS, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg, err := tlsConfig(tc.addr, "", h.certFile, false)
			if err != nil {
				t.Fatal(err)
			}
			cfg := config{Addr: tc.addr, Security: tc.sec, TLS: tlsCfg, Accounts: []account{{login, secret}},
				Clients: 4, Duration: time.Minute, Ops: tc.ops, Mailbox: "INBOX", Mix: mix, Seed: 1}
			res, err := run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var report bytes.Buffer
			res.print(&report, cfg)
			t.Log("\n" + report.String())
			if res.Messages != base {
				t.Errorf("run saw %d messages, want %d", res.Messages, base)
			}
			if res.Errors() != 0 || res.Lost != 0 {
				t.Errorf("%d errors, %d clients lost: %q", res.Errors(), res.Lost, res.Samples)
			}
			if tc.sec == securityTLS {
				for o := range numOps {
					if mix[o] > 0 && len(res.Ops[o].Durations) == 0 {
						t.Errorf("no %s recorded", o)
					}
				}
			} else if res.Count() == 0 {
				t.Error("no operations recorded")
			}
			mb, err := h.store.Mailbox(t.Context(), h.accountID(t, login), "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if mb.Messages != base {
				t.Errorf("INBOX has %d messages after the run, want %d: the tool must remove what it appended", mb.Messages, base)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-tls", "-starttls", "-user", "u"},
		{"-addr", "127.0.0.1:1"},
		{"-user", "u", "-mix", "select=0"},
		{"-user", "u", "-clients", "0"},
		{"-users", filepath.Join(t.TempDir(), "missing")},
	} {
		var out bytes.Buffer
		if err := mainErr(t.Context(), args, &out, &out); err == nil {
			t.Errorf("mainErr(%q) succeeded", args)
		}
	}
	f := filepath.Join(t.TempDir(), "users")
	os.WriteFile(f, []byte("# accounts\na@x p1\n\nb@x  p 2\n"), 0o600)
	got, err := readUsers(f)
	if err != nil || len(got) != 2 || got[0] != (account{"a@x", "p1"}) || got[1] != (account{"b@x", "p 2"}) {
		t.Errorf("readUsers = %q, %v", got, err)
	}
}

// TestSetupCaucus enrols accounts with mail app passwords in the data
// directory of a stopped `caucus serve --dev --data DIR`, for measuring the
// real server with the tool. It runs only when IMAPLOAD_CAUCUS_DATA names
// that directory:
//
//	IMAPLOAD_CAUCUS_DATA=/tmp/loaddata IMAPLOAD_ACCOUNTS=4 IMAPLOAD_USERS_OUT=/tmp/users.txt \
//	    go test ./cmd/imapload -run TestSetupCaucus -v
//
// It writes "login app-password" lines to IMAPLOAD_USERS_OUT (default
// DIR/imapload-users.txt), for -users. Stop caucus first: it loads app
// passwords once, at the first sign-in.
func TestSetupCaucus(t *testing.T) {
	dir := os.Getenv("IMAPLOAD_CAUCUS_DATA")
	if dir == "" {
		t.Skip("set IMAPLOAD_CAUCUS_DATA to a caucus --dev data directory to enrol load-test accounts in it")
	}
	n := 1
	if s := os.Getenv("IMAPLOAD_ACCOUNTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("IMAPLOAD_ACCOUNTS=%q", s)
		}
	}
	outFile := os.Getenv("IMAPLOAD_USERS_OUT")
	if outFile == "" {
		outFile = filepath.Join(dir, "imapload-users.txt")
	}
	h := openCaucus(t, dir, imapserver.Config{}, slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var lines strings.Builder
	for i := range n {
		login, secret := h.member(t, fmt.Sprintf("load%d-%s@localhost", i+1, hex.EncodeToString(random(3))))
		fmt.Fprintf(&lines, "%s %s\n", login, secret)
	}
	if err := os.WriteFile(outFile, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d accounts to %s; certificate: %s", n, outFile, h.certFile)
}

// TestServeCaucus serves the IMAP part of a caucus --dev data directory
// in this process, with the per-address and per-account connection limits
// raised to 10,000, for runs with more clients than `caucus serve` lets one
// address open (50 per address, 20 per account, not configurable). The
// store, auth and IMAP server are the same code as in caucus serve; the web
// interface is left out. It runs only when IMAPLOAD_CAUCUS_SERVE names the
// directory, writes "imaps imap" addresses to DIR/imapload-serve.addr, and
// serves until SIGINT/SIGTERM or IMAPLOAD_SERVE_FOR (default 10m):
//
//	go test -c -o /tmp/imapload.test ./cmd/imapload
//	IMAPLOAD_CAUCUS_SERVE=/tmp/loaddata /tmp/imapload.test -test.run TestServeCaucus -test.timeout 0 &
func TestServeCaucus(t *testing.T) {
	dir := os.Getenv("IMAPLOAD_CAUCUS_SERVE")
	if dir == "" {
		t.Skip("set IMAPLOAD_CAUCUS_SERVE to a caucus --dev data directory to serve its IMAP in-process with raised limits")
	}
	serveFor := 10 * time.Minute
	if s := os.Getenv("IMAPLOAD_SERVE_FOR"); s != "" {
		var err error
		if serveFor, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	h := openCaucus(t, dir, imapserver.Config{MaxConnsPerAddr: 10000, MaxConnsPerAccount: 10000},
		slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	imaps, imapAddr := h.serve(t)
	addrFile := filepath.Join(dir, "imapload-serve.addr")
	if err := os.WriteFile(addrFile, []byte(imaps+" "+imapAddr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(addrFile) })
	fmt.Fprintf(os.Stderr, "serving imaps %s imap %s (pid %d) for %v\n", imaps, imapAddr, os.Getpid(), serveFor)
	ctx, stop := signal.NotifyContext(t.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(serveFor):
	}
}

// harness is caucus's IMAP server over a data directory laid out as
// `caucus serve --dev --data DIR` lays it out (caucus.db, blobs/mail/, keys/,
// dev-cert.pem), built from the same packages as cmd/caucus.
type harness struct {
	auth     *auth.Service
	store    *store.Store
	imap     *imapserver.Server
	tls      *tls.Config
	certFile string
	keyFile  string
	traces   *writeTraces // with CAUCUS_IMAPLOAD_TRACE set (trace_test.go)
}

func openCaucus(t testing.TB, dir string, icfg imapserver.Config, h slog.Handler) *harness {
	t.Helper()
	ctx := t.Context()
	log := slog.New(h)
	cfg := caucuscfg.Dev(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, filepath.Join(dir, "caucus.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx, audit.Component(), auth.Component(), store.Component()); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs", "mail")) // as cmd/caucus serve lays it out
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeys(filepath.Join(dir, "keys", "auth.key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := devcert.Ensure(cfg.TLS.CertFile, cfg.TLS.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{RPID: cfg.Hostname, Origins: []string{"https://" + cfg.Hostname}},
		auth.Deps{DB: d, Audit: audit.New(d, time.Now, log), Log: log, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{auth: a, certFile: cfg.TLS.CertFile, keyFile: cfg.TLS.KeyFile,
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	var opts store.Options
	if os.Getenv("CAUCUS_IMAPLOAD_TRACE") != "" {
		hs.traces = &writeTraces{}
		opts.TraceWrites = hs.traces.add
	}
	hs.store = store.New(d, blobs, log, opts)
	icfg.TLSConfig = hs.tls
	hs.imap = imapserver.New(icfg, hs.store, a, log)
	return hs
}

// serve listens on 127.0.0.1 for implicit TLS and STARTTLS.
func (h *harness) serve(t testing.TB) (imaps, imapAddr string) {
	t.Helper()
	for _, implicit := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			imaps = ln.Addr().String()
			go h.imap.ServeTLS(ln)
		} else {
			imapAddr = ln.Addr().String()
			go h.imap.Serve(ln)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.imap.Shutdown(ctx)
	})
	return imaps, imapAddr
}

// member enrols login as a browser would (invite, password, TOTP, recovery
// codes) and makes a mail app password, the only secret IMAP takes.
func (h *harness) member(t testing.TB, login string) (string, string) {
	t.Helper()
	ctx := t.Context()
	a := h.auth
	tok, err := a.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: "Load test", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sessTok, err := a.AcceptInvite(ctx, tok, "correct horse "+hex.EncodeToString(random(8)), auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := a.Session(ctx, sessTok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = a.Session(ctx, sessTok); err != nil { // the pending enrolment is in the session
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(key.Secret(), time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	full, err := a.FinishTOTP(ctx, sess, code, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = a.Session(ctx, full); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRecoveryCodes(ctx, sess, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := a.CreateAppPassword(ctx, sess, "imapload", auth.ScopeMail, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return sess.Account.Login, secret
}

func (h *harness) accountID(t testing.TB, login string) int64 {
	t.Helper()
	acct, err := h.auth.AccountByLogin(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	return acct.ID
}

func newTestRand() *mrand.Rand { return mrand.New(mrand.NewPCG(1, 2)) }

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestSteady runs the steady-session loop for a second against an
// in-process caucus with two accounts: every command of the loop must
// have run, none failed (SEARCH BODY finds the appended message, FETCH
// returns its bytes), and each mailbox must hold the -base messages the
// tool filled it to, no more.
func TestSteady(t *testing.T) {
	t.Parallel()
	h := openCaucus(t, t.TempDir(), imapserver.Config{}, slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var accts []account
	for i := range 2 {
		login, secret := h.member(t, fmt.Sprintf("steady%d@localhost", i))
		accts = append(accts, account{login, secret})
	}
	imaps, _ := h.serve(t)
	tlsCfg, err := tlsConfig(imaps, "", h.certFile, false)
	if err != nil {
		t.Fatal(err)
	}
	const base = 12
	cfg := config{Addr: imaps, Security: securityTLS, TLS: tlsCfg, Accounts: accts, Clients: 3, Duration: time.Second,
		Mailbox: "INBOX", Seed: 1, Steady: true, Base: base, Sizes: steadySizes{Min: 2048, Max: 64 * 1024}}
	res, err := runSteady(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	res.print(&report, cfg)
	t.Log("\n" + report.String())
	if res.Errors() != 0 || res.Lost != 0 {
		t.Errorf("%d errors, %d clients lost: %q", res.Errors(), res.Lost, res.Samples)
	}
	for _, o := range []op{opAppend, opSelect, opStatus, opSearch, opSearchBody, opFetchBody, opStore, opFetchFlags, opExpunge, opNoop} {
		if len(res.Ops[o].Durations) == 0 {
			t.Errorf("no %s recorded", o)
		}
	}
	for _, a := range accts {
		mb, err := h.store.Mailbox(t.Context(), h.accountID(t, a.Login), "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if mb.Messages != base {
			t.Errorf("%s: INBOX has %d messages after the run, want %d", a.Login, mb.Messages, base)
		}
	}
	s := res.summarize(cfg)
	if tot, ok := s.opNamed("total"); !ok || tot.Count != res.Count() {
		t.Errorf("summary total %+v, want count %d", tot, res.Count())
	}
}

func TestSteadySizes(t *testing.T) {
	t.Parallel()
	rng := newTestRand()
	sizes := steadySizes{Min: 2048, Max: 200 * 1024}
	var small, large int
	for range 300 {
		size := sizes.draw(rng)
		if size < sizes.Min || size > sizes.Max {
			t.Fatalf("size %d out of [%d, %d]", size, sizes.Min, sizes.Max)
		}
		m := realMessage(rng, size, "tok123")
		if len(m) < size-100 || len(m) > size+1024 || !bytes.Contains(m, []byte("tok123")) {
			t.Fatalf("message of %d bytes for size %d, or without its token", len(m), size)
		}
		if bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatal("message has a bare LF")
		}
		if size < 10*1024 {
			small++
		} else if size > 100*1024 {
			large++
		}
	}
	if small < 60 || large < 20 {
		t.Errorf("%d small and %d large of 300: not log-uniform", small, large)
	}
}
