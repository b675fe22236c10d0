// Package server wires caucus together: it builds every component from the
// configuration in phases (storage, identity, mail, files, web,
// housekeeping), serves every listener, and shuts down in two phases.
//
// [New] opens storage and builds the components, binding every listener
// so that a taken port fails before anything runs; [Server.Serve] starts
// the accept loops and the housekeeping loops and returns; [Server.Shutdown]
// first refuses new work everywhere at once (IMAP says BYE, RFC 9051
// section 7.1.5; SMTP says 421, RFC 5321 section 3.8; HTTPS lets the
// requests in flight finish) and then cancels what is left and closes the
// storage.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/imapserver"
	"github.com/caucus-org/caucus/mail/lists"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/smtpserver"
	"github.com/caucus-org/caucus/mail/srs"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// Deps are what the command line, the demo and tests add to the
// configuration. The zero value serves for real: the system clock, the
// system resolver, the queue's own dialer, logs discarded.
type Deps struct {
	Dev        bool   // the local demo: self-signed certificate, no DNS
	FirstAdmin string // the first admin's address (default admin@ the first mail domain)
	Log        *slog.Logger
	Out        io.Writer // where the first admin's enrolment link goes
	Now        func() time.Time

	// NoNotices turns the notices by mail (auth/notice) off: for tests
	// that count the messages in a mailbox, where a notice of the app
	// password they made would be one more.
	NoNotices bool

	// For tests that run several instances: DNS, and how the queue
	// reaches other servers.
	Resolver  dns.Resolver
	QueueDial func(ctx context.Context, network, addr string) (net.Conn, error)
	QueuePort int
}

func (d *Deps) defaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Out == nil {
		d.Out = io.Discard
	}
	if d.Resolver == nil {
		d.Resolver = dns.System()
		if d.Dev {
			// The demo asks no DNS server anything: every name is
			// unknown to it.
			d.Resolver = &dns.Mock{}
		}
	}
}

// Server is one running caucus.
type Server struct {
	cfg  config.Config
	deps Deps
	log  *slog.Logger

	// storage
	db    *db.DB
	blobs blob.Store // mail bodies
	keys  *auth.Keys

	// blobStores are the blob stores blobDir opened, by owner: what the
	// scheduled backup copies.
	blobStores map[string]blob.Store
	// blobCache is the cache of S3 objects on this node's disk that
	// blobDir's S3 stores share (storage.s3.cache_mb); nil for none.
	blobCache *cache.Cache

	// identity
	audit *audit.Log
	tls   *tlsacme.Manager
	stats *metrics.Set
	reg   *metrics.Registry
	auth  *auth.Service

	// mail
	mail      *store.Store
	imports   *mailimport.Importer
	diaries   groupDiaries  // group calendars and address books, read-only or not (console and CLI)
	changes   store.Changes // the store's change bus: IMAP and webmail listen
	imap      *imapserver.Server
	dir       *route.Directory
	srs       *srs.Rewriter // forwarded senders (SRS) and their bounces
	queue     *queue.Queue
	submit    *submit.Service
	smtp      *smtpserver.Server
	autoreply *autoreply.Responder // auto-replies for departed staff
	offboard  *offboard.Service    // retention, exports, successors
	phish     *phish.Service       // phishing reports, blocked senders
	lists     *lists.Service       // member mailing lists
	dkim      map[string][]msgauth.DKIMKey

	// files
	files *files.Store

	cals *calendar.Store // calendars, scheduling invitations (buildWeb)

	// importSweep deletes abandoned and finished browser uploads of
	// the import page (buildImportWeb).
	importSweep func(ctx context.Context)

	// web and control
	ops   *admin.Ops // the admin actions the console and `caucus admin` share
	url   string     // public base URL of the web interface
	https *http.Server
	http  *http.Server // redirects to HTTPS, ACME's HTTP challenges
	mon   *http.Server // the metrics listener
	ctl   *ctl.Server  // the control socket of `caucus admin`
	ctlLn *net.UnixListener

	// backup makes the daily backup at backupAt and incident mode's
	// immediate one; nil when none is configured.
	backup   *backup.Service
	backupAt time.Duration

	lns   listeners         // bound, not yet served
	addrs map[string]string // listener name ("imaps", …) → bound address
	loops []runner          // housekeeping, started by Serve
	// listening holds, for each listener of the other nodes' messages
	// (see listen), a channel closed once it listens.
	listening []chan struct{}
	node      string // this process among the nodes (see nodeName)

	// reqCtx is the context of every web request; it ends in the second
	// phase of the shutdown, as does runCtx, the housekeeping loops'.
	reqCtx, runCtx       context.Context
	stopReqs, stopLoops  context.CancelFunc
	wg                   sync.WaitGroup // accept loops and housekeeping
	served, shuttingDown bool
	mu                   sync.Mutex
}

