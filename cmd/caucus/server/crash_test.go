package server

// The MX's promise under a crash: caucus answers 250 to DATA only once the
// message is durable in the recipient's INBOX, so killing the process at
// any moment loses no acknowledged message and stores none twice.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool"
)

const (
	crashRounds    = 20
	crashClients   = 8                   // concurrent go-smtp sessions per round
	crashRcpt      = "admin@localhost"   // the dev server's first admin, still invited
	crashIDDomain  = "crash.caucus.test" // right side of our Message-IDs
	crashMinKill   = 50 * time.Millisecond
	crashMaxKill   = 500 * time.Millisecond
	crashChildWait = 20 * time.Second
)

// Rounds that also run Postfix's smtp-source against the MX, as the load
// the crash issue was reported under. Our own clients stay the ones whose
// 250s are checked: smtp-source cannot say which messages it got one for.
var crashSMTPSourceRounds = map[int]bool{2: true, 9: true, 16: true}

// crashLedger records what the server answered to each message's DATA.
type crashLedger struct {
	mu       sync.Mutex
	acked    map[string]bool  // 250
	refused  map[string]error // an SMTP reply other than 250
	noAnswer map[string]bool  // the final dot was (maybe) sent, no reply came
	rcptErr  error            // the MX refused the recipient: the test is wrong
}

func (l *crashLedger) record(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		l.acked[id] = true
	case errors.As(err, &se):
		l.refused[id] = err
	default:
		l.noAnswer[id] = true
	}
}

// TestMXCrashDurability starts caucus as a child process, sends mail to it
// from concurrent SMTP clients, SIGKILLs it at a random moment, and does
// that again on the same data directory. Then it opens the data in process
// and checks that every message that got 250 is in the INBOX, with its
// body, and that no message is there twice.
func TestMXCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts caucus in crash rounds under load; go test without -short runs it")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ledger := &crashLedger{acked: map[string]bool{}, refused: map[string]error{}, noAnswer: map[string]bool{}}
	var smtpSource string
	lookedForSMTPSource := false
	begin := time.Now()
	for round := range crashRounds {
		source := ""
		if crashSMTPSourceRounds[round] {
			if !lookedForSMTPSource {
				lookedForSMTPSource = true
				// A subtest, so that a missing smtp-source skips only
				// itself (and fails the test under CI=true).
				t.Run("smtp-source", func(t *testing.T) { smtpSource = needSMTPSource(t) })
			}
			source = smtpSource
		}
		crashRound(t, dir, round, ledger, source)
	}
	t.Logf("%d rounds of start, load and SIGKILL in %v", crashRounds, time.Since(begin).Round(time.Millisecond))
	checkCrashedMailbox(t, dir, ledger)
}

// needSMTPSource finds smtp-source, which Debian installs in /usr/sbin
// (not always on a CI job's PATH).
func needSMTPSource(t *testing.T) string {
	if p, err := exec.LookPath("/usr/sbin/smtp-source"); err == nil {
		return p
	}
	return testtool.Need(t, "smtp-source")
}

// crashChild is caucus serve --dev running as a child process.
type crashChild struct {
	cmd    *exec.Cmd
	smtp   string     // the MX's address
	exited chan error // cmd.Wait's result
	stderr *lineLog
}

var smtpAddrLog = regexp.MustCompile(`\bsmtp=(127\.0\.0\.1:[0-9]+)`)

// lineLog takes the child's stderr: it spots the "caucus serving" line and
// keeps the last lines for a failure message.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	last    []string
	errs    int // ERROR lines
	serving chan string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if len(l.last) == 20 {
			l.last = l.last[1:]
		}
		l.last = append(l.last, line)
		if strings.Contains(line, "level=ERROR") {
			l.errs++
		}
		if strings.Contains(line, "caucus serving") {
			if m := smtpAddrLog.FindStringSubmatch(line); m != nil {
				select {
				case l.serving <- m[1]:
				default:
				}
			}
		}
	}
	return len(p), nil
}

