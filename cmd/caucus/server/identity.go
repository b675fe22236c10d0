package server

import (
	"cmp"
	"context"
	"errors"
	"math"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/tlsacme"
)

// buildIdentity is the second phase: the audit log, the metrics, the TLS
// certificates, the bound listeners (whose HTTPS address is the web
// origin) and the auth service.
func (s *Server) buildIdentity(ctx context.Context) (err error) {
	s.audit = audit.New(s.db, s.deps.Now, s.log.With("component", "audit"))
	s.reg = metrics.NewRegistry()
	s.stats = metrics.NewSet(s.reg)
	if s.tls, err = tlsManager(ctx, s.cfg, s.deps.Dev, s.deps.Now, s.log.With("component", "tls"), s.audit, s.acmeCache); err != nil {
		return err
	}
	if err := s.bindListeners(); err != nil {
		return err
	}
	cfg := s.cfg
	s.auth, err = auth.New(auth.Config{
		RPID:               cfg.Hostname,
		RPName:             "caucus",
		TOTPName:           cmp.Or(cfg.PartyName(), "caucus "+cfg.Hostname), // how authenticator apps list the account
		Origins:            []string{s.url},
		IdleTimeout:        cfg.Sessions.IdleTimeout.Duration,
		AbsoluteTimeout:    cfg.Sessions.AbsoluteTimeout.Duration,
		StepUpWindow:       cfg.Sessions.StepUpWindow.Duration,
		AdminsNeedWebAuthn: cfg.Policy.AdminsNeedWebAuthn,
		OfficerAAGUIDs:     cfg.Policy.OfficerKeyModels,
	}, auth.Deps{DB: s.db, Audit: s.audit, Log: s.log.With("component", "auth"), Now: s.deps.Now, Keys: s.keys, Metrics: s.stats,
		Revocations: s.revocations()})
	if err != nil {
		return err
	}
	s.shareThrottles()
	s.shareAuthCaches()
	s.reg.GaugeFunc("caucus_tls_certificate_expiry_timestamp_seconds", "When the host name's TLS certificate expires, in Unix seconds.", func(ctx context.Context) (float64, error) {
		t, err := s.tls.Expiry(ctx)
		if errors.Is(err, tlsacme.ErrNoCertificate) {
			return math.NaN(), nil // ACME obtains it on the first TLS connection
		}
		return float64(t.Unix()), err
	})
	return nil
}

// bindListeners binds every configured listener and counts its
// connections; the public URL is the bound HTTPS address.
func (s *Server) bindListeners() (err error) {
	if s.lns, err = bind(s.cfg.Listen); err != nil {
		return err
	}
	for name, l := range s.lns {
		s.addrs[name] = l.Addr().String()
		if name != "metrics" {
			s.lns[name] = s.stats.Listener(l, name)
		}
	}
	s.url = publicURL(s.cfg.Hostname, s.lns["https"].Addr())
	return nil
}
