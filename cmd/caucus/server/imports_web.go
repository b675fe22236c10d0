package server

import (
	"context"
	"net/http"
	"net/netip"
	"path/filepath"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/upload"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/mailimport/importweb"
)

// importDialer is how a member's import job reaches its source server:
// public addresses only, never the server's own (see importweb.Dialer).
// The admin's jobs (CLI, console) dial directly.
func (s *Server) importDialer() *importweb.Dialer {
	return &importweb.Dialer{Resolver: s.deps.Resolver, Own: s.ownAddrs}
}

// ownAddrs are the server's own addresses: its interfaces', and what its
// host name resolves to (behind NAT the public address is not on an
// interface).
func (s *Server) ownAddrs(ctx context.Context) ([]netip.Addr, error) {
	out, err := importweb.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	if ips, err := s.deps.Resolver.LookupIPAddr(ctx, s.cfg.Hostname); err == nil {
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, nil
}

// buildImportWeb adds the member's "Move your mail in" page
// (/mail/import) to the mux, with its uploads spooled under the data
// directory, and its spool's sweep to the housekeeping loops.
//
// Uploads of an mbox start an mbox job, and of a Takeout archive (.zip,
// .tgz) a Takeout job (mail, Drive into files, calendars and contacts).
func (s *Server) buildImportWeb(mux *http.ServeMux, pages *login.Handler) error {
	spool, err := upload.Open(s.db, filepath.Join(s.cfg.DataDir, "uploads"), s.deps.Now, s.log.With("component", "upload"))
	if err != nil {
		return err
	}
	kinds := importweb.Kinds{
		importweb.KindMbox:    importweb.StartKind(s.imports, mailimport.KindMbox),
		importweb.KindTakeout: importweb.StartKind(s.imports, mailimport.KindTakeout),
	}
	h, err := importweb.New(importweb.Deps{
		Imports: s.imports, Login: pages, Check: s.importDialer(),
		Uploads: spool, Kinds: kinds, Quota: s.mail.Usage,
		Log: s.log.With("component", "importweb"), Now: s.deps.Now,
	})
	if err != nil {
		return err
	}
	h.Register(mux)
	s.importSweep = h.RunSweep
	return nil
}