func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

func (l *lineLog) errors() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs
}

// startCrashChild runs the test binary as caucus and waits until it serves.
func startCrashChild(t *testing.T, dir string) *crashChild {
	t.Helper()
	c := &crashChild{stderr: &lineLog{serving: make(chan string, 1)}}
	c.cmd = caucusCommand(t, "serve", "--dev", "--data", dir, "--free-ports")
	c.cmd.Stdout = io.Discard // the enrol: line
	c.cmd.Stderr = c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	t.Cleanup(func() { c.cmd.Process.Kill() }) // harmless once it has exited
	select {
	case c.smtp = <-c.stderr.serving:
	case err := <-exited:
		t.Fatalf("caucus exited (%v) before serving; its log:\n%s", err, c.stderr.tail())
	case <-time.After(crashChildWait):
		c.cmd.Process.Kill()
		<-exited
		t.Fatalf("caucus did not log \"caucus serving\" within %v; its log:\n%s", crashChildWait, c.stderr.tail())
	}
	c.exited = exited
	return c
}

// kill SIGKILLs the child and waits for it to be gone.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL caucus: %v", err)
	}
	select {
	case err := <-c.exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("caucus ended with %v before the SIGKILL; its log:\n%s", err, c.stderr.tail())
		}
	case <-time.After(crashChildWait):
		t.Fatal("caucus still running after SIGKILL")
	}
}

