package queue

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// runOnce starts the attempts due now, as Run would, and waits for them.
func (q *Queue) runOnce(ctx context.Context) {
	var wg sync.WaitGroup
	q.dispatch(ctx, &wg)
	wg.Wait()
	q.emptyTrash(ctx)
}

// testPKI is a certificate authority made for one test.
type testPKI struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "caucus queue test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{key: key, cert: cert, pool: pool}
}

// leaf issues a server certificate for names.
func (p *testPKI) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// received is a message the test MX accepted.
type received struct {
	from  string
	rcpts []string
	data  string
	tls   bool
}

// testMX is the remote MX: a go-smtp server on 127.0.0.1. Recipients
// whose local part starts with "busy" get 450, "bad" 550, others 250;
// tempFail makes every RCPT get 451.
type testMX struct {
	port     int
	tempFail atomic.Bool
	busyOK   atomic.Bool // "busy" recipients are accepted too
	conns    atomic.Int32

	mu   sync.Mutex
	msgs []received
	// onData, if set before the first delivery, sees each message
	// accepted (the benchmarks time deliveries with it), under mu.
	onData func(received)
}

type mxOptions struct {
	cert  *tls.Certificate // nil: no STARTTLS
	addr  string           // listen address; default 127.0.0.1:0
	smtpu bool             // offer SMTPUTF8
}

func newMX(t testing.TB, o mxOptions) *testMX {
	t.Helper()
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &testMX{port: ln.Addr().(*net.TCPAddr).Port}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		m.conns.Add(1)
		return &mxSession{mx: m, conn: c}, nil
	}))
	s.Domain = "mx.example.org"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.MaxMessageBytes = 1 << 20
	s.EnableSMTPUTF8 = o.smtpu
	if o.cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}}
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return m
}

func (m *testMX) received() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}

type mxSession struct {
	mx    *testMX
	conn  *smtp.Conn
	from  string
	rcpts []string
}

func (s *mxSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *mxSession) Logout() error { return nil }
func (s *mxSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	local := strings.ToLower(to[:strings.LastIndexByte(to, '@')])
	switch {
	case s.mx.tempFail.Load():
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case strings.HasPrefix(local, "busy") && !s.mx.busyOK.Load():
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
	case strings.HasPrefix(local, "bad"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *mxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.mx.mu.Lock()
	defer s.mx.mu.Unlock()
	m := received{from: s.from, rcpts: append([]string(nil), s.rcpts...), data: string(b), tls: isTLS}
	if s.mx.onData != nil {
		s.mx.onData(m)
		return nil
	}
	s.mx.msgs = append(s.mx.msgs, m)
	return nil
}

// fakeClock is a clock the test moves.
type fakeClock = testtool.Clock

// localBox is LocalDeliver for the local domain example-party.org.
type localBox struct {
	mu   sync.Mutex
	msgs map[string][]string // rcpt → messages
}

func (b *localBox) deliver(_ context.Context, rcpt string, msg io.Reader) error {
	if domainOf(rcpt) != "example-party.org" {
		return fmt.Errorf("%s: %w", rcpt, ErrNotLocal)
	}
	data, err := io.ReadAll(msg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msgs == nil {
		b.msgs = map[string][]string{}
	}
	b.msgs[rcpt] = append(b.msgs[rcpt], string(data))
	return nil
}

func (b *localBox) get(rcpt string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs[rcpt]...)
}

// policyServer serves MTA-STS policies over HTTPS, by host name, and
// counts the requests.
type policyServer struct {
	srv      *httptest.Server
	policies map[string]string // "mta-sts.example.org" → policy; "" for 404
	requests atomic.Int32
}

func newPolicyServer(t testing.TB, pki *testPKI, policies map[string]string) *policyServer {
	t.Helper()
	ps := &policyServer{policies: policies}
	var names []string
	for h := range policies {
		names = append(names, h)
	}
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.requests.Add(1)
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		p, ok := ps.policies[host]
		if !ok || p == "" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, p)
	}))
	ps.srv.Config.ErrorLog = log.New(t.Output(), "policy server: ", 0)
	ps.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.leaf(t, names...)}}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	return ps
}

// client returns an HTTP client that trusts pki and sends every
// mta-sts.* host to the policy server.
func (ps *policyServer) client(pki *testPKI) *http.Client {
	addr := ps.srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pki.pool},
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil || !strings.HasPrefix(host, "mta-sts.") {
				return nil, fmt.Errorf("test: no HTTP to %s", hostport)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// loopbackDialer dials only the loopback addresses tests use.
func loopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	switch host {
	case "127.0.0.1", "127.0.0.2", "::1":
	default:
		return nil, fmt.Errorf("test: refusing to dial %s", addr)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, network, addr)
}

func ips(s ...string) []net.IPAddr {
	var out []net.IPAddr
	for _, x := range s {
		out = append(out, net.IPAddr{IP: net.ParseIP(x)})
	}
	return out
}

// baseDNS is the DNS of the tests: example.org's MX is mx.example.org at
// 127.0.0.1; other.example (a remote sender's domain) too.
func baseDNS() *dns.Mock {
	return &dns.Mock{
		MX: map[string][]*net.MX{
			"example.org":   {{Host: "mx.example.org.", Pref: 10}},
			"other.example": {{Host: "mx.example.org.", Pref: 10}},
		},
		IP: map[string][]net.IPAddr{
			"mx.example.org": ips("127.0.0.1"),
		},
		TXT: map[string][]string{},
	}
}

// env is one test's queue with its surroundings.
type env struct {
	t       testing.TB
	q       *Queue
	db      *db.DB
	store   dbtest.Database // e.db's database, for a second node's handle
	blobs   *blob.Dir
	clock   *fakeClock
	mx      *testMX
	pki     *testPKI
	local   *localBox
	dns     *dns.Mock
	policy  *policyServer
	cfg     Config
	blobDir string
}

