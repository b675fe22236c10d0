package msgauth

import (
	"context"
	"errors"
	"net"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/caucus-org/caucus/internal/dns"
)

// resolver adapts a dns.Resolver to what the SPF, DKIM and DMARC libraries
// expect. They tell "no such record" from "no answer" only by a
// *net.DNSError with IsNotFound or IsTemporary set, so every error that is
// not "not found" becomes a temporary *net.DNSError wrapping the original:
// RFC 7208 section 5 and RFC 7489 section 6.6.3 make a failed lookup a
// temporary error, never a permanent one.
type resolver struct {
	r dns.Resolver
}

func lookupErr(name string, err error) error {
	if err == nil {
		return nil
	}
	if dns.IsNotFound(err) {
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true, UnwrapErr: err}
}

func (a resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := a.r.LookupTXT(ctx, name)
	return v, lookupErr(name, err)
}

func (a resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := a.r.LookupMX(ctx, name)
	return v, lookupErr(name, err)
}

func (a resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := a.r.LookupIPAddr(ctx, host)
	return v, lookupErr(host, err)
}

func (a resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := a.r.LookupAddr(ctx, addr)
	return v, lookupErr(addr, err)
}

// txtFunc returns the context-free TXT lookup that go-msgauth's DKIM and
// DMARC code takes.
func (a resolver) txtFunc(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) { return a.LookupTXT(ctx, name) }
}

// isTemporary reports whether err is a temporary DNS failure.
func isTemporary(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && (de.IsTemporary || de.IsTimeout)
}

// asciiDomain returns domain in lower case A-label form (RFC 5890), without
// a trailing dot, or "" if it is not a domain name that could be looked up:
// at least two labels of 1 to 63 letters, digits, hyphens or underscores,
// at most 253 characters (RFC 7208 section 4.3 asks the same of SPF).
func asciiDomain(domain string) string {
	d := strings.TrimSuffix(domain, ".")
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		d = strings.ToLower(d)
	} else {
		var err error
		if d, err = idna.Lookup.ToASCII(d); err != nil {
			return ""
		}
	}
	if len(d) == 0 || len(d) > 253 {
		return ""
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return ""
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			return ""
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return ""
			}
		}
	}
	return d
}

// orgDomain returns the organisational domain of an ASCII domain name (RFC
// 7489 section 3.2): the public suffix (from the Public Suffix List compiled
// into golang.org/x/net/publicsuffix) plus one label. A name that is itself
// a public suffix, or that the list cannot handle, is its own
// organisational domain.
func orgDomain(domain string) string {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// aligned reports whether two domains are in alignment (RFC 7489 section
// 3.1): equal in strict mode, with the same organisational domain in
// relaxed mode.
func aligned(a, b string, strict bool) bool {
	a = strings.ToLower(strings.TrimSuffix(a, "."))
	b = strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if strict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}