// crashRound starts caucus on dir, loads it, and kills it at a random
// moment. With smtpSource, smtp-source adds its load.
func crashRound(t *testing.T, dir string, round int, ledger *crashLedger, smtpSource string) {
	t.Helper()
	child := startCrashChild(t, dir)
	var tlsCfg *tls.Config // the dev certificate, made on the first start
	if cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "dev-cert.pem"), filepath.Join(dir, "dev-key.pem")); err == nil {
		tlsCfg = &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}
	} else {
		t.Fatalf("dev certificate: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	counts := make([]int, crashClients)
	for k := range crashClients {
		wg.Go(func() {
			// Odd clients say STARTTLS first, as a real MTA would.
			var cfg *tls.Config
			if k%2 == 1 {
				cfg = tlsCfg
			}
			counts[k] = crashClient(child.smtp, cfg, round, k, ledger, stop)
		})
	}
	var source *exec.Cmd
	var sourceOut bytes.Buffer
	if smtpSource != "" {
		// -m is more than it can send before the kill: it runs until the
		// server goes, then fails, which is expected.
		source = exec.Command(smtpSource, "-c", "-s", "10", "-m", "100000", "-l", "10240",
			"-M", "smtp-source.test", "-f", "from@smtp-source.test", "-t", crashRcpt, child.smtp)
		source.Stdout, source.Stderr = &sourceOut, &sourceOut
		source.WaitDelay = 5 * time.Second
		if err := source.Start(); err != nil {
			t.Fatalf("smtp-source: %v", err)
		}
		t.Cleanup(func() { source.Process.Kill() }) // harmless once it has exited
	}

	delay := crashMinKill + rand.N(crashMaxKill-crashMinKill)
	time.Sleep(delay)
	child.kill(t)
	close(stop)
	wg.Wait()
	ledger.mu.Lock()
	rcptErr := ledger.rcptErr
	ledger.mu.Unlock()
	if rcptErr != nil {
		t.Fatalf("round %d: the MX must take mail for %s: %v", round, crashRcpt, rcptErr)
	}
	sourceNote := ""
	if source != nil {
		done := make(chan error, 1)
		go func() { done <- source.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			source.Process.Kill()
			err = <-done
		}
		// Its -c counter (each number followed by \r) counts messages
		// whose final dot it sent, not the 250s; then comes its
		// complaint about the lost server.
		last, complaint := "0", ""
		for l := range strings.FieldsFuncSeq(sourceOut.String(), func(r rune) bool { return r == '\r' || r == '\n' }) {
			if _, nerr := strconv.Atoi(l); nerr == nil {
				last = l
			} else {
				complaint = l
			}
		}
		sourceNote = fmt.Sprintf("; smtp-source -s 10 sent %s messages and ended (%v): %q", last, err, complaint)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	t.Logf("round %d: killed after %v, %d messages got 250 from our clients%s", round, delay.Round(time.Millisecond), total, sourceNote)
	if n := child.stderr.errors(); n > 0 {
		t.Logf("round %d: caucus logged %d ERROR lines; last lines:\n%s", round, n, child.stderr.tail())
	}
}

// crashClient sends messages until the server goes away or stop is
// closed, one SMTP session after another, several messages per session.
// It records each message's outcome and returns how many got 250.
func crashClient(addr string, tlsCfg *tls.Config, round, k int, ledger *crashLedger, stop <-chan struct{}) int {
	acked, seq := 0, 0
	for {
		select {
		case <-stop:
			return acked
		default:
		}
		c, err := crashDial(addr, tlsCfg)
		if err != nil {
			// Refused: the server is gone (or not yet listening: never,
			// as we start after "caucus serving").
			select {
			case <-stop:
				return acked
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		for range 1 + rand.N(20) {
			seq++
			id := fmt.Sprintf("r%02d.c%02d.%05d@%s", round, k, seq, crashIDDomain)
			err := crashSend(c, id)
			if errors.Is(err, errRcptRefused) {
				ledger.mu.Lock()
				ledger.rcptErr = err
				ledger.mu.Unlock()
				c.Close()
				return acked
			}
			if err == errNoData {
				break
			}
			ledger.record(id, err)
			if err != nil {
				break
			}
			acked++
		}
		c.Close()
	}
}

func crashDial(addr string, tlsCfg *tls.Config) (*gosmtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // greeting, EHLO, STARTTLS
	var c *gosmtp.Client
	if tlsCfg != nil {
		if c, err = gosmtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			return nil, err
		}
	} else {
		c = gosmtp.NewClient(conn)
		if err := c.Hello("crash-client.test"); err != nil {
			c.Close()
			return nil, err
		}
	}
	conn.SetDeadline(time.Time{})
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 10 * time.Second
	return c, nil
}

// errNoData means the transaction failed before the message was sent: its
// Message-ID cannot be in the store and is not recorded.
var errNoData = errors.New("failed before DATA")

// errRcptRefused means the MX refused the recipient for good.
var errRcptRefused = errors.New("recipient refused")

// crashSend sends one message with Message-ID id. It returns errNoData
// when the transaction failed before the message body, nil for a 250 to
// DATA, and the reply or connection error otherwise.
func crashSend(c *gosmtp.Client, id string) error {
	if err := c.Mail("sender@crash-client.test", nil); err != nil {
		return errNoData
	}
	if err := c.Rcpt(crashRcpt, nil); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) && se.Code/100 == 5 {
			return fmt.Errorf("%w: %v", errRcptRefused, err)
		}
		return errNoData
	}
	w, err := c.Data()
	if err != nil {
		return errNoData
	}
	// Bodies from a few hundred bytes to 64 KiB: a kill can land while the
	// blob is written, synced, renamed, or while the row is committed.
	fmt.Fprintf(w, "From: Crash Client <sender@crash-client.test>\r\nTo: <%s>\r\nSubject: crash test %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n\r\n",
		crashRcpt, id, time.Now().Format(time.RFC1123Z), id)
	line := strings.Repeat("durable ", 9) + "\r\n"
	for range rand.N(64 << 10 / len(line)) {
		io.WriteString(w, line)
	}
	_, err = w.CloseWithResponse()
	return err
}

// checkCrashedMailbox opens dir in process and compares the recipient's
// INBOX with what the clients were told.
func checkCrashedMailbox(t *testing.T, dir string, ledger *crashLedger) {
	t.Helper()
	ctx := t.Context()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(ctx, cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), Out: io.Discard})
	if err != nil {
		t.Fatalf("start after the crashes: %v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	var integrity string
	if err := srv.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("database integrity_check after the crashes: %q, %v", integrity, err)
	}
	stored, others := readCrashInbox(t, srv)
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	noAnswerStored := 0
	for id := range ledger.noAnswer {
		if stored[id] > 0 {
			noAnswerStored++
		}
	}
	for id, err := range ledger.refused {
		t.Logf("refused: %s: %v", id, err)
	}
	t.Logf("acknowledged (250): %d; stored in INBOX: %d of ours (%d distinct) + %d from smtp-source; sent without an answer: %d, of which stored: %d; refused: %d",
		len(ledger.acked), sumCounts(stored), len(stored), others, len(ledger.noAnswer), noAnswerStored, len(ledger.refused))
	ledger.check(t, stored, "in any round", "(Message-IDs r<round>.c<client>.<n>)")
}