type envOptions struct {
	noTLS    bool              // the MX offers no STARTTLS
	certFor  []string          // names in the MX's certificate; default mx.example.org
	dns      func(*dns.Mock)   // changes to baseDNS
	policies map[string]string // MTA-STS policies by host
	cfg      func(*Config)
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, pki: newPKI(t), local: &localBox{}, clock: testtool.NewClock(time.Now().Truncate(time.Second))}
	var cert *tls.Certificate
	if !o.noTLS {
		names := o.certFor
		if names == nil {
			names = []string{"mx.example.org"}
		}
		c := e.pki.leaf(t, names...)
		cert = &c
	}
	e.mx = newMX(t, mxOptions{cert: cert})
	e.dns = baseDNS()
	if o.dns != nil {
		o.dns(e.dns)
	}
	dir := t.TempDir()
	var err error
	e.store = dbtest.Create(t)
	e.db = e.store.Open(t)
	if err := e.db.Migrate(t.Context(), Component()); err != nil {
		t.Fatal(err)
	}
	e.blobDir = filepath.Join(dir, "blobs")
	if e.blobs, err = blob.OpenDir(e.blobDir); err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{
		Hostname:     "mail.example-party.org",
		Resolver:     e.dns,
		TLSConfig:    &tls.Config{RootCAs: e.pki.pool},
		Dialer:       loopbackDialer,
		Port:         e.mx.port,
		Now:          e.clock.Now,
		Postmaster:   "postmaster@example-party.org",
		LocalDeliver: e.local.deliver,
		HTTPClient:   &http.Client{Transport: noHTTP{}},
	}
	if o.policies != nil {
		e.policy = newPolicyServer(t, e.pki, o.policies)
		e.cfg.HTTPClient = e.policy.client(e.pki)
	}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	e.q = e.newQueue()
	return e
}

// noHTTP fails every request: tests without a policy server make none.
type noHTTP struct{}

func (noHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("test: unexpected HTTP request to %s", r.URL)
}

// newQueue makes another queue on the env's database and blobs.
func (e *env) newQueue() *Queue {
	return New(e.cfg, e.db, e.blobs, slog.New(slog.NewTextHandler(e.t.Output(), nil)))
}

const testBody = "From: Alice <alice@example-party.org>\r\n" +
	"To: Bob <bob@example.org>\r\n" +
	"Subject: Leaflets for Saturday\r\n" +
	"Message-ID: <leaflets-1@example-party.org>\r\n" +
	"\r\n" +
	"Hi Bob,\r\n.\r\n..the dots must survive.\r\nAlice\r\n"

func (e *env) enqueue(from string, rcpts ...string) int64 {
	e.t.Helper()
	id, err := e.q.Enqueue(e.t.Context(), from, rcpts, strings.NewReader(testBody))
	if err != nil {
		e.t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func (e *env) run() {
	e.t.Helper()
	e.q.runOnce(e.t.Context())
}

func (e *env) list() []Item {
	e.t.Helper()
	items, err := e.q.List(e.t.Context())
	if err != nil {
		e.t.Fatalf("List: %v", err)
	}
	return items
}

// advanceToNext moves the clock to the earliest next attempt.
func (e *env) advanceToNext() {
	e.t.Helper()
	items := e.list()
	if len(items) == 0 {
		e.t.Fatal("advanceToNext: queue empty")
	}
	next := items[0].NextAttempt
	for _, it := range items[1:] {
		if it.NextAttempt.Before(next) {
			next = it.NextAttempt
		}
	}
	if next.After(e.clock.Now()) {
		e.clock.Set(next)
	}
}

// blobFiles counts the blob files in the store.
func (e *env) blobFiles() int {
	e.t.Helper()
	n := 0
	if err := e.blobs.Walk(func(blob.Ref, fs.FileInfo) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// dsn is a parsed delivery status notification.
type dsn struct {
	header     mail.Header
	human      string
	perMessage textproto.MIMEHeader
	perRcpt    []textproto.MIMEHeader
	headers    string // the text/rfc822-headers part
}

func parseDSN(t testing.TB, raw string) *dsn {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
	}
	d := &dsn{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if i != 3 {
				t.Fatalf("DSN has %d parts, want 3", i)
			}
			break
		}
		if err != nil {
			t.Fatalf("DSN part %d: %v", i, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		switch i {
		case 0:
			if !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("part 1 type %q", ct)
			}
			d.human = string(b)
		case 1:
			if ct != "message/delivery-status" {
				t.Errorf("part 2 type %q", ct)
			}
			r := textproto.NewReader(bufio.NewReader(strings.NewReader(string(b))))
			if d.perMessage, err = r.ReadMIMEHeader(); err != nil {
				t.Fatalf("per-message fields: %v", err)
			}
			for {
				h, err := r.ReadMIMEHeader()
				if len(h) > 0 {
					d.perRcpt = append(d.perRcpt, h)
				}
				if err != nil {
					break
				}
			}
		case 2:
			if ct != "text/rfc822-headers" {
				t.Errorf("part 3 type %q", ct)
			}
			d.headers = string(b)
		}
	}
	return d
}

// rcptFields returns the per-recipient fields of rcpt.
func (d *dsn) rcptFields(t testing.TB, rcpt string) textproto.MIMEHeader {
	t.Helper()
	for _, h := range d.perRcpt {
		if h.Get("Final-Recipient") == "rfc822; "+rcpt {
			return h
		}
	}
	t.Fatalf("DSN has no recipient %s: %v", rcpt, d.perRcpt)
	return nil
}
