package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/console"
	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/fileweb"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/autoconfig"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/imapserver"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/smtpserver"
	"github.com/caucus-org/caucus/mail/srs"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// maxFormBody bounds every web request body that no route raised.
const maxFormBody = 1 << 20

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "configuration file (see caucus init)")
	dev := fs.Bool("dev", false, "run the local demo: 127.0.0.1 only, self-signed certificate, data in --data")
	data := fs.String("data", "", "data directory for --dev")
	httpsAddr := fs.String("https", "", "with --dev: listen address for HTTPS instead of 127.0.0.1:8443")
	freePorts := fs.Bool("free-ports", false, "with --dev: let the system choose free ports on 127.0.0.1 for every listener (tests, or when the usual ports are taken)")
	firstAdmin := fs.String("first-admin", "", "address of the first admin, invited on first start (default admin@ the first mail domain)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg config.Config
	switch {
	case *dev && *cfgFile == "":
		if *data == "" {
			return errors.New("--dev needs --data DIR")
		}
		dir, err := filepath.Abs(*data)
		if err != nil {
			return err
		}
		cfg = config.Dev(dir)
		if err := cfg.Validate(); err != nil {
			return err
		}
		if *freePorts {
			cfg.Listen = freeListen(cfg.Listen)
		}
		if *httpsAddr != "" {
			cfg.Listen.HTTPS = *httpsAddr // port 0 allowed: tests and a busy 8443
		}
	case !*dev && *cfgFile != "":
		var err error
		if cfg, err = config.Load(*cfgFile); err != nil {
			return err
		}
	default:
		fs.Usage()
		return errors.New("give either --dev --data DIR or --config FILE")
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	srv, err := start(ctx, cfg, options{dev: *dev, firstAdmin: *firstAdmin, log: log, out: stdout})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down: refusing new work, finishing what is in flight (a second signal exits at once)")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.shutdown(sctx)
}

// freeListen moves every configured listener to a free port on 127.0.0.1.
func freeListen(l config.Listen) config.Listen {
	for _, a := range []*string{&l.HTTPS, &l.HTTP, &l.IMAPS, &l.IMAP, &l.SMTP, &l.Submission, &l.Submissions, &l.Metrics} {
		if *a != "" {
			*a = "127.0.0.1:0"
		}
	}
	return l
}

func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// options are what the command line adds to the configuration.
type options struct {
	dev        bool
	firstAdmin string
	log        *slog.Logger
	out        io.Writer // where the enrol: line goes
	now        func() time.Time

	// For tests that run several instances: DNS, and how the queue reaches
	// other servers.
	resolver  dns.Resolver
	queueDial func(ctx context.Context, network, addr string) (net.Conn, error)
	queuePort int
}

// server is one running caucus.
type server struct {
	cfg    config.Config
	log    *slog.Logger
	db     *db.DB
	blobs  blob.Store
	audit  *audit.Log
	tls    *tlsacme.Manager
	stats  *metrics.Set
	mon    *http.Server // the metrics listener
	auth   *auth.Service
	mail   *store.Store
	files  *files.Store
	queue  *queue.Queue
	imap   *imapserver.Server
	dir    *route.Directory
	srs    *srs.Rewriter // forwarded senders (SRS) and their bounces
	smtp   *smtpserver.Server
	submit *submit.Service
	url    string            // public base URL of the web interface
	addrs  map[string]string // listener name ("imaps", …) → bound address
	https  *http.Server
	http   *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// The mail side of offboarding: auto-replies, retention, successors.
	autoreply *autoreply.Responder
	offboard  *offboard.Service
	ctl       *ctl.Server // the control socket of `caucus admin`

	ops *admin.Ops // the admin actions the console and `caucus admin` share
}

// start opens storage, applies migrations, binds the listeners and serves
// until shutdown. On first start it invites the first admin and writes the
// enrolment link to o.out.
func start(ctx context.Context, cfg config.Config, o options) (_ *server, err error) {
	if o.now == nil {
		o.now = time.Now
	}
	log := o.log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &server{cfg: cfg, log: log, addrs: map[string]string{}}
	defer func() {
		if err != nil && s.db != nil {
			s.db.Close()
		}
	}()
	if s.db, err = db.Open(ctx, filepath.Join(cfg.DataDir, "caucus.db"), log); err != nil {
		return nil, err
	}
	comps := []db.Component{audit.Component(), auth.Component(), store.Component(), route.Component(), queue.Component(),
		autoreply.Component(), offboard.Component(), admin.Component(), files.Component(), backup.Component()}
	if p, err := backup.BeforeMigrate(ctx, s.db, cfg.DataDir, o.now(), comps...); err != nil {
		return nil, err
	} else if p != "" {
		log.Info("database saved before the schema migration", "path", p)
	}
	if err = s.db.Migrate(ctx, comps...); err != nil {
		return nil, err
	}
	// Mail has a blob directory of its own: its garbage collector may
	// delete any body no message refers to.
	if s.blobs, err = blob.OpenDir(filepath.Join(cfg.DataDir, "blobs", "mail")); err != nil {
		return nil, err
	}
	keys, err := auth.LoadKeys(filepath.Join(cfg.DataDir, "keys", "auth.key"))
	if err != nil {
		return nil, err
	}
	s.audit = audit.New(s.db, o.now, log.With("component", "audit"))

	reg := metrics.NewRegistry()
	s.stats = metrics.NewSet(reg)
	if s.tls, err = tlsManager(cfg, o.dev, o.now, log.With("component", "tls"), s.audit); err != nil {
		return nil, err
	}
	tlsCfg := s.tls.TLSConfig()
	lns, err := bind(cfg.Listen)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lns.close()
		}
	}()
	ln := lns["https"]
	for name, l := range lns {
		s.addrs[name] = l.Addr().String()
		if name != "metrics" {
			lns[name] = s.stats.Listener(l, name)
		}
	}
	ln = lns["https"]
	// What clients are told (autoconfig) is what was bound: with free
	// ports, the ports the system chose.
	bound := cfg
	bound.Listen.IMAPS, bound.Listen.IMAP = s.addrs["imaps"], s.addrs["imap"]
	bound.Listen.Submission, bound.Listen.Submissions = s.addrs["submission"], s.addrs["submissions"]
	s.url = publicURL(cfg.Hostname, ln.Addr())

	s.auth, err = auth.New(auth.Config{
		RPID:               cfg.Hostname,
		RPName:             "caucus",
		TOTPName:           "caucus " + cfg.Hostname,
		Origins:            []string{s.url},
		IdleTimeout:        cfg.Sessions.IdleTimeout.Duration,
		AbsoluteTimeout:    cfg.Sessions.AbsoluteTimeout.Duration,
		StepUpWindow:       cfg.Sessions.StepUpWindow.Duration,
		AdminsNeedWebAuthn: cfg.Policy.AdminsNeedWebAuthn,
	}, auth.Deps{DB: s.db, Audit: s.audit, Log: log.With("component", "auth"), Now: o.now, Keys: keys, Metrics: s.stats,
		// One node: live connections are revoked in process.
		Revocations: auth.NewHub()})
	if err != nil {
		return nil, err
	}
	// The store publishes its changes on an in-process bus; the IMAP
	// server subscribes to it.
	changes := store.NewBus()
	s.mail = store.New(s.db, s.blobs, log.With("component", "store"), store.Options{Changes: changes})
	s.imap = imapserver.New(imapserver.Config{TLSConfig: protocolTLS(tlsCfg, "imap"), Metrics: s.stats, Changes: changes}, s.mail, s.auth, log.With("component", "imap"))
	s.dir = route.New(s.db, s.auth, cfg.MailDomains, o.now)
	if s.srs, err = srs.New(keys.Derive("srs"), cfg.MailDomains[0], o.now); err != nil {
		return nil, err
	}
	// The demo asks no DNS server anything: every name is unknown to it.
	var resolver dns.Resolver = dns.System()
	if o.dev {
		resolver = &dns.Mock{}
	}
	if o.resolver != nil {
		resolver = o.resolver
	}
	dkim, err := dkimKeys(cfg, o.now())
	if err != nil {
		return nil, err
	}
	// The outbound queue keeps its bodies apart from the mailboxes'.
	qblobs, err := blob.OpenDir(filepath.Join(cfg.DataDir, "blobs", "queue"))
	if err != nil {
		return nil, err
	}
	s.queue = queue.New(queue.Config{
		Hostname:   cfg.Hostname,
		Resolver:   resolver,
		Postmaster: "postmaster@" + cfg.MailDomains[0],
		Now:        o.now,
		Dialer:     o.queueDial,
		Port:       o.queuePort,
		Metrics:    s.stats,
		// Delivery status notifications are signed and delivered here
		// through mail/submit, built just below.
		LocalDeliver: func(ctx context.Context, rcpt string, msg io.Reader) error {
			return s.submit.DeliverLocal(ctx, rcpt, msg)
		},
		Sign: func(ctx context.Context, msg []byte) ([]byte, error) { return s.submit.Sign(ctx, msg) },
	}, s.db, qblobs, log.With("component", "queue"))
	// The one way a message enters or leaves: what the MX receives, what
	// members submit, and what caucus writes (invitations, auto-replies,
	// notifications).
	s.submit = submit.New(submit.Config{Hostname: cfg.Hostname, SendPerHour: cfg.SMTP.SendPerHour, MaxRcptsPerMessage: cfg.SMTP.MaxRcptsPerMessage}, submit.Deps{
		Store: s.mail, Dir: s.dir, Queue: s.queue, Signer: submit.DKIMSigner{Keys: dkim}, SRS: s.srs,
		Audit: s.auth.Audit(), Metrics: s.stats, Log: log.With("component", "submit"), Now: o.now,
	})
	// Auto-replies (RFC 3834) to mail for departed staff: sent through
	// mail/submit like all other mail, which triggers them.
	s.autoreply = autoreply.New(autoreply.Config{Hostname: cfg.Hostname, Now: o.now}, autoreply.Deps{
		DB: s.db, Dir: s.dir, Mail: s.submit, Log: log.With("component", "autoreply"),
	})
	s.submit.SetAutoReply(s.autoreply)
	s.offboard = offboard.New(offboard.Config{ExportDir: filepath.Join(cfg.DataDir, "exports"), Now: o.now}, offboard.Deps{
		DB: s.db, Store: s.mail, Auth: s.auth, Dir: s.dir, Log: log.With("component", "offboard"),
	})
	s.smtp = smtpserver.New(smtpserver.Config{Hostname: cfg.Hostname, TLSConfig: protocolTLS(tlsCfg),
		MaxConnsPerAddr: cfg.SMTP.MaxConnsPerAddr, MaxMessageBytes: cfg.SMTP.MaxMessageBytes, MaxRecipients: cfg.SMTP.MaxRecipients}, smtpserver.Deps{
		Auth: s.auth, Submit: s.submit, Log: log.With("component", "smtp"), Now: o.now,
		Inbound: smtpserver.Checks{Checker: msgauth.NewChecker(resolver, cfg.Hostname, log.With("component", "msgauth")), Dir: s.dir, Hostname: cfg.Hostname},
		Metrics: s.stats,
	})
	// Files have a blob directory of their own too (see above).
	fblobs, err := blob.OpenDir(filepath.Join(cfg.DataDir, "blobs", "files"))
	if err != nil {
		return nil, err
	}
	s.files = files.New(s.db, fblobs, files.Options{
		Versions:            cfg.Files.Versions,
		TrashRetention:      cfg.Files.TrashRetention.Duration,
		DefaultQuota:        cfg.Files.DefaultQuotaMB << 20,
		DefaultLinkLifetime: cfg.Files.DefaultLinkLifetime.Duration,
		MaxLinkLifetime:     cfg.Files.MaxLinkLifetime.Duration,
		Now:                 o.now,
	}, files.Deps{Auth: s.auth, Audit: s.audit, Log: log.With("component", "files")})
	pages, err := login.New(s.auth, log.With("component", "web"))
	if err != nil {
		return nil, err
	}
	s.ops = admin.NewOps(admin.OpsDeps{
		Auth: s.auth, DB: s.db, Mail: s.mail, Route: s.dir, Files: s.files, MailOffboard: s.offboard, Audit: s.audit,
		Mailer: s.submit, MailFrom: "postmaster@" + cfg.MailDomains[0],
		BaseURL: s.url, Log: log.With("component", "admin"), Now: o.now,
	})
	adminWeb, err := console.New(console.Deps{
		Ops: s.ops, Login: pages, Queue: s.queue, CertExpiry: s.certExpiry, LastBackup: func(ctx context.Context) (time.Time, int64, error) { return backup.LastSuccess(ctx, s.db) },
		DNS: resolver, Records: dnsrec.Records(cfg.Hostname, cfg.MailDomains, dnsKeys(dkim)), Log: log.With("component", "admin"),
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	adminWeb.Register(mux)
	dav.New(s.files, s.auth, s.stats, log.With("component", "dav")).Register(mux)
	fweb, err := fileweb.New(s.files, s.auth, pages, log.With("component", "files-web"))
	if err != nil {
		return nil, err
	}
	fweb.Register(mux)
	mailSetup := autoconfig.New(autoconfig.SettingsFrom(bound, s.url), s.auth, log.With("component", "autoconfig"))
	mailSetup.Register(mux, pages.Require)
	mux.Handle("GET /{$}", pages.Require(http.RedirectHandler("/account", http.StatusSeeOther)))
	mux.HandleFunc("GET /.well-known/mta-sts.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=86400")
		io.WriteString(w, dnsrec.MTASTSPolicy(cfg.Hostname))
	})

	health := metrics.Health(s.healthy, func(err error) { log.Warn("health check failed", "err", err) })
	mux.Handle("GET /healthz", health)
	reg.GaugeFunc("caucus_mail_stored_bytes", "Bytes of mail stored, all accounts (a message counts once per mailbox copy).", func(ctx context.Context) (float64, error) {
		n, err := s.mail.TotalSize(ctx)
		return float64(n), err
	})
	reg.GaugeFunc("caucus_files_stored_bytes", "Bytes of files stored, all spaces, every kept version and the trash.", func(ctx context.Context) (float64, error) {
		n, err := s.files.TotalSize(ctx)
		return float64(n), err
	})
	reg.GaugeFunc("caucus_tls_certificate_expiry_timestamp_seconds", "When the host name's TLS certificate expires, in Unix seconds.", func(ctx context.Context) (float64, error) {
		t, err := s.tls.Expiry(ctx)
		if errors.Is(err, tlsacme.ErrNoCertificate) {
			return math.NaN(), nil // ACME obtains it on the first TLS connection
		}
		return float64(t.Unix()), err
	})
	s.https = web.NewServer(web.Secure(s.stats.HTTP(mux), maxFormBody), log.With("component", "https"))
	s.https.TLSConfig = tlsCfg.Clone() // net/http adds "h2" to it in place

	if err = s.firstAdmin(ctx, o); err != nil {
		return nil, err
	}
	// The control socket: `caucus admin` acts through the same functions
	// as the console.
	ctlLn, err := ctl.Listen(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ctlLn.Close()
		}
	}()
	s.ctl = ctl.New(ctl.Config{}, ctl.Handlers(s.ops, s.audit), s.audit, log.With("component", "ctl"))

	runBackups, err := s.backupSchedule(cfg.Backup, o.now)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Go(func() { s.auth.Run(runCtx) })
	s.wg.Go(func() { s.audit.Run(runCtx) }) // writes the counts of aggregated failures
	s.wg.Go(func() { s.collectMailGarbage(runCtx) })
	s.wg.Go(func() { s.mail.RunIndexer(runCtx) })
	s.wg.Go(func() { s.queue.Run(runCtx) })
	if runBackups != nil {
		s.wg.Go(func() { runBackups(runCtx) })
	}
	s.wg.Go(func() { s.autoreply.Run(runCtx) })
	s.wg.Go(func() { s.offboard.Run(runCtx) })
	s.wg.Go(func() { s.ops.RunExpiry(runCtx, time.Hour) })
	s.wg.Go(func() {
		if err := s.ctl.Serve(ctlLn); err != nil {
			log.Error("control socket", "err", err)
		}
	})
	s.wg.Go(func() { s.files.Run(runCtx) })
	s.wg.Go(func() {
		if err := s.https.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("https server", "err", err)
		}
	})
	for name, implicitTLS := range map[string]bool{"imaps": true, "imap": false} {
		iln := lns[name]
		if iln == nil {
			continue
		}
		serve := s.imap.Serve
		if implicitTLS {
			serve = s.imap.ServeTLS
		}
		s.wg.Go(func() {
			if err := serve(iln); err != nil {
				log.Error("imap server", "addr", iln.Addr(), "err", err)
			}
		})
	}
	for name, serve := range map[string]func(net.Listener) error{
		"smtp": s.smtp.ServeMX, "submission": s.smtp.ServeSubmission, "submissions": s.smtp.ServeSubmissions,
	} {
		if sln := lns[name]; sln != nil {
			s.wg.Go(func() {
				if err := serve(sln); err != nil {
					log.Error("smtp server", "listener", name, "err", err)
				}
			})
		}
	}
	if mln := lns["metrics"]; mln != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", reg.Handler(func(err error) { log.Warn("metrics scrape", "err", err) }))
		mmux.Handle("GET /healthz", health)
		s.mon = web.NewServer(mmux, log.With("component", "metrics"))
		s.wg.Go(func() {
			if err := s.mon.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		})
	}
	if hln := lns["http"]; hln != nil {
		h := s.tls.HTTPHandler(http.HandlerFunc(redirectHTTPS))
		s.http = web.NewServer(h, log.With("component", "http"))
		s.wg.Go(func() {
			if err := s.http.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		})
	}
	log.Info("caucus serving", "web", s.url, "imaps", s.addrs["imaps"], "imap", s.addrs["imap"],
		"smtp", s.addrs["smtp"], "submission", s.addrs["submission"], "submissions", s.addrs["submissions"], "metrics", s.addrs["metrics"], "data", cfg.DataDir, "dev", o.dev)
	return s, nil
}

