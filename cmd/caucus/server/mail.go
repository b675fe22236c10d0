package server

import (
	"context"
	"io"
	"path/filepath"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/imapserver"
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

// buildMail is the third phase: the message store and its change bus,
// IMAP, addresses, SRS, the outbound queue, mail/submit (the one way a
// message enters or leaves), auto-replies, the mail side of offboarding,
// and SMTP.
func (s *Server) buildMail(ctx context.Context) (err error) {
	cfg, log, now := s.cfg, s.log, s.deps.Now
	// The store publishes its changes on a bus (in process, or across the
	// nodes on PostgreSQL); the IMAP server and webmail subscribe to it.
	s.changes = s.changeBus()
	s.mail = store.New(s.db, s.blobs, log.With("component", "store"), store.Options{Changes: s.changes, Hostname: cfg.Hostname})
	s.imap = imapserver.New(imapserver.Config{TLSConfig: tlsacme.ForProtocol(s.tls.TLSConfig(), "imap"), Metrics: s.stats, Changes: s.changes}, s.mail, s.auth, log.With("component", "imap"))
	s.dir = route.New(s.db, s.auth, cfg.MailDomains, now)
	s.dir.SetFreeze(admin.NewFreeze(s.db)) // incident mode keeps mail from leaving by forwards
	s.dir.SetRoles(s.mail)                 // role addresses are not free for aliases, groups, lists
	if s.srs, err = srs.New(s.keys.Derive("srs"), cfg.MailDomains[0], now); err != nil {
		return err
	}
	if err := s.buildSubmit(); err != nil {
		return err
	}
	if err := s.buildLists(); err != nil {
		return err
	}
	// Auto-replies (RFC 3834) to mail for departed staff: sent through
	// mail/submit like all other mail, which triggers them.
	s.autoreply = autoreply.New(autoreply.Config{Hostname: cfg.Hostname, Now: now}, autoreply.Deps{
		DB: s.db, Dir: s.dir, Mail: s.submit, Log: log.With("component", "autoreply"),
	})
	s.submit.SetAutoReply(s.autoreply)
	s.offboard = offboard.New(offboard.Config{ExportDir: filepath.Join(cfg.DataDir, "exports"), Now: now}, offboard.Deps{
		DB: s.db, Store: s.mail, Auth: s.auth, Dir: s.dir, Log: log.With("component", "offboard"),
	})
	// Phishing reports and the party's blocked senders: webmail records,
	// the console decides, the MX refuses.
	s.phish = phish.New(phish.Options{DB: s.db, Mail: s.mail, Audit: s.audit, Log: log.With("component", "phish"), Now: now})
	s.shareRouteMemo()
	s.smtp = smtpserver.New(smtpserver.Config{Hostname: cfg.Hostname, TLSConfig: tlsacme.ForProtocol(s.tls.TLSConfig()),
		MaxConnsPerAddr: cfg.SMTP.MaxConnsPerAddr, MaxMessageBytes: cfg.SMTP.MaxMessageBytes, MaxRecipients: cfg.SMTP.MaxRecipients}, smtpserver.Deps{
		Auth: s.auth, Submit: s.submit, Log: log.With("component", "smtp"), Now: now,
		Inbound: smtpserver.Checks{Checker: msgauth.NewChecker(s.deps.Resolver, cfg.Hostname, log.With("component", "msgauth")), Dir: s.dir, Hostname: cfg.Hostname, Blocked: s.phish},
		Metrics: s.stats,
	})
	// Moving in: members' mail copied from another provider (IMAP,
	// Google Takeout's archives and mbox, Maildir), as durable jobs; the
	// calendars and contacts of Takeout archives kept in a blob directory
	// of their own (buildFiles names the file store for Drive files).
	kept, err := s.blobDir("imports")
	if err != nil {
		return err
	}
	if s.imports, err = mailimport.New(mailimport.Options{
		DB: s.db, Store: s.mail, Key: s.keys.Derive("mailimport"), Audit: s.audit, Log: log.With("component", "mailimport"), Now: now,
		PublicDial: s.importDialer().DialContext,
		Kept:       kept,
	}); err != nil {
		return err
	}
	s.reg.GaugeFunc("caucus_mail_stored_bytes", "Bytes of mail stored, all accounts (a message counts once per mailbox copy).", func(ctx context.Context) (float64, error) {
		n, err := s.mail.TotalSize(ctx)
		return float64(n), err
	})
	return nil
}

// buildSubmit builds the outbound queue and mail/submit, which need each
// other: the queue's delivery status notifications are signed and
// delivered locally through mail/submit (see [bounceRoute]).
func (s *Server) buildSubmit() error {
	cfg := s.cfg
	dkim, err := dkimKeys(cfg, s.deps.Now())
	if err != nil {
		return err
	}
	// The outbound queue keeps its bodies apart from the mailboxes'.
	qblobs, err := s.blobDir("queue")
	if err != nil {
		return err
	}
	bounces := &bounceRoute{}
	s.queue = queue.New(queue.Config{
		Hostname:     cfg.Hostname,
		Resolver:     s.deps.Resolver,
		Postmaster:   "postmaster@" + cfg.MailDomains[0],
		Now:          s.deps.Now,
		Dialer:       s.deps.QueueDial,
		Port:         s.deps.QueuePort,
		Metrics:      s.stats,
		LocalDeliver: bounces.DeliverLocal,
		Sign:         bounces.Sign,
		Bulk:         s.listPacing(),
	}, s.db, qblobs, s.log.With("component", "queue"))
	// The one way a message enters or leaves: what the MX receives, what
	// members submit, and what caucus writes (invitations, auto-replies,
	// notifications).
	s.submit = submit.New(submit.Config{Hostname: cfg.Hostname, SendPerHour: cfg.SMTP.SendPerHour, MaxRcptsPerMessage: cfg.SMTP.MaxRcptsPerMessage}, submit.Deps{
		Store: s.mail, Dir: s.dir, Roles: s.mail, Queue: s.queue, Signer: submit.DKIMSigner{Keys: dkim}, SRS: s.srs,
		Audit: s.auth.Audit(), Metrics: s.stats, Log: s.log.With("component", "submit"), Now: s.deps.Now,
	})
	bounces.submit = s.submit
	s.dkim = dkim
	s.shareSendLimits()
	return nil
}

// bounceRoute is where the queue's own messages (delivery status
// notifications, RFC 3464) go: signed, and delivered to local recipients,
// by mail/submit. The queue is built before mail/submit, which needs it,
// so the route learns its submit service afterwards, before anything runs.
type bounceRoute struct {
	submit *submit.Service
}

// DeliverLocal delivers a notification to a local recipient.
func (r *bounceRoute) DeliverLocal(ctx context.Context, rcpt string, msg io.Reader) error {
	return r.submit.DeliverLocal(ctx, rcpt, msg)
}

// Sign DKIM-signs a notification before it leaves.
func (r *bounceRoute) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	return r.submit.Sign(ctx, msg)
}
