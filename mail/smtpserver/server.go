// Package smtpserver is caucus's SMTP side on go-smtp: the MX that receives the
// party's mail from the internet (RFC 5321, STARTTLS per RFC 3207), and
// the submission service that members' phones and desktops send through
// (RFC 6409; port 587 with STARTTLS, port 465 with implicit TLS per RFC
// 8314), with AUTH PLAIN (RFC 4616) and LOGIN only after TLS and only with
// mail-scoped app passwords.
//
// The MX accepts mail only for addresses that exist in the party's domains
// (never an open relay), runs the inbound checks (SPF, DKIM, DMARC,
// impersonation) and answers 250 only after the message is durable in every
// recipient's mailbox. Submission lets an account send only as addresses it
// may use, limits its sending rate, DKIM-signs, and hands remote recipients
// to the outbound queue. Those decisions, and all sending, are mail/submit's:
// this package speaks the protocol and maps mail/submit's refusals to
// replies. Revoking an account or app password closes its
// live submission connections.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/connlimit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/submit"
)

// Config sets the servers' identity and limits.
type Config struct {
	Hostname           string      // our name in the greeting, EHLO and Received headers
	TLSConfig          *tls.Config // STARTTLS and implicit TLS
	MaxMessageBytes    int64       // default 32 MiB; larger: 552 5.3.4
	MaxRecipients      int         // per message on the MX; default 100; more: 452 4.5.3
	MaxLineLength      int         // data lines, default 2000 bytes (RFC 5321 4.5.3.1.6 minimum 1000); longer: 550 5.6.0, transaction reset; a line goSMTPLineFactor times longer (or a command line that long) ends the connection
	MaxConnsPerAddr    int         // default 20; more: 421 4.7.0
	MaxConnsPerAccount int         // signed-in submission connections per account; default 20 (as IMAP); more: AUTH answers 454 4.7.0
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
}

func (c *Config) defaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 32 << 20
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 100
	}
	if c.MaxLineLength <= 0 {
		c.MaxLineLength = 2000
	}
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = 20
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 5 * time.Minute // RFC 5321 4.5.3.2
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = time.Minute
	}
}

// goSMTPLineFactor sets go-smtp's line limit above Config.MaxLineLength, so
// that a long line in DATA is answered by readMessage and not by go-smtp,
// which drops the connection; it still bounds what one line can hold.
const goSMTPLineFactor = 32

// Inbound runs the checks on a message received from the internet.
type Inbound interface {
	Check(ctx context.Context, in InboundMessage) (InboundVerdict, error)
}

// InboundMessage is what the MX received.
type InboundMessage struct {
	RemoteIP net.IP
	Helo     string
	MailFrom string
	Message  []byte          // header and body as received
	Header   *message.Header // its header, as the MX parsed and checked it (mail/message)
}

// InboundVerdict is the outcome of the checks.
type InboundVerdict struct {
	Reject  string // non-empty: refuse with 550 5.7.1 and this text (e.g. DMARC p=reject)
	Message []byte // the message to store: with Authentication-Results and any warning or [External] tag
	Junk    bool   // file it in the recipients' Junk mailbox (e.g. DMARC p=quarantine), not INBOX
}

// Auth is what submission needs of auth: check app passwords, register
// connections with the revocation hub, the audit log. *auth.Service is one.
type Auth interface {
	connauth.Checker
	Audit() *audit.Log
}

// Deps are the parts the servers work with.
type Deps struct {
	Auth Auth
	// Submit takes what the MX receives and what members submit: the
	// servers speak SMTP, mail/submit decides and sends.
	Submit  *submit.Service
	Inbound Inbound // nil: no checks (tests only)
	Log     *slog.Logger
	Now     func() time.Time
	Metrics *metrics.Set // nil: nothing counted
}

// Server runs the MX and the submission listeners.
type Server struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	conns *connlimit.Limiter
	gate  *connauth.Gate // connection ids, sign-in, sessions' contexts

	mu      sync.Mutex
	servers []*gosmtp.Server
	closed  bool
}