// New opens storage (applying migrations), builds every component and
// binds every listener; nothing is served until [Server.Serve]. On first
// start it invites the first admin and writes the enrolment link to
// deps.Out.
func New(ctx context.Context, cfg config.Config, deps Deps) (_ *Server, err error) {
	deps.defaults()
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, addrs: map[string]string{}, node: nodeName()}
	defer func() {
		if err != nil {
			s.closeUnserved()
		}
	}()
	for _, phase := range []func(context.Context) error{
		s.openStorage, s.buildIdentity, s.buildMail, s.buildFiles, s.buildWeb, s.buildControl, s.buildLoops, s.inviteFirstAdmin,
	} {
		if err := phase(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// closeUnserved undoes what New opened, when a later phase failed.
func (s *Server) closeUnserved() {
	s.lns.close()
	if s.ctlLn != nil {
		s.ctlLn.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// Serve starts every housekeeping loop, waits until this node hears the
// other nodes (on PostgreSQL, every listener listens: see
// awaitListeners; it fails if ctx ends or listenWait passes first), then
// starts every accept loop and returns; they run until
// [Server.Shutdown]. Nothing it starts blocks an accept loop: each
// connection is served on its own goroutine by its protocol package.
// ctx's values reach the loops, its cancellation does not: the loops end
// in the second phase of Shutdown.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.served || s.shuttingDown {
		return errors.New("server: Serve called twice or after Shutdown")
	}
	s.served = true
	s.runCtx, s.stopLoops = context.WithCancel(context.WithoutCancel(ctx))
	s.reqCtx, s.stopReqs = context.WithCancel(context.WithoutCancel(ctx))
	for _, l := range s.loops {
		s.wg.Go(func() { l.Run(s.runCtx) })
	}
	if err := s.awaitListeners(ctx); err != nil {
		s.stopLoops()
		return err
	}
	s.serveListeners()
	s.log.Info("caucus serving", "web", s.url, "imaps", s.addrs["imaps"], "imap", s.addrs["imap"],
		"smtp", s.addrs["smtp"], "submission", s.addrs["submission"], "submissions", s.addrs["submissions"],
		"metrics", s.addrs["metrics"], "data", s.cfg.DataDir, "dev", s.deps.Dev)
	return nil
}

// serveListeners starts one accept loop per bound listener.
func (s *Server) serveListeners() {
	s.https.BaseContext = func(net.Listener) context.Context { return s.reqCtx }
	s.goServe("https", func() error { return s.https.ServeTLS(s.lns["https"], "", "") })
	for name, serve := range map[string]func(net.Listener) error{
		"imaps": s.imap.ServeTLS, "imap": s.imap.Serve,
		"smtp": s.smtp.ServeMX, "submission": s.smtp.ServeSubmission, "submissions": s.smtp.ServeSubmissions,
	} {
		if ln := s.lns[name]; ln != nil {
			s.goServe(name, func() error { return serve(ln) })
		}
	}
	if ln := s.lns["metrics"]; ln != nil {
		s.goServe("metrics", func() error { return s.mon.Serve(ln) })
	}
	if ln := s.lns["http"]; ln != nil {
		s.http.BaseContext = s.https.BaseContext
		s.goServe("http", func() error { return s.http.Serve(ln) })
	}
	s.goServe("control socket", func() error { return s.ctl.Serve(s.ctlLn) })
}

// goServe runs one accept loop and logs how it ended, unless by shutdown.
func (s *Server) goServe(name string, serve func() error) {
	s.wg.Go(func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", name, "err", err)
		}
	})
}

// inviteFirstAdmin invites the first admin when there is no account yet,
// and issues a fresh link when that admin never finished enrolling (the
// old link cannot be shown again: only its hash is stored).
func (s *Server) inviteFirstAdmin(ctx context.Context) error {
	login := s.deps.FirstAdmin
	if login == "" {
		login = "admin@" + s.cfg.MailDomains[0]
	}
	n, err := s.auth.CountAccounts(ctx)
	if err != nil {
		return err
	}
	var token string
	switch n {
	case 0:
		token, err = s.auth.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: "Admin", Role: auth.RoleAdmin}, auth.Client{})
	case 1:
		accts, lerr := s.auth.Accounts(ctx)
		if lerr != nil {
			return lerr
		}
		if a := accts[0]; a.IsAdmin() && a.State == auth.StateInvited {
			token, err = s.auth.NewEnrolmentLink(ctx, "", a.ID, auth.Client{})
		}
	}
	if err != nil {
		return fmt.Errorf("invite first admin: %w", err)
	}
	if token != "" {
		fmt.Fprintf(s.deps.Out, "enrol: %s/enrol/%s\n", s.url, token)
	}
	return nil
}

// mkdirData makes the data directory, readable by caucus only.
func mkdirData(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}
