package importweb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/msgview"
)

// ErrNotPublic refuses a member's source server whose name leads to an
// address that is not on the public internet: loopback, private (RFC
// 1918, RFC 4193), link-local (where cloud metadata services answer), a
// special-purpose range ([msgview.PublicAddr]) or one of the server's
// own addresses. Without it a member could make caucus connect to
// services only the server itself reaches (server-side request forgery).
var ErrNotPublic = errors.New("importweb: the source server's address is not on the public internet")

// Resolver looks up a host's addresses (internal/dns.Resolver has it;
// tests pass dns.Mock).
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Dialer connects a member's import job to its source server: it
// resolves the name once, checks every address, and dials a checked
// address, never the name again, so that a second DNS answer (DNS
// rebinding) cannot lead elsewhere. The admin's jobs (the CLI, the
// console's CSV) do not go through it.
type Dialer struct {
	Resolver Resolver
	// Own returns the server's own addresses (its interfaces', and its
	// host name's); nil: the interfaces' addresses.
	Own func(ctx context.Context) ([]netip.Addr, error)
	// Allow lets addresses through that would be refused. Tests set it
	// (their IMAP server listens on 127.0.0.1); never set by default.
	Allow []netip.Prefix
	// Timeout bounds a connection attempt; default 30 s.
	Timeout time.Duration
	// ResolveTimeout bounds the lookup of the name; default 15 s.
	ResolveTimeout time.Duration
}

// Check resolves the host of hostport and returns its addresses, with
// the port, if every one may be reached; else an error wrapping
// [ErrNotPublic] (or the resolver's).
func (d *Dialer) Check(ctx context.Context, hostport string) ([]netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("importweb: %w", err)
	}
	port, err := net.LookupPort("tcp", portText)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("importweb: port %q", portText)
	}
	rctx, cancel := context.WithTimeout(ctx, cmp.Or(d.ResolveTimeout, 15*time.Second))
	defer cancel()
	addrs, err := d.resolve(rctx, host)
	if err != nil {
		return nil, err
	}
	own, err := d.own(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		if !d.allowed(a, own) {
			return nil, fmt.Errorf("%w: %s is %s", ErrNotPublic, host, a)
		}
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	return out, nil
}

// resolve returns host's addresses (host itself if it is one).
func (d *Dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if d.Resolver == nil {
		return nil, errors.New("importweb: no resolver")
	}
	ips, err := d.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("importweb: resolving %s: %w", host, err)
	}
	var out []netip.Addr
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok || ip.Zone != "" {
			return nil, fmt.Errorf("%w: %s has address %s", ErrNotPublic, host, ip)
		}
		out = append(out, a.Unmap())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("importweb: %s has no address", host)
	}
	return out, nil
}

// own returns the server's own addresses.
func (d *Dialer) own(ctx context.Context) ([]netip.Addr, error) {
	if d.Own != nil {
		return d.Own(ctx)
	}
	return InterfaceAddrs()
}

// InterfaceAddrs returns the addresses of the machine's interfaces.
func InterfaceAddrs() ([]netip.Addr, error) {
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("importweb: own addresses: %w", err)
	}
	var out []netip.Addr
	for _, ia := range ifs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// allowed says whether a may be dialled: a public address not the
// server's own, or one that Allow names.
func (d *Dialer) allowed(a netip.Addr, own []netip.Addr) bool {
	for _, p := range d.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return msgview.PublicAddr(a) && !slices.Contains(own, a)
}

// DialContext connects to addr ("host:port") if [Dialer.Check] allows
// every address of host, trying the checked addresses in turn. It has
// the signature of mailimport.Options.PublicDial. A refused address
// wraps mailimport.ErrBadSource too, so that the job ends at once.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	aps, err := d.Check(ctx, addr)
	if errors.Is(err, ErrNotPublic) {
		// Not worth trying again: the job ends (a DNS failure is retried).
		return nil, fmt.Errorf("%w: %w", mailimport.ErrBadSource, err)
	}
	if err != nil {
		return nil, err
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	nd := net.Dialer{Timeout: timeout}
	var errs []error
	for _, ap := range aps {
		c, err := nd.DialContext(ctx, network, ap.String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("importweb: %w", errors.Join(errs...))
}
