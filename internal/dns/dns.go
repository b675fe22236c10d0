// Package dns is the DNS resolver interface caucus's mail code uses (MX
// lookups for delivery; TXT lookups for SPF, DKIM, DMARC and MTA-STS; A,
// AAAA and PTR for SPF), with the system resolver for production and a
// map-based fake for tests, so that no test sends a query anywhere.
package dns

import (
	"context"
	"errors"
	"net"
	"strings"
)

// Resolver answers the lookups mail needs. Errors for names that do not
// exist are *net.DNSError with IsNotFound set, as from the net package.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// System returns the resolver of the operating system.
func System() Resolver { return net.DefaultResolver }

// IsNotFound reports whether err says the name or record does not exist
// (as opposed to a temporary failure).
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// Mock is a fake resolver for tests. Names are matched case-insensitively,
// with or without a trailing dot. A name in Fail answers with that error
// (use it for temporary failures); a name absent from a map is not found.
type Mock struct {
	TXT  map[string][]string
	MX   map[string][]*net.MX
	IP   map[string][]net.IPAddr
	PTR  map[string][]string
	Fail map[string]error
}

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func lookup[T any](m *Mock, table map[string][]T, name string) ([]T, error) {
	k := key(name)
	for fk, err := range m.Fail {
		if key(fk) == k {
			return nil, err
		}
	}
	for tk, v := range table {
		if key(tk) == k {
			return v, nil
		}
	}
	return nil, notFound(name)
}

// LookupTXT implements Resolver.
func (m *Mock) LookupTXT(_ context.Context, name string) ([]string, error) {
	return lookup(m, m.TXT, name)
}

// LookupMX implements Resolver.
func (m *Mock) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return lookup(m, m.MX, name)
}

// LookupIPAddr implements Resolver.
func (m *Mock) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return lookup(m, m.IP, host)
}

// LookupAddr implements Resolver.
func (m *Mock) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return lookup(m, m.PTR, addr)
}
