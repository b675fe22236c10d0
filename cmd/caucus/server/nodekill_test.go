package server

// Several nodes under a crash: node B, a caucus process on the same
// PostgreSQL and S3 as node A, is SIGKILLed while both take SMTP and WebDAV
// load. Node A keeps serving, and nothing either node acknowledged is lost
// or doubled: a 250 to DATA and a 201/204 to PUT are said only once the
// message or file is durable in PostgreSQL and S3.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

const (
	killRounds     = 3
	killSMTP       = 3 // go-smtp clients per node
	killDAV        = 2 // WebDAV clients per node
	killMinKill    = 300 * time.Millisecond
	killMaxKill    = 1500 * time.Millisecond
	killAfter      = time.Second // node A's load after the kill
	killFilesLogin = "vol@localhost"
)

// TestNodeKilled runs node A in process and node B as a caucus process on
// the same durable PostgreSQL and S3, loads both with SMTP deliveries and
// WebDAV PUTs, SIGKILLs node B at a random moment and keeps loading node A,
// in several rounds (B restarted each time). Then it checks through node A
// that every message that got 250 is in the INBOX once with its body,
// every file that got 201/204 reads back byte-identical and is listed by
// PROPFIND with its size, and what was not acknowledged is there whole or
// not at all.
//
// Not covered: a message queued for outside delivery on node B just before
// the kill is taken over by node A only when B's lease (35 minutes)
// expires; the test would need a hook to shorten it.
func TestNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("SIGKILLs a caucus node under load; go test without -short runs it")
	}
	t.Parallel()
	storage := pgS3Storage(t, pgtest.Options{Durable: true})
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startNode(t, dirA, "127.0.0.1", storage)
	copyKeys(t, dirA, dirB)
	cfgB := writeNodeConfig(t, dirB, storage)
	certB, err := devcert.Ensure(filepath.Join(dirB, "dev-cert.pem"), filepath.Join(dirB, "dev-key.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tlsA := nodeTLS(t, dirA)
	tlsB := &tls.Config{RootCAs: devcert.Pool(certB), ServerName: "localhost"}
	secret := newFilesAccount(t, a, killFilesLogin)

	mail := &crashLedger{acked: map[string]bool{}, refused: map[string]error{}, noAnswer: map[string]bool{}}
	files := &fileLedger{acked: map[string][]byte{}, unsure: map[string][]byte{}}
	begin := time.Now()
	for round := range killRounds {
		b := startNodeChild(t, cfgB)
		nodes := []killTarget{
			{name: "A", smtp: a.addrs["smtp"], https: a.addrs["https"], tls: tlsA},
			{name: "B", smtp: b.smtp, https: b.https, tls: tlsB},
		}
		killRound(t, round, nodes, b, mail, files, secret)
	}
	t.Logf("%d rounds of load and SIGKILL of node B in %v", killRounds, time.Since(begin).Round(time.Millisecond))
	checkKilledMail(t, a, mail)
	checkKilledFiles(t, a, dirA, files, secret)
}

// killTarget is one node as the load sees it.
type killTarget struct {
	name, smtp, https string
	tls               *tls.Config
}

// fileLedger records what the nodes answered to each PUT.
type fileLedger struct {
	mu     sync.Mutex
	acked  map[string][]byte // 201 or 204: path → content
	unsure map[string][]byte // any other outcome: there whole, or not at all
}

// writeNodeConfig writes node B's configuration file: the dev
// configuration on storage, every listener on 127.0.0.2 (--free-ports
// chooses the ports).
func writeNodeConfig(t *testing.T, dir string, storage config.Storage) string {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Storage = storage
	for _, a := range []*string{&cfg.Listen.HTTPS, &cfg.Listen.HTTP, &cfg.Listen.IMAPS, &cfg.Listen.IMAP, &cfg.Listen.SMTP, &cfg.Listen.Submission, &cfg.Listen.Submissions, &cfg.Listen.Metrics} {
		*a = strings.Replace(*a, "127.0.0.1:", "127.0.0.2:", 1)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "caucus.toml")
	if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(name); err != nil {
		t.Fatalf("node B's configuration: %v", err)
	}
	return name
}

// nodeServing spots the "caucus serving" line of a node on 127.0.0.2.
var (
	nodeSMTPLog = regexp.MustCompile(`\bsmtp=(127\.0\.0\.2:[0-9]+)`)
	nodeWebLog  = regexp.MustCompile(`\bweb=https://localhost:([0-9]+)`)
)

// servingLog passes the child's stderr to a lineLog and reports the MX
// and HTTPS addresses of its "caucus serving" line.
type servingLog struct {
	*lineLog
	mu      sync.Mutex
	partial []byte
	serving chan [2]string
}

func (l *servingLog) Write(p []byte) (int, error) {
	l.lineLog.Write(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if !strings.Contains(line, "caucus serving") {
			continue
		}
		s, w := nodeSMTPLog.FindStringSubmatch(line), nodeWebLog.FindStringSubmatch(line)
		if s != nil && w != nil {
			select {
			case l.serving <- [2]string{s[1], "127.0.0.2:" + w[1]}:
			default:
			}
		}
	}
}

// nodeChild is caucus serve --dev --config running as a child process.
type nodeChild struct {
	crashChild
	https string
}

// startNodeChild runs caucus on cfgFile and waits until it serves.
func startNodeChild(t *testing.T, cfgFile string) *nodeChild {
	t.Helper()
	log := &servingLog{lineLog: &lineLog{serving: make(chan string, 1)}, serving: make(chan [2]string, 1)}
	c := &nodeChild{crashChild: crashChild{stderr: log.lineLog}}
	c.cmd = caucusCommand(t, "serve", "--dev", "--config", cfgFile, "--free-ports")
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = log
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	t.Cleanup(func() { c.cmd.Process.Kill() }) // harmless once it has exited
	select {
	case addrs := <-log.serving:
		c.smtp, c.https = addrs[0], addrs[1]
	case err := <-exited:
		t.Fatalf("node B exited (%v) before serving; its log:\n%s", err, c.stderr.tail())
	case <-time.After(2 * crashChildWait):
		c.cmd.Process.Kill()
		<-exited
		t.Fatalf("node B did not log \"caucus serving\" within %v; its log:\n%s", 2*crashChildWait, c.stderr.tail())
	}
	c.exited = exited
	return c
}

// killRound loads both nodes, SIGKILLs node B at a random moment, loads
// node A on for killAfter, and checks that node A acknowledged work after
// the kill.
func killRound(t *testing.T, round int, nodes []killTarget, b *nodeChild, mail *crashLedger, files *fileLedger, secret string) {
	t.Helper()
	stop := make(chan struct{})
	stopB := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var killed bool
	acks := map[string]int{} // by node, and "A after" for node A after the kill
	firstB := make(chan struct{})
	ack := func(node string) {
		mu.Lock()
		defer mu.Unlock()
		acks[node]++
		if node == "B" && acks[node] == 1 {
			close(firstB)
		}
		if killed && node == "A" {
			acks["A after"]++
		}
	}
	for n, node := range nodes {
		nodeStop := stop
		if node.name == "B" {
			nodeStop = stopB
		}
		for k := range killSMTP {
			cfg := node.tls
			if k%2 == 0 {
				cfg = nil // plain, as some MTAs still are
			}
			// The round number goes in the Message-ID: round*10+n makes
			// every client's ids its own.
			wg.Go(func() { killSMTPClient(node, cfg, round*10+n, k, mail, nodeStop, ack) })
		}
		for k := range killDAV {
			wg.Go(func() {
				killDAVClient(node, fmt.Sprintf("r%02d-%s%d", round, node.name, k), secret, files, nodeStop, ack)
			})
		}
	}
	// The random moment is counted from node B's first acknowledgement:
	// a loaded machine may take a while to warm it up.
	select {
	case <-firstB:
	case <-time.After(crashChildWait):
		t.Errorf("round %d: node B acknowledged nothing within %v", round, crashChildWait)
	}
	delay := killMinKill + mrand.N(killMaxKill-killMinKill)
	time.Sleep(delay)
	mu.Lock()
	killed = true
	mu.Unlock()
	b.kill(t)
	close(stopB)
	time.Sleep(killAfter)
	close(stop)
	wg.Wait()
	mail.mu.Lock()
	rcptErr := mail.rcptErr
	mail.mu.Unlock()
	if rcptErr != nil {
		t.Fatalf("round %d: the MX must take mail for %s: %v", round, crashRcpt, rcptErr)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("round %d: node B killed %v after its first acknowledgement; acknowledged messages and files: node A %d (%d after the kill), node B %d",
		round, delay.Round(time.Millisecond), acks["A"], acks["A after"], acks["B"])
	if acks["A after"] == 0 {
		t.Errorf("round %d: node A acknowledged nothing in the %v after node B was killed", round, killAfter)
	}
	if n := b.stderr.errors(); n > 0 {
		t.Logf("round %d: node B logged %d ERROR lines; last lines:\n%s", round, n, b.stderr.tail())
	}
}

// killSMTPClient sends messages to node's MX as crashClient does, telling
// ack of each 250.
func killSMTPClient(node killTarget, tlsCfg *tls.Config, round, k int, ledger *crashLedger, stop <-chan struct{}, ack func(string)) {
	seq := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := crashDial(node.smtp, tlsCfg)
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		for range 1 + mrand.N(10) {
			seq++
			id := fmt.Sprintf("r%02d.c%02d.%05d@%s", round, k, seq, crashIDDomain)
			err := crashSend(c, id)
			if err == errNoData {
				break
			}
			if errors.Is(err, errRcptRefused) {
				ledger.mu.Lock()
				ledger.rcptErr = err
				ledger.mu.Unlock()
				c.Close()
				return
			}
			ledger.record(id, err)
			if err != nil {
				break
			}
			ack(node.name)
		}
		c.Close()
	}
}

// killDAVClient PUTs files of random content and size to node until stop
// is closed, recording each outcome in files.
func killDAVClient(node killTarget, name, secret string, files *fileLedger, stop <-chan struct{}, ack func(string)) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: node.tls}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		path := fmt.Sprintf("/dav/Home/kill-%s-%05d.bin", name, seq)
		content := make([]byte, 1+mrand.N(256<<10))
		rand.Read(content)
		req, err := http.NewRequest("PUT", "https://"+node.https+path, bytes.NewReader(content))
		if err != nil {
			panic(err)
		}
		req.Host = "localhost"
		req.SetBasicAuth(killFilesLogin, secret)
		res, err := c.Do(req)
		status := 0
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			status = res.StatusCode
		}
		files.mu.Lock()
		if status == http.StatusCreated || status == http.StatusNoContent {
			files.acked[path] = content
		} else {
			files.unsure[path] = content
		}
		files.mu.Unlock()
		if status == http.StatusCreated || status == http.StatusNoContent {
			ack(node.name)
		} else if err != nil {
			time.Sleep(10 * time.Millisecond) // node B is gone
		}
	}
}