// dnsKeys are the DKIM keys as dnsrec publishes them.
func dnsKeys(keys map[string][]msgauth.DKIMKey) map[string][]dnsrec.DKIMKey {
	pub := map[string][]dnsrec.DKIMKey{}
	for d, ks := range keys {
		for _, k := range ks {
			pub[d] = append(pub[d], k)
		}
	}
	return pub
}

// collectMailGarbage deletes message bodies no message refers to any more,
// hourly, until ctx ends.
func (s *server) collectMailGarbage(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.mail.CollectGarbage(ctx); err != nil {
				s.log.Warn("mail garbage collection", "err", err)
			} else if n > 0 {
				s.log.Info("mail garbage collection", "deleted_blobs", n)
			}
		}
	}
}

// listeners are the bound sockets, by name ("https", "imaps", …).
type listeners map[string]net.Listener

// bind opens every configured listener, or none: on an error the ones
// already open are closed. Binding first lets caucus fail before it starts
// anything when a port is taken.
func bind(l config.Listen) (listeners, error) {
	lns := listeners{}
	for _, x := range []struct{ name, addr string }{
		{"https", l.HTTPS}, {"http", l.HTTP}, {"imaps", l.IMAPS}, {"imap", l.IMAP},
		{"smtp", l.SMTP}, {"submission", l.Submission}, {"submissions", l.Submissions},
		{"metrics", l.Metrics},
	} {
		if x.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			lns.close()
			return nil, fmt.Errorf("listen %s: %w", x.name, err)
		}
		lns[x.name] = ln
	}
	if lns["https"] == nil {
		lns.close()
		return nil, errors.New("listen https: no address configured")
	}
	return lns, nil
}

