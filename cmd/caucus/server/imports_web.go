package server

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/caucus-org/caucus/auth/login"
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
// (/mail/import) to the mux.
func (s *Server) buildImportWeb(mux *http.ServeMux, pages *login.Handler) error {
	h, err := importweb.New(importweb.Deps{
		Imports: s.imports, Login: pages, Check: s.importDialer(),
		Log: s.log.With("component", "importweb"), Now: s.deps.Now,
	})
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}