// checkKilledMail compares the recipient's INBOX, read through node A's
// store, with what the MXs of both nodes answered.
func checkKilledMail(t *testing.T, a *Server, ledger *crashLedger) {
	t.Helper()
	stored, _ := readCrashInbox(t, a)
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	t.Logf("mail: %d acknowledged (250), %d of ours in the INBOX, %d sent without an answer, %d refused",
		len(ledger.acked), len(stored), len(ledger.noAnswer), len(ledger.refused))
	ledger.check(t, stored, "on either node", "(Message-IDs r<round><node>.c<client>.<n>)")
}

// checkKilledFiles reads every file put, acknowledged or not, through
// node A's WebDAV: an acknowledged one must read back byte-identical, any
// other must be whole or absent.
func checkKilledFiles(t *testing.T, a *Server, dirA string, files *fileLedger, secret string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: nodeTLS(t, dirA)}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	get := func(path string) (int, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "https://"+a.addrs["https"]+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "localhost"
		req.SetBasicAuth(killFilesLogin, secret)
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s on node A: %v", path, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("GET %s on node A: %v", path, err)
		}
		return res.StatusCode, b
	}
	files.mu.Lock()
	defer files.mu.Unlock()
	for path, want := range files.acked {
		if status, got := get(path); status != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("acknowledged %s: GET on node A: %d, %d bytes; want 200, %d bytes as put", path, status, len(got), len(want))
		}
	}
	unsureThere := 0
	for path, want := range files.unsure {
		switch status, got := get(path); {
		case status == http.StatusNotFound:
		case status == http.StatusOK && bytes.Equal(got, want):
			unsureThere++
		default:
			t.Errorf("unacknowledged %s: GET on node A: %d, %d bytes; want 404, or 200 with the %d bytes put", path, status, len(got), len(want))
		}
	}
	listed := killListing(t, c, a, "/dav/Home/", secret)
	for path, size := range listed {
		if !strings.Contains(path, "/kill-") {
			continue
		}
		want, ok := files.acked[path]
		if !ok {
			want, ok = files.unsure[path]
		}
		if !ok || int64(len(want)) != size {
			t.Errorf("PROPFIND on node A lists %s with %d bytes; put: %v, %d bytes", path, size, ok, len(want))
		}
	}
	for path := range files.acked {
		if _, ok := listed[path]; !ok {
			t.Errorf("acknowledged %s is not listed by PROPFIND on node A", path)
		}
	}
	t.Logf("files: %d acknowledged (201/204), %d not acknowledged of which %d are there whole; PROPFIND lists %d entries",
		len(files.acked), len(files.unsure), unsureThere, len(listed))
	if len(files.acked) == 0 {
		t.Error("no PUT got 201/204: the test checked no file")
	}
}