// New builds the servers.
func New(cfg Config, d Deps) *Server {
	cfg.defaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	conns := connlimit.New(connlimit.Config{Max: cfg.MaxConnsPerAddr, Log: d.Log.With("proto", "smtp"), OnRefuse: func() { d.Metrics.ConnRefused(metrics.SMTP) }})
	gc := connauth.Config{Proto: "smtp", Scope: auth.ScopeMail, MaxConnsPerAccount: cfg.MaxConnsPerAccount, Metrics: d.Metrics, Log: d.Log}
	var checker connauth.Checker
	if d.Auth != nil { // an MX alone needs no auth
		gc.Audit, checker = d.Auth.Audit(), d.Auth
	}
	return &Server{cfg: cfg, deps: d, log: d.Log, conns: conns, gate: connauth.New(gc, checker)}
}

// idConn is an accepted connection with its id: go-smtp makes a new
// session at every EHLO after STARTTLS, and every session of one
// connection logs the same conn=.
type idConn struct {
	net.Conn
	id uint64
}

type idListener struct {
	net.Listener
	gate *connauth.Gate
}

func (l idListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idConn{Conn: c, id: l.gate.NewID()}, nil
}

// connID returns the id idListener gave the connection underneath c.
func connID(c net.Conn) uint64 {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if ic, ok := c.(*idConn); ok {
		return ic.id
	}
	return 0
}

func (s *Server) newGoSMTP(be gosmtp.Backend) *gosmtp.Server {
	gs := gosmtp.NewServer(be)
	gs.Domain = s.cfg.Hostname
	gs.TLSConfig = s.cfg.TLSConfig
	gs.MaxMessageBytes = s.cfg.MaxMessageBytes
	gs.MaxRecipients = s.cfg.MaxRecipients
	gs.MaxLineLength = s.cfg.MaxLineLength * goSMTPLineFactor // DATA lines are limited in readMessage, with a clear reply
	gs.ReadTimeout = s.cfg.ReadTimeout
	gs.WriteTimeout = s.cfg.WriteTimeout
	gs.AllowInsecureAuth = false // AUTH only after TLS
	gs.EnableSMTPUTF8 = true
	gs.ErrorLog = printfLogger{s.log}
	return gs
}

func (s *Server) serve(ln net.Listener, be gosmtp.Backend, implicitTLS bool) error {
	if s.cfg.TLSConfig == nil {
		return errors.New("smtp: no TLS configuration")
	}
	// The refusal runs in a goroutine of connlimit's, under a deadline,
	// never in the accept loop: a silent client must not hold up the rest.
	l := s.conns.Listener(ln, func(c net.Conn) {
		if implicitTLS { // the refusal too is said over TLS
			c = tls.Server(c, s.cfg.TLSConfig)
		}
		fmt.Fprintf(c, "421 4.7.0 %s Too many connections from your address, try again later\r\n", s.cfg.Hostname)
	})
	l = idListener{Listener: l, gate: s.gate}
	if implicitTLS {
		l = tls.NewListener(l, s.cfg.TLSConfig)
	}
	gs := s.newGoSMTP(be)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.servers = append(s.servers, gs)
	s.mu.Unlock()
	err := gs.Serve(l)
	if errors.Is(err, gosmtp.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeMX accepts mail from the internet (port 25), offering STARTTLS.
func (s *Server) ServeMX(ln net.Listener) error {
	return s.serve(ln, gosmtp.BackendFunc(s.newMXSession), false)
}

// ServeSubmission accepts members' mail on port 587 (STARTTLS before AUTH).
func (s *Server) ServeSubmission(ln net.Listener) error {
	return s.serve(ln, gosmtp.BackendFunc(s.newSubmissionSession), false)
}

// ServeSubmissions accepts members' mail on port 465 (implicit TLS).
func (s *Server) ServeSubmissions(ln net.Listener) error {
	return s.serve(ln, gosmtp.BackendFunc(s.newSubmissionSession), true)
}

// Shutdown stops accepting connections and waits for sessions to end until
// ctx is done, then closes what is left (clients get 421) and cancels the
// context of every session, so that one blocked in a store or auth call
// returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	defer s.gate.Shutdown()
	var errs []error
	for _, gs := range servers {
		if err := gs.Shutdown(ctx); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
			errs = append(errs, gs.Close())
		}
	}
	return errors.Join(errs...)
}

// printfLogger sends go-smtp's log lines to slog at debug: they are client
// hang-ups and protocol errors, the routine noise of an MX.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "go-smtp")
}

func (l printfLogger) Println(v ...any) {
	l.log.Debug(fmt.Sprint(v...), "component", "go-smtp")
}
