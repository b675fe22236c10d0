package importweb

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// ownAddr is the test server's own public address.
var ownAddr = netip.MustParseAddr("93.184.216.34")

func ipAddrs(addrs ...string) []net.IPAddr {
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out
}

// testDialer resolves through a fake DNS and counts the server's own
// address as its own.
func testDialer(ips map[string][]net.IPAddr) *Dialer {
	return &Dialer{Resolver: &dns.Mock{IP: ips}, Own: func(context.Context) ([]netip.Addr, error) { return []netip.Addr{ownAddr}, nil }}
}

// TestDialerRefuses: a member's source is refused when its name (or
// any one of its addresses) leads to loopback, private, link-local,
// special-purpose or the server's own address.
func TestDialerRefuses(t *testing.T) {
	t.Parallel()
	ips := map[string][]net.IPAddr{
		"loop.test":     ipAddrs("127.0.0.1"),
		"loop6.test":    ipAddrs("::1"),
		"mapped.test":   ipAddrs("::ffff:127.0.0.1"),
		"ten.test":      ipAddrs("10.1.2.3"),
		"home.test":     ipAddrs("192.168.1.10"),
		"ula.test":      ipAddrs("fd00::25"),
		"meta.test":     ipAddrs("169.254.169.254"),
		"ll6.test":      ipAddrs("fe80::1"),
		"cgnat.test":    ipAddrs("100.64.0.1"),
		"zero.test":     ipAddrs("0.0.0.0"),
		"own.test":      ipAddrs(ownAddr.String()),
		"mixed.test":    ipAddrs("142.250.27.108", "10.0.0.1"),
		"nat64.test":    ipAddrs("64:ff9b::a00:1"),
		"imap.gmail.ok": ipAddrs("142.250.27.108", "2a00:1450:400c:c0c::6c"),
	}
	d := testDialer(ips)
	for _, addr := range []string{
		"loop.test:993", "loop6.test:993", "mapped.test:993", "ten.test:993", "home.test:993", "ula.test:993",
		"meta.test:993", "ll6.test:993", "cgnat.test:993", "zero.test:993", "own.test:993", "mixed.test:993", "nat64.test:993",
		"127.0.0.1:993", "[::1]:993", "10.0.0.8:143", "169.254.169.254:80", "[fe80::1]:993", ownAddr.String() + ":993",
	} {
		_, err := d.Check(t.Context(), addr)
		if !errors.Is(err, ErrNotPublic) {
			t.Errorf("Check(%s) = %v, want ErrNotPublic", addr, err)
		}
		if _, err := d.DialContext(t.Context(), "tcp", addr); !errors.Is(err, ErrNotPublic) || !errors.Is(err, mailimport.ErrBadSource) {
			t.Errorf("DialContext(%s) = %v, want ErrNotPublic and ErrBadSource", addr, err)
		}
	}
	aps, err := d.Check(t.Context(), "imap.gmail.ok:993")
	if err != nil || len(aps) != 2 || aps[0].String() != "142.250.27.108:993" {
		t.Errorf("Check(public) = %v, %v", aps, err)
	}
	if _, err := d.Check(t.Context(), "unknown.test:993"); err == nil || errors.Is(err, ErrNotPublic) {
		t.Errorf("Check(unknown name) = %v, want a resolver error", err)
	}
	if _, err := d.DialContext(t.Context(), "tcp", "unknown.test:993"); errors.Is(err, mailimport.ErrBadSource) {
		t.Errorf("a DNS failure ends the job (%v): it should be tried again", err)
	}
}

// flipResolver answers its first address once, then its second: a name
// rebinding to another address after it was checked.
type flipResolver struct {
	first, then string
	n           atomic.Int32
}

func (f *flipResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	if f.n.Add(1) == 1 {
		return ipAddrs(f.first), nil
	}
	return ipAddrs(f.then), nil
}

// TestDialerAllowAndRebinding: the Allow option (set by tests only) lets
// 127.0.0.1 through, and the dialer connects to the address it checked,
// resolving once: the name's second answer is never used, and the
// system resolver (which knows no such name) is never asked.
func TestDialerAllowAndRebinding(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	addr := net.JoinHostPort("imap.rebind.invalid", strconv.Itoa(port))
	res := &flipResolver{first: "127.0.0.1", then: "10.9.9.9"}
	d := &Dialer{Resolver: res, Own: func(context.Context) ([]netip.Addr, error) { return nil, nil }}
	if _, err := d.DialContext(t.Context(), "tcp", addr); !errors.Is(err, ErrNotPublic) {
		t.Fatalf("without Allow: %v, want ErrNotPublic", err)
	}
	res.n.Store(0)
	d.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("with Allow: %v", err)
	}
	c.Close()
	if got := res.n.Load(); got != 1 {
		t.Errorf("resolved %d times, want once", got)
	}
}

// stuckResolver answers only when its context ends.
type stuckResolver struct{}

func (stuckResolver) LookupIPAddr(ctx context.Context, _ string) ([]net.IPAddr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestResolveTimeout: a name server that does not answer does not hold
// the form (or the job) for longer than the lookup's bound.
func TestResolveTimeout(t *testing.T) {
	t.Parallel()
	d := &Dialer{Resolver: stuckResolver{}, ResolveTimeout: time.Millisecond}
	if _, err := d.Check(t.Context(), "imap.slow.test:993"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check = %v, want the lookup's deadline", err)
	}
}