func (lns listeners) close() {
	for _, ln := range lns {
		ln.Close()
	}
}

// shutdown stops the listeners, lets requests in flight finish until ctx
// ends, then stops housekeeping and closes storage.
func (s *server) shutdown(ctx context.Context) error {
	var errs []error
	if s.ctl != nil {
		errs = append(errs, s.ctl.Shutdown(ctx))
	}
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	if s.mon != nil {
		errs = append(errs, s.mon.Shutdown(ctx))
	}
	if s.imap != nil {
		errs = append(errs, s.imap.Shutdown(ctx))
	}
	if s.smtp != nil {
		errs = append(errs, s.smtp.Shutdown(ctx))
	}
	if err := s.https.Shutdown(ctx); err != nil {
		errs = append(errs, err, s.https.Close())
	}
	s.cancel()
	s.wg.Wait()
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// firstAdmin invites the first admin when there is no account yet, and
// issues a fresh link when that admin never finished enrolling (the old link
// cannot be shown again: only its hash is stored).
func (s *server) firstAdmin(ctx context.Context, o options) error {
	login := o.firstAdmin
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
		fmt.Fprintf(o.out, "enrol: %s/enrol/%s\n", s.url, token)
	}
	return nil
}

// healthy reports whether the database answers, for GET /healthz.
func (s *server) healthy(ctx context.Context) error {
	var n int
	return s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
}

