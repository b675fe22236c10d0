// Package imapserver is caucus's IMAP server: IMAP4rev1 (RFC 3501) and IMAP4rev2
// (RFC 9051) with IDLE (RFC 2177), MOVE (RFC 6851), UIDPLUS (RFC 4315),
// SPECIAL-USE (RFC 6154), NAMESPACE (RFC 2342), LITERAL+ (RFC 7888),
// SASL-IR (RFC 4959), UNSELECT (RFC 3691), ESEARCH (RFC 4731), STATUS=SIZE
// (RFC 8438), APPENDLIMIT (RFC 7889), ID (RFC 2971), CONDSTORE and QRESYNC
// (RFC 7162), ACL (RFC 4314) for the role mailboxes shown in the shared
// namespace (shared.go), built on go-imap's imapserver (patched: see
// internal/third_party/go-imap/PATCHES) and serving the mailboxes of
// mail/store.
//
// Sign-in takes only mail-scoped app passwords, checked by auth; the
// account's own password is refused. Every live connection registers with
// auth's revocation hub and is closed as soon as its app password or
// account is revoked, also while it idles or streams a large FETCH.
// Connections are limited per address and per account; failed sign-ins are
// throttled by auth.
package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/connlimit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/mail/store"
)

// Config sets the server's limits.
type Config struct {
	TLSConfig          *tls.Config   // required: implicit TLS (993) and STARTTLS (143)
	MaxConnsPerAddr    int           // default 50
	MaxConnsPerAccount int           // default 20
	AppendLimit        uint32        // largest message APPEND takes; default 64 MiB
	LoginTimeout       time.Duration // a connection must sign in within this; default 60s
	// go-imap bounds the rest: 30 s to send a command, 35 min of IDLE or
	// silence when signed in, 50 KiB per command line, 4 KiB literals
	// outside APPEND.
	Greeting string // default "caucus IMAP ready"
	// Metrics counts sign-ins; nil counts nothing.
	Metrics *metrics.Set
	// Changes is the bus the server subscribes to, so that sessions see
	// each other's changes and new deliveries; default: the store's own,
	// [store.Store.Changes].
	Changes store.Changes
}

func (c *Config) defaults() {
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = 50
	}
	if c.MaxConnsPerAccount <= 0 {
		c.MaxConnsPerAccount = 20
	}
	if c.AppendLimit == 0 {
		c.AppendLimit = 64 << 20
	}
	if c.LoginTimeout <= 0 {
		c.LoginTimeout = time.Minute
	}
}

// Auth is what the server needs of auth: check app passwords, register
// connections with the revocation hub, the audit log. *auth.Service is one.
type Auth interface {
	connauth.Checker
	Audit() *audit.Log
}

// Server serves IMAP on any number of listeners.
type Server struct {
	cfg   Config
	store *store.Store
	gate  *connauth.Gate // sign-in; its Shutdown cancels every session's context
	log   *slog.Logger
	boxes *manager
	imap  *imapserver.Server
	audit *audit.Log

	// shared are the sessions that have a role's mailbox selected
	// (shared.go).
	shared sharedSessions

	conns       *connlimit.Limiter
	mu          sync.Mutex
	listeners   map[net.Listener]struct{}
	unsubscribe func() // from cfg.Changes
}

// New builds a server. It subscribes to the store's change bus (or
// cfg.Changes) until [Server.Shutdown] has closed every session.
func New(cfg Config, st *store.Store, a Auth, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gate := connauth.New(connauth.Config{Proto: "imap", Scope: auth.ScopeMail, MaxConnsPerAccount: cfg.MaxConnsPerAccount,
		Metrics: cfg.Metrics, Audit: a.Audit(), Log: log}, a)
	s := &Server{
		cfg: cfg, store: st, gate: gate, log: log, boxes: newManager(st), audit: a.Audit(),
		conns: connlimit.New(connlimit.Config{Max: cfg.MaxConnsPerAddr, Log: log.With("proto", "imap"), OnRefuse: func() { cfg.Metrics.ConnRefused(metrics.IMAP) }}), listeners: map[net.Listener]struct{}{},
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1:   {},
			imap.CapIMAP4rev2:   {},
			imap.CapIdle:        {},
			imap.CapMove:        {},
			imap.CapUIDPlus:     {},
			imap.CapSpecialUse:  {},
			imap.CapNamespace:   {},
			imap.CapLiteralPlus: {},
			imap.CapSASLIR:      {},
			imap.CapUnselect:    {},
			imap.CapESearch:     {},
			imap.CapStatusSize:  {},
			imap.CapChildren:    {},
			imap.CapID:          {},
			imap.CapCondStore:   {},
			imap.CapQResync:     {},
			imap.CapACL:         {},
		},
		Logger:       slogPrintf{log},
		PanicHandler: newPanicReporter(log, cfg.Metrics).handle,
		TLSConfig:    cfg.TLSConfig,
		// Never accept a password on a connection that is not encrypted:
		// port 143 advertises LOGINDISABLED until STARTTLS.
		InsecureAuth: false,
	})
	if cfg.Changes == nil {
		cfg.Changes = st.Changes()
	}
	s.unsubscribe = cfg.Changes.Subscribe(s.onChange)
	return s
}

// onChange hands a committed store change to the live mailboxes, and a
// change of grants to the sessions that have a role's mailbox selected.
func (s *Server) onChange(c store.Change) {
	if c.Kind == store.ChangeGrants {
		s.onGrants(c)
		return
	}
	s.boxes.onChange(c)
}

// Serve accepts plain connections that must STARTTLS before signing in (port 143).
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeTLS accepts implicit-TLS connections (port 993).
func (s *Server) ServeTLS(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, implicitTLS bool) error {
	if s.cfg.TLSConfig == nil {
		return errors.New("imap: no TLS configuration")
	}
	// The refusal runs in a goroutine of connlimit's, under a deadline,
	// never in the accept loop; connlimit logs one line per interval with
	// the count, not one per refused connection.
	l := s.conns.Listener(quickAckListener{ln}, func(c net.Conn) {
		if implicitTLS { // the refusal too is said over TLS
			c = tls.Server(c, s.cfg.TLSConfig)
		}
		fmt.Fprintf(c, "* BYE [UNAVAILABLE] Too many connections from your address\r\n")
	})
	if implicitTLS {
		// TLS outermost: go-imap recognises a *tls.Conn as encrypted.
		l = tls.NewListener(l, s.cfg.TLSConfig)
	}
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	err := s.imap.Serve(l)
	select {
	case <-s.gate.Done():
		return nil // shut down
	default:
	}
	return err
}

// Shutdown stops accepting connections, says BYE to every session, and
// closes them (go-imap's Close); ctx bounds how long it waits. Once every
// session is closed, the server unsubscribes from the change bus.
func (s *Server) Shutdown(ctx context.Context) error {
	s.gate.Shutdown()
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		err := s.imap.Close()
		s.unsubscribe()
		done <- err
	}()
	select {
	case err := <-done:
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slogPrintf lets go-imap's Printf logger write to slog.
type slogPrintf struct{ log *slog.Logger }

// Panics in command handlers and internal errors are errors; clients that
// hang up before the greeting or mid-command are routine and only debug.
func (l slogPrintf) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	if strings.HasPrefix(msg, "panic") || strings.HasPrefix(msg, "handling ") || strings.HasPrefix(msg, "failed to create session") {
		level = slog.LevelError
	}
	l.log.Log(context.Background(), level, msg, "component", "imapserver")
}
