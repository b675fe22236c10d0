package server

import (
	"context"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/console"
	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/fileweb"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/autoconfig"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/webmail"
)

// maxFormBody bounds every web request body that no route raised.
const maxFormBody = 1 << 20

// buildWeb is the fifth phase: the admin operations, and the pages and
// protocols of the HTTPS listener (sign-in, console, files, WebDAV, mail
// client setup, MTA-STS, health), the HTTP redirect and the metrics
// listener.
func (s *Server) buildWeb(ctx context.Context) error {
	cfg, log := s.cfg, s.log
	party, err := ui.PartyOf(cfg)
	if err != nil {
		return err
	}
	pages, err := login.New(s.auth, log.With("component", "web"), login.WithParty(party))
	if err != nil {
		return err
	}
	if s.backup, s.backupAt, err = newBackup(s.db, cfg, s.blobStores, s.audit, log.With("component", "backup"), s.deps.Now); err != nil {
		return err
	}
	var bk admin.Backup
	if s.backup != nil {
		bk = s.backup
	}
	s.ops = admin.NewOps(admin.OpsDeps{
		Auth: s.auth, DB: s.db, Mail: s.mail, Route: s.dir, Files: s.files, MailOffboard: s.offboard, Roles: s.mail, Audit: s.audit, Backup: bk,
		Mailer: s.submit, MailFrom: "postmaster@" + cfg.MailDomains[0],
		BaseURL: s.url, Log: log.With("component", "admin"), Now: s.deps.Now,
		PartyName: party.Name, Language: party.Language, TimeZone: party.TimeZone,
	})
	cals, books := s.newCalendarStores(party)
	s.diaries = groupDiaries{cals, books}
	adminWeb, err := console.New(console.Deps{
		Ops: s.ops, Login: pages, Queue: s.queue, CertExpiry: s.certExpiry, LastBackup: func(ctx context.Context) (time.Time, int64, error) { return backup.LastSuccess(ctx, s.db) },
		DNS: s.deps.Resolver, Records: dnsrec.Records(cfg.Hostname, cfg.MailDomains, dnsKeys(s.dkim)), Phish: s.phish, Messages: s.mail, Diaries: s.diaries, Log: log.With("component", "admin"),
		Imports: s.imports, Lists: s.lists,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	adminWeb.Register(mux)
	davh := dav.New(s.files, s.auth, s.stats, log.With("component", "dav"))
	s.shareLocks(davh)
	davh.Register(mux)
	s.buildCalendars(mux, cals)
	fweb, err := fileweb.New(s.files, s.auth, pages, log.With("component", "files-web"))
	if err != nil {
		return err
	}
	fweb.Register(mux)
	if err := s.buildWebmail(mux, pages); err != nil {
		return err
	}
	if err := s.buildContacts(mux, pages, books); err != nil {
		return err
	}
	s.setImportSinks(cals, books)
	if err := s.buildCalweb(mux, pages, cals, books); err != nil {
		return err
	}
	if err := s.buildImportWeb(mux, pages); err != nil {
		return err
	}
	if err := s.buildListWeb(mux, pages); err != nil {
		return err
	}
	autoconfig.New(autoconfig.SettingsFrom(s.bound(), s.url), s.auth, log.With("component", "autoconfig")).Register(mux, pages)
	// Members come for their mail first, as they did to Gmail.
	mux.Handle("GET /{$}", pages.Require(http.RedirectHandler("/mail/", http.StatusSeeOther)))
	mux.HandleFunc("GET /.well-known/mta-sts.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=86400")
		io.WriteString(w, dnsrec.MTASTSPolicy(cfg.Hostname))
	})
	health := s.health(log)
	mux.Handle("GET /healthz", health)
	s.https = web.NewServer(web.ErrorPages(web.Secure(s.stats.HTTP(mux), maxFormBody), mux, pages), log.With("component", "https"))
	s.https.TLSConfig = s.tls.TLSConfig().Clone() // net/http adds "h2" to it in place
	s.buildSideListeners(health)
	return nil
}

// buildSideListeners builds the metrics listener (Prometheus text and
// /healthz) and the plain HTTP listener (ACME's HTTP challenges, else a
// redirect to HTTPS), when configured.
func (s *Server) buildSideListeners(health http.Handler) {
	if s.lns["metrics"] != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", s.reg.Handler(func(err error) { s.log.Warn("metrics scrape", "err", err) }))
		mmux.Handle("GET /healthz", health)
		s.mon = web.NewServer(mmux, s.log.With("component", "metrics"))
	}
	if s.lns["http"] != nil {
		s.http = web.NewServer(s.tls.HTTPHandler(http.HandlerFunc(redirectHTTPS)), s.log.With("component", "http"))
	}
}

// bound is the configuration with the listeners' bound addresses: what
// clients are told (autoconfig) is what was bound, with free ports the
// ports the system chose.
func (s *Server) bound() config.Config {
	c := s.cfg
	c.Listen.IMAPS, c.Listen.IMAP = s.addrs["imaps"], s.addrs["imap"]
	c.Listen.Submission, c.Listen.Submissions = s.addrs["submission"], s.addrs["submissions"]
	return c
}

// buildControl opens the control socket: `caucus admin` acts through the
// same operations as the console.
func (s *Server) buildControl(ctx context.Context) (err error) {
	if s.ctlLn, err = ctl.Listen(s.cfg.DataDir); err != nil {
		return err
	}
	handlers := ctl.Handlers(s.ops, s.audit)
	maps.Copy(handlers, ctl.CohortHandlers(s.ops))
	member := func(ctx context.Context, login string) (int64, error) {
		a, err := s.auth.AccountByLogin(ctx, login)
		return a.ID, err
	}
	handlers[ctl.OpGroupDiary] = s.diaries.ctlHandler(s.auth)
	for op, h := range s.imports.CtlHandlers(member) {
		handlers[op] = func(ctx context.Context, c ctl.Call) (any, error) { return h(ctx, c.Actor, c.Args) }
	}
	s.ctl = ctl.New(ctl.Config{}, handlers, s.audit, s.log.With("component", "ctl"))
	return nil
}

// certExpiry is the end of the served certificate's validity, for the
// console's dashboard.
func (s *Server) certExpiry() (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.tls.Expiry(ctx)
}

// buildWebmail adds mail in the browser (mail/webmail) to the mux: it
// reads through the store's account-scoped readers, sends through
// mail/submit only, and follows the store's change bus.
func (s *Server) buildWebmail(mux *http.ServeMux, pages *login.Handler) error {
	wm, err := webmail.New(webmail.Deps{
		Store: s.mail, Submit: s.submit, Accounts: s.auth, Aliases: s.dir, Directory: s.dir,
		Changes: s.changes, Audit: s.audit, Reports: s.phish, Shared: s.mail, ReadAudit: s.audit, Login: pages,
		Log: s.log.With("component", "webmail"), Now: s.deps.Now, Hostname: s.cfg.Hostname,
	})
	if err != nil {
		return err
	}
	wm.Register(mux)
	return nil
}