// publicURL is the web interface's address as browsers reach it.
func publicURL(host string, addr net.Addr) string {
	port := ""
	if ta, ok := addr.(*net.TCPAddr); ok && ta.Port != 443 {
		port = fmt.Sprintf(":%d", ta.Port)
	}
	return "https://" + host + port
}

func redirectHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@") {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

// protocolTLS is the web's TLS configuration for another protocol: the
// same certificates, and only that protocol's ALPN name (RFC 7301), never
// the web's "h2" or ACME's "acme-tls/1".
func protocolTLS(web *tls.Config, alpn ...string) *tls.Config {
	c := web.Clone()
	c.NextProtos = alpn
	return c
}

// tlsManager returns what hands out the certificate of every listener:
// the dev store's, the configured files', or ACME's.
func tlsManager(cfg config.Config, dev bool, now func() time.Time, log *slog.Logger, al *audit.Log) (*tlsacme.Manager, error) {
	switch {
	case dev:
		cert, err := devcert.Ensure(cfg.TLS.CertFile, cfg.TLS.KeyFile, now())
		if err != nil {
			return nil, err
		}
		return tlsacme.Fixed(cfg.Hostname, cert), nil
	case cfg.TLS.CertFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		return tlsacme.Fixed(cfg.Hostname, cert), nil
	}
	var roots *x509.CertPool
	if cfg.ACMECAFile != "" {
		data, err := os.ReadFile(cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("acme_ca_file: %w", err)
		}
		if roots, err = tlsacme.LoadRoots(data); err != nil {
			return nil, fmt.Errorf("acme_ca_file %s: %w", cfg.ACMECAFile, err)
		}
	}
	return tlsacme.New(tlsacme.Config{
		Hostname:     cfg.Hostname,
		Names:        tlsacme.Names(cfg.Hostname, cfg.MailDomains),
		Contact:      cfg.ACMEContact,
		DirectoryURL: cfg.ACMEDirectory,
		Roots:        roots,
		CacheDir:     filepath.Join(cfg.DataDir, "acme"),
		RenewBefore:  tlsacme.DefaultRenewBefore,
		Log:          log,
		OnCertificate: func(ctx context.Context, name string, notAfter time.Time) {
			ev := audit.Event{Kind: "tls.certificate", Detail: "name=" + name + " not_after=" + notAfter.UTC().Format(time.RFC3339) + " acme=" + cfg.ACMEDirectory}
			if err := al.Record(context.WithoutCancel(ctx), ev); err != nil {
				log.Error("audit: certificate obtained", "name", name, "err", err)
			}
		},
	})
}

// backupSchedule returns the loop of the daily backup that [backup]
// configures, or nil if there is none.
func (s *server) backupSchedule(b config.Backup, now func() time.Time) (func(context.Context), error) {
	if b.Dest == "" {
		return nil, nil
	}
	rcpt, err := age.ParseX25519Recipient(b.Recipient)
	if err != nil {
		return nil, fmt.Errorf("backup.recipient: %w", err)
	}
	at, err := backup.ParseTimeOfDay(b.Time)
	if err != nil {
		return nil, err
	}
	svc, err := backup.New(s.db, backup.Config{DataDir: s.cfg.DataDir, Dest: b.Dest, Recipients: []age.Recipient{rcpt},
		Keep: b.Keep, Audit: s.audit}, s.log.With("component", "backup"), now)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) { svc.Run(ctx, at) }, nil
}

// certExpiry is the end of the served certificate's validity, for the
// console's dashboard.
func (s *server) certExpiry() (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.tls.Expiry(ctx)
}