// readCrashInbox reads the crash recipient's INBOX through srv's store:
// how many copies of each of the test's Message-IDs it holds, each body
// checked (checkBody), and how many other messages (smtp-source's).
func readCrashInbox(t *testing.T, srv *Server) (stored map[string]int, others int) {
	t.Helper()
	ctx := t.Context()
	acct, err := srv.auth.AccountByLogin(ctx, crashRcpt)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := srv.mail.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	uids, err := srv.mail.UIDs(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.mail.Messages(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(uids) || int(mb.Messages) != len(uids) {
		t.Errorf("INBOX: %d UIDs, %d messages read, count says %d", len(uids), len(msgs), mb.Messages)
	}
	stored = map[string]int{} // our Message-IDs → copies in the INBOX
	for _, m := range msgs {
		id := ""
		if m.Envelope != nil {
			id = m.Envelope.MessageID
		}
		if !strings.HasSuffix(id, "@"+crashIDDomain) {
			others++
			continue
		}
		stored[id]++
		if err := checkBody(srv, m.Blob, m.Size, id); err != nil {
			t.Errorf("message %s (UID %d): %v", id, m.UID, err)
		}
	}
	return stored, others
}

// check compares what the INBOX holds (stored, from readCrashInbox) with
// the answers: every acknowledged message is there, none twice, none that
// was refused or never sent. The caller holds l.mu. when and ids word the
// errors: over which rounds, and how the Message-IDs read.
func (l *crashLedger) check(t *testing.T, stored map[string]int, when, ids string) {
	t.Helper()
	var missing []string
	for id := range l.acked {
		if stored[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range stored {
		if n > 1 {
			t.Errorf("Message-ID %s is in the INBOX %d times", id, n)
		}
		if !l.acked[id] && !l.noAnswer[id] {
			if err, ok := l.refused[id]; ok {
				t.Errorf("Message-ID %s was refused (%v) but is in the INBOX", id, err)
			} else {
				t.Errorf("Message-ID %s is in the INBOX but was never sent", id)
			}
		}
	}
	if len(l.acked) == 0 {
		t.Errorf("no message got 250 %s: the test checked nothing", when)
	}
	if n := len(missing); n > 0 {
		slices.Sort(missing)
		t.Errorf("%d of %d acknowledged messages are missing from the INBOX %s: %s",
			n, len(l.acked), ids, strings.Join(missing[:min(n, 20)], ", "))
	}
}

// checkBody reads a stored message's body: it must be there in full, and
// be the message with Message-ID id.
func checkBody(srv *Server, ref blob.Ref, size int64, id string) error {
	f, err := srv.mail.OpenBody(ref)
	if err != nil {
		return err
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) != size {
		return fmt.Errorf("body has %d bytes, the store says %d", len(body), size)
	}
	if !bytes.Contains(body, []byte("\r\nMessage-ID: <"+id+">\r\n")) {
		return fmt.Errorf("body is not the message sent: %.200q", body)
	}
	return nil
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}
