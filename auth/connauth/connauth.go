// Package connauth signs in protocol connections: IMAP (RFC 9051 section
// 6.2), SMTP submission (RFC 4954) and WebDAV requests (HTTP Basic, RFC
// 7617). Those protocols cannot do WebAuthn, so they take only app
// passwords of the right scope (DESIGN.md rule 1), checked and throttled
// by auth.
//
// A [Gate] is one protocol's door: it numbers connections (every log line
// of a connection carries conn=N), limits the connections each account has
// open, registers each signed-in connection with auth's revocation hub,
// and gives every connection a context that ends when the connection is
// closed, when the server shuts down and when the account or the app
// password is revoked. It depends on the small [Checker] interface, which
// *auth.Service satisfies.
package connauth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/metrics"
)

// Checker checks app passwords and registers live connections with the
// revocation hub; *auth.Service is one.
type Checker interface {
	AppPassword(ctx context.Context, login, secret string, scope auth.Scope, c auth.Client) (auth.Grant, error)
	Connect(parent context.Context, g auth.Grant) (context.Context, func())
}

// Recorder writes audit records; *audit.Log is one.
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// DefaultMaxConnsPerAccount is how many connections an account may have
// open on one protocol, unless configured otherwise.
const DefaultMaxConnsPerAccount = 20

// Errors of [Conn.SignIn]. A throttled sign-in returns auth's
// *auth.ThrottledError (errors.Is(err, auth.ErrThrottled)).
var (
	// ErrFailed is every refused credential alike: unknown account,
	// wrong or revoked app password, wrong scope, suspended account.
	ErrFailed = errors.New("connauth: authentication failed")
	// ErrTooManyConns reports that the account has its limit of
	// connections open on this protocol.
	ErrTooManyConns = errors.New("connauth: too many connections for this account")
	// ErrSignedIn reports a second sign-in on one connection.
	ErrSignedIn = errors.New("connauth: already signed in")
)

// Config sets a gate's protocol and limits.
type Config struct {
	Proto              string     // "imap", "smtp", "dav": in log lines, audit kinds ("login."+Proto) and metrics
	Scope              auth.Scope // the app-password scope the protocol needs
	MaxConnsPerAccount int        // default DefaultMaxConnsPerAccount
	Metrics            *metrics.Set
	// Audit, if set, records every sign-in (kind "login."+Proto); nil
	// records none (WebDAV signs in on every request).
	Audit Recorder
	Log   *slog.Logger
}

// Gate signs in one protocol's connections. Build it with New.
type Gate struct {
	cfg  Config
	auth Checker
	ctx  context.Context // cancelled by Shutdown
	stop context.CancelFunc

	nextID  atomic.Uint64
	mu      sync.Mutex
	perAcct map[int64]int
}

// New returns a gate checking credentials with a.
func New(cfg Config, a Checker) *Gate {
	if cfg.MaxConnsPerAccount <= 0 {
		cfg.MaxConnsPerAccount = DefaultMaxConnsPerAccount
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Gate{cfg: cfg, auth: a, ctx: ctx, stop: stop, perAcct: map[int64]int{}}
}

// NewID returns a fresh connection id.
func (g *Gate) NewID() uint64 { return g.nextID.Add(1) }

// Shutdown cancels the context of every connection, open or to come.
func (g *Gate) Shutdown() { g.stop() }

// Done is closed once Shutdown was called.
func (g *Gate) Done() <-chan struct{} { return g.ctx.Done() }

// Open starts a connection with a fresh id (see [Gate.OpenID]).
func (g *Gate) Open(parent context.Context, addr netip.Addr) *Conn {
	return g.OpenID(parent, g.NewID(), addr)
}

// OpenID starts the connection id from addr. Its context ends with
// parent, at Shutdown and at Close; Close must be called when the
// connection ends.
func (g *Gate) OpenID(parent context.Context, id uint64, addr netip.Addr) *Conn {
	ctx, cancel := context.WithCancelCause(parent)
	c := &Conn{ID: id, Addr: addr, g: g, ctx: ctx, cancel: cancel}
	c.stop = context.AfterFunc(g.ctx, func() { cancel(context.Canceled) })
	c.logs[0] = connHandler{h: g.cfg.Log.Handler(), id: id, addr: addr}
	c.loggers[0] = *slog.New(&c.logs[0])
	c.Log = &c.loggers[0]
	return c
}

// Conn is one protocol connection (for WebDAV, one request).
type Conn struct {
	ID      uint64
	Addr    netip.Addr
	Log     *slog.Logger // carries conn and addr, account once signed in; the protocol may add to it before SignIn
	Account auth.Account // set by SignIn

	g        *Gate
	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelCauseFunc // of the context OpenID made
	stop     func() bool             // stops the reaction to Shutdown
	release  func()                  // set by SignIn: the revocation hub's
	unwatch  func() bool             // set by SignIn with an onRevoke: stops the reaction to a revocation
	signedIn bool
	closed   bool
	// The connection's loggers, before and after sign-in, made with the
	// connection: a WebDAV request signs in, and its loggers were two
	// clones of the gate's (slog.Logger.With) each time.
	logs    [2]connHandler
	loggers [2]slog.Logger
}

// Context ends when the connection is closed or the server shuts down,
// and, once signed in, when access is revoked (cause auth.ErrRevoked).
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

// SignedIn reports whether SignIn succeeded.
func (c *Conn) SignedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signedIn
}