// killListing is a Depth: 1 PROPFIND (RFC 4918 section 9.1) of dir on
// node A: each member's path and getcontentlength.
func killListing(t *testing.T, c *http.Client, a *Server, dir, secret string) map[string]int64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "PROPFIND", "https://"+a.addrs["https"]+dir,
		strings.NewReader(`<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getcontentlength/></prop></propfind>`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost"
	req.Header.Set("Depth", "1")
	req.Header.Set("Content-Type", "application/xml")
	req.SetBasicAuth(killFilesLogin, secret)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("PROPFIND %s on node A: %v", dir, err)
	}
	defer res.Body.Close()
	var ms struct {
		Responses []struct {
			Href   string  `xml:"DAV: href"`
			Length []int64 `xml:"DAV: propstat>prop>getcontentlength"`
		} `xml:"DAV: response"`
	}
	if res.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s on node A: %s", dir, res.Status)
	}
	if err := xml.NewDecoder(res.Body).Decode(&ms); err != nil {
		t.Fatalf("PROPFIND %s on node A: %v", dir, err)
	}
	listed := map[string]int64{}
	for _, r := range ms.Responses {
		p, err := url.PathUnescape(r.Href)
		if err != nil {
			t.Fatalf("PROPFIND href %q: %v", r.Href, err)
		}
		if u, err := url.Parse(p); err == nil && u.Path != "" {
			p = u.Path
		}
		listed[p] = -1
		if len(r.Length) == 1 {
			listed[p] = r.Length[0]
		}
	}
	return listed
}