// SignIn checks an app password of the gate's scope through auth (which
// throttles wrong ones), takes a slot of the account's connection limit,
// registers the connection with the revocation hub and records the
// sign-in. onRevoke, if not nil, runs once when access is revoked, to cut
// the connection whatever it is doing. userAgent goes to auth's records.
func (c *Conn) SignIn(login, secret, userAgent string, onRevoke func()) error {
	g := c.g
	if c.SignedIn() {
		return ErrSignedIn
	}
	client := auth.Client{Addr: c.Addr, UserAgent: userAgent}
	grant, err := g.auth.AppPassword(c.Context(), login, secret, g.cfg.Scope, client)
	g.cfg.Metrics.SignIn(g.cfg.Proto, err == nil)
	if err != nil {
		if errors.Is(err, auth.ErrThrottled) {
			return err
		}
		if !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, auth.ErrScope) && !errors.Is(err, auth.ErrInactive) {
			c.Log.Error(g.cfg.Proto+": login check", "err", err)
		}
		return ErrFailed
	}
	acct := grant.Account
	if !g.take(acct.ID) {
		c.Log.Warn(g.cfg.Proto+": too many connections for account", "account", acct.Login)
		return ErrTooManyConns
	}
	ctx, release := g.auth.Connect(c.Context(), grant)
	c.mu.Lock()
	c.ctx, c.Account, c.signedIn, c.release = ctx, acct, true, release
	if c.Log == &c.loggers[0] {
		c.logs[1] = c.logs[0]
		c.logs[1].account = acct.Login
		c.loggers[1] = *slog.New(&c.logs[1])
		c.Log = &c.loggers[1]
	} else { // the protocol added to it
		c.Log = c.Log.With("account", acct.Login)
	}
	if onRevoke != nil {
		log := c.Log
		c.unwatch = context.AfterFunc(ctx, func() {
			if context.Cause(ctx) == auth.ErrRevoked {
				log.Info(g.cfg.Proto + ": access revoked, closing connection")
				onRevoke()
			}
		})
	}
	c.mu.Unlock()
	if g.cfg.Audit != nil {
		g.cfg.Audit.Record(ctx, audit.Event{Actor: acct.Login, Subject: acct.Login, Kind: "login." + g.cfg.Proto,
			Detail: "app_password=" + auth.AppPasswordCred(grant.AppPasswordID), Addr: c.Addr.String(), UserAgent: userAgent})
	}
	return nil
}

// Close ends the connection: its context is cancelled, its registration
// and its slot of the account's limit are given back. It may be called
// more than once. A connection revoked without an onRevoke (a WebDAV
// request, which revocation ends at once) logs its revocation here.
func (c *Conn) Close() {
	c.mu.Lock()
	closed, release, unwatch, signedIn, ctx := c.closed, c.release, c.unwatch, c.signedIn, c.ctx
	c.closed = true
	c.mu.Unlock()
	if closed {
		return
	}
	if unwatch != nil {
		// A connection that ends is not cut: stopped first, the reaction
		// does not start a goroutine when release ends the context.
		unwatch()
	} else if signedIn && context.Cause(ctx) == auth.ErrRevoked {
		c.Log.Info(c.g.cfg.Proto + ": access revoked, closing connection")
	}
	if release != nil {
		release()
		c.g.give(c.Account.ID)
	}
	c.stop()
	c.cancel(context.Canceled)
}

// connHandler is a connection's logger: it adds the connection's id,
// address and account to the records it handles, when it handles one,
// rather than formatting them for every connection in advance.
type connHandler struct {
	h       slog.Handler
	id      uint64
	addr    netip.Addr
	account string // once signed in
}

func (h *connHandler) attrs() []slog.Attr {
	as := []slog.Attr{slog.Uint64("conn", h.id), slog.String("addr", h.addr.String())}
	if h.account != "" {
		as = append(as, slog.String("account", h.account))
	}
	return as
}

func (h *connHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *connHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.attrs()...)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *connHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.h.WithAttrs(append(h.attrs(), as...))
}

func (h *connHandler) WithGroup(name string) slog.Handler {
	return h.h.WithAttrs(h.attrs()).WithGroup(name)
}

func (g *Gate) take(accountID int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perAcct[accountID] >= g.cfg.MaxConnsPerAccount {
		return false
	}
	g.perAcct[accountID]++
	return true
}

func (g *Gate) give(accountID int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perAcct[accountID]--; g.perAcct[accountID] <= 0 {
		delete(g.perAcct, accountID)
	}
}
