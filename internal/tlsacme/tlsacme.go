// Package tlsacme is caucus's TLS: one configuration for every listener
// (HTTPS, IMAPS, IMAP STARTTLS, SMTP and submission), TLS 1.2 and 1.3 only
// with forward-secret AEAD cipher suites, and a certificate either from
// files (or the --dev store) or obtained and renewed automatically through
// ACME (RFC 8555) with golang.org/x/crypto/acme/autocert.
//
// ACME validates with TLS-ALPN-01 (RFC 8737) on the HTTPS listener, or
// HTTP-01 (RFC 8555 section 8.3) on the plain-HTTP listener when
// [Manager.HTTPHandler] serves it. Clients that send no server name
// (RFC 6066 section 3), common among mail servers, get the certificate of
// the configured host name.
package tlsacme

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt's production
// service.
const LetsEncrypt = autocert.DefaultACMEDirectory

// DefaultRenewBefore is how long before expiry a certificate is renewed
// when [Config.RenewBefore] is zero: 30 days, a third of a Let's Encrypt
// certificate's 90-day life, which leaves weeks to notice a failing renewal.
const DefaultRenewBefore = 30 * 24 * time.Hour

// acmeTimeout bounds each request to the ACME server.
const acmeTimeout = 30 * time.Second

var (
	// ErrNoCertificate reports that no certificate has been obtained yet.
	ErrNoCertificate = errors.New("tlsacme: no certificate yet")
	// ErrConfig reports an unusable [Config].
	ErrConfig = errors.New("tlsacme: bad configuration")
)

// CipherSuites returns the TLS 1.2 cipher suites every listener offers:
// ECDHE key exchange (forward secrecy) with an AEAD cipher only, as
// Mozilla's "intermediate" profile. TLS 1.3's suites are all AEAD and are
// not configurable in crypto/tls.
func CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// Names are the host names caucus needs a certificate for: hostname
// (web, IMAP, SMTP) and, for each mail domain, the names the DNS records
// of package mail/dnsrec point at this host and that are reached over
// HTTPS: mta-sts.<domain> (the MTA-STS policy, RFC 8461 section 3.3) and
// autoconfig.<domain> (Thunderbird's mail settings).
func Names(hostname string, domains []string) []string {
	names := []string{strings.ToLower(hostname)}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		for _, n := range []string{"mta-sts." + d, "autoconfig." + d} {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// Config configures ACME.
type Config struct {
	// Hostname is the name served to clients that send no server name.
	// It must be one of Names.
	Hostname string
	// Names are every name a certificate may be obtained for (see
	// [Names]); a client asking for another name is refused.
	Names []string
	// Contact is the e-mail address of the ACME account.
	Contact string
	// DirectoryURL is the ACME directory; empty means [LetsEncrypt].
	DirectoryURL string
	// Roots verify the ACME server's HTTPS certificate; nil means the
	// system's roots. Set for tests and private CAs.
	Roots *x509.CertPool
	// CacheDir keeps the account key and the certificates across restarts.
	CacheDir string
	// Cache, if set, keeps them instead of CacheDir: a [DBCache] shared
	// by the nodes of one PostgreSQL database.
	Cache autocert.Cache
	// RenewBefore is how long before expiry a certificate is renewed;
	// zero means [DefaultRenewBefore]. It must be shorter than the
	// certificates' lifetime, or each renewal is followed by another at
	// once: fine for Let's Encrypt's 90- and 45-day certificates, too long
	// for 6-day ones.
	RenewBefore time.Duration
	// Log receives issuance errors; nil discards them.
	Log *slog.Logger
	// OnCertificate, if set, is called after a certificate was obtained
	// or renewed and stored, with its name and expiry, for the audit log.
	OnCertificate func(ctx context.Context, name string, notAfter time.Time)
}

// Manager hands out the certificate of every TLS listener, and its
// session ticket keys.
type Manager struct {
	tickets  *ticketKeys
	hostname string
	acme     *autocert.Manager // nil for a fixed certificate
	cache    autocert.Cache
	fixed    *tls.Certificate
	log      *slog.Logger
}

// New returns a Manager that obtains certificates through ACME on first
// use of each name and renews them cfg.RenewBefore before they expire.
func New(cfg Config) (*Manager, error) {
	if cfg.Hostname == "" || !slices.Contains(cfg.Names, cfg.Hostname) {
		return nil, fmt.Errorf("%w: hostname %q not among the names %q", ErrConfig, cfg.Hostname, cfg.Names)
	}
	if cfg.CacheDir == "" && cfg.Cache == nil {
		return nil, fmt.Errorf("%w: no cache directory", ErrConfig)
	}
	dir := cfg.DirectoryURL
	if dir == "" {
		dir = LetsEncrypt
	}
	renew := cfg.RenewBefore
	if renew == 0 {
		renew = DefaultRenewBefore
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12}
	var cache autocert.Cache = autocert.DirCache(cfg.CacheDir)
	if cfg.Cache != nil {
		cache = cfg.Cache
	}
	if cfg.OnCertificate != nil {
		cache = notifyCache{cache, cfg.OnCertificate}
	}
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       cache,
		HostPolicy:  autocert.HostWhitelist(cfg.Names...),
		RenewBefore: renew,
		Email:       cfg.Contact,
		Client: &acme.Client{
			DirectoryURL: dir,
			HTTPClient:   &http.Client{Transport: tr, Timeout: acmeTimeout},
			UserAgent:    "caucus",
		},
	}
	return &Manager{hostname: strings.ToLower(cfg.Hostname), acme: m, cache: cache, log: log, tickets: &ticketKeys{}}, nil
}

// Fixed returns a Manager that serves one certificate, from files or the
// --dev store, to every client.
func Fixed(hostname string, cert tls.Certificate) *Manager {
	return &Manager{hostname: hostname, fixed: &cert, log: slog.New(slog.DiscardHandler), tickets: &ticketKeys{}}
}

// TLSConfig returns a new TLS configuration for the listeners: TLS 1.2
// and 1.3 only, [CipherSuites] for TLS 1.2, the Manager's certificates,
// session tickets under the Manager's keys, which change every
// [TicketKeyRotation] (see ticketKeys), and ALPN "h2", "http/1.1" and,
// with ACME, "acme-tls/1" (RFC 8737 section 6.2). TLS 1.3 clients get no
// session ticket (see noTLS13Tickets). Mail listeners take theirs from
// [ForProtocol], with their own ALPN names; clones share the ticket keys. The keys
// follow the returned configuration's clock (its Time field, if set).
func (m *Manager) TLSConfig() *tls.Config {
	t := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
		NextProtos:   []string{"h2", "http/1.1"},
	}
	now := func() time.Time {
		if t.Time != nil {
			return t.Time()
		}
		return time.Now()
	}
	t.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		return m.tickets.at(now()).EncryptTicket(cs, ss)
	}
	t.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		return m.tickets.at(now()).DecryptTicket(identity, cs)
	}
	t.GetConfigForClient = noTLS13Tickets(t)
	if m.fixed != nil {
		t.Certificates = []tls.Certificate{*m.fixed}
		return t
	}
	t.NextProtos = append(t.NextProtos, acme.ALPNProto)
	t.GetCertificate = m.getCertificate
	return t
}

// ForProtocol returns a copy of c, a configuration from
// [Manager.TLSConfig], for a listener of another protocol: the same
// certificates and ticket keys, and only that protocol's ALPN names
// (RFC 7301; none for SMTP), never the web's "h2" or ACME's "acme-tls/1".
// A plain Clone with other NextProtos would hand TLS 1.3 clients the
// web's ALPN names (see noTLS13Tickets).
func ForProtocol(c *tls.Config, alpn ...string) *tls.Config {
	p := c.Clone()
	p.NextProtos = alpn
	p.GetConfigForClient = noTLS13Tickets(p)
	return p
}

// noTLS13Tickets returns the GetConfigForClient of c: a client that may
// speak TLS 1.3 gets c without session tickets; one that speaks only TLS
// 1.2 gets c itself, tickets included.
//
// Why: a TLS 1.3 ticket announces how long a client may use it, and
// crypto/tls announces 604,800 s (7 days) for every ticket, a constant no
// setting changes (RFC 8446 section 4.6.1 makes 7 days the upper bound).
// The keys open a ticket for at most a day ([TicketKeyRotation]), so such
// a ticket would only fail later, but scanners grade the announcement, and
// a client may keep a session alive on it as promised. TLS 1.2 tickets
// announce no lifetime (RFC 5077 section 3.3: 0, unspecified) and keep
// working for a day. What TLS 1.3 loses is little: crypto/tls resumes only
// with a new (EC)DHE exchange and has no 0-RTT, so a full handshake costs
// one more signature and the certificate chain.
//
// The copy is made at the first handshake, so c's fields set after
// TLSConfig returned (a test's clock) are in it; c must not change after
// it serves, as crypto/tls asks of every configuration.
func noTLS13Tickets(c *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	var once sync.Once
	var noTickets *tls.Config
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if !slices.Contains(hello.SupportedVersions, tls.VersionTLS13) ||
			c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13 {
			return nil, nil
		}
		once.Do(func() {
			noTickets = c.Clone()
			noTickets.GetConfigForClient = nil
			noTickets.SessionTicketsDisabled = true
		})
		return noTickets, nil
	}
}

// TicketKeyRotation is how often the session ticket keys change. A ticket
// is accepted while its key is the current or the previous one: at most
// twice this, 24 hours. crypto/tls on its own keeps keys for 7 days, which
// TLS scanners report, because whoever reads a ticket key from a server's
// memory can decrypt the recorded sessions it protected (RFC 8446 section
// 4.6.1 sets 7 days as the upper bound, not the advice; RFC 5077 section
// 5.5 asks for keys to be changed regularly).
//
// TLS 1.3 clients get no ticket at all: crypto/tls announces a 7-day
// lifetime for each one, which no setting changes (see noTLS13Tickets).
const TicketKeyRotation = 12 * time.Hour

// ticketKeys holds the session ticket keys of a Manager's listeners. A
// key seals new tickets for one period after it was made, and opens
// tickets for two. Keys change when a handshake needs them after their
// time, not on a timer: a key past its time never seals or opens anything.
type ticketKeys struct {
	mu   sync.Mutex
	keys *tls.Config // holds cur and prev, for EncryptTicket and DecryptTicket only

	cur, prev   [32]byte
	made        time.Time // of cur; zero before the first key
	prevMade    time.Time
	prevPresent bool
}

// at returns a configuration whose EncryptTicket and DecryptTicket use the
// keys valid at now (the current key first), changing them first if their
// time is over. A clock that went back counts as the end of every key.
func (k *ticketKeys) at(now time.Time) *tls.Config {
	k.mu.Lock()
	defer k.mu.Unlock()
	valid := func(made time.Time, period time.Duration) bool {
		return !made.IsZero() && !now.Before(made) && now.Sub(made) < period
	}
	switch {
	case !valid(k.made, TicketKeyRotation):
		k.prev, k.prevMade, k.prevPresent = k.cur, k.made, valid(k.made, 2*TicketKeyRotation)
		rand.Read(k.cur[:]) // never fails (crypto/rand)
		k.made = now
	case k.prevPresent && !valid(k.prevMade, 2*TicketKeyRotation):
		k.prevPresent = false
	case k.keys != nil:
		return k.keys
	}
	keys := [][32]byte{k.cur}
	if k.prevPresent {
		keys = append(keys, k.prev)
	}
	c := &tls.Config{}
	c.SetSessionTicketKeys(keys)
	k.keys = c
	return c
}

func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		// Mail servers often send no SNI: answer with the host name.
		h := *hello
		h.ServerName = m.hostname
		hello = &h
	}
	c, err := m.acme.GetCertificate(hello)
	if err != nil {
		addr := ""
		if hello.Conn != nil {
			addr = hello.Conn.RemoteAddr().String()
		}
		m.log.Warn("tls certificate", "server_name", hello.ServerName, "remote", addr, "err", err)
	}
	return c, err
}

// HTTPHandler answers ACME HTTP-01 challenges (RFC 8555 section 8.3) and
// passes every other request to fallback. With a fixed certificate it is
// fallback.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if m.acme == nil {
		return fallback
	}
	h := m.acme.HTTPHandler(fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against the names as it is; a
		// validation server reaching a port other than 80 (behind a port
		// forward, or in tests) sends "name:port".
		if host, _, err := net.SplitHostPort(r.Host); err == nil && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			r2 := *r
			r2.Host = host
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// Expiry returns when the host name's current certificate expires, for
// the dashboard: the fixed certificate's, or the one ACME last stored. It
// returns [ErrNoCertificate] before the first one is obtained.
func (m *Manager) Expiry(ctx context.Context) (time.Time, error) {
	if m.fixed != nil {
		leaf := m.fixed.Leaf
		if leaf == nil {
			if len(m.fixed.Certificate) == 0 {
				return time.Time{}, ErrNoCertificate
			}
			var err error
			if leaf, err = x509.ParseCertificate(m.fixed.Certificate[0]); err != nil {
				return time.Time{}, fmt.Errorf("tlsacme: %w", err)
			}
		}
		return leaf.NotAfter, nil
	}
	// autocert stores an ECDSA certificate under the bare name and an RSA
	// one under name+"+rsa": the private key, then the chain, leaf first.
	var expiry time.Time
	for _, key := range []string{m.hostname, m.hostname + "+rsa"} {
		data, err := m.cache.Get(ctx, key)
		if errors.Is(err, autocert.ErrCacheMiss) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("tlsacme: %w", err)
		}
		leaf, err := firstCertificate(data)
		if err != nil {
			return time.Time{}, err
		}
		if leaf.NotAfter.After(expiry) {
			expiry = leaf.NotAfter
		}
	}
	if expiry.IsZero() {
		return time.Time{}, ErrNoCertificate
	}
	return expiry, nil
}

// notifyCache tells of each certificate autocert stores: autocert has no
// hook of its own for issuance.
type notifyCache struct {
	autocert.Cache
	notify func(ctx context.Context, name string, notAfter time.Time)
}

func (c notifyCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Cache.Put(ctx, key, data); err != nil {
		return err
	}
	// Certificates are stored under the name, or name+"+rsa"; the account
	// key, HTTP-01 tokens and TLS-ALPN-01 challenge certificates under
	// keys with another "+" suffix.
	name := strings.TrimSuffix(key, "+rsa")
	if strings.Contains(name, "+") {
		return nil
	}
	if leaf, err := firstCertificate(data); err == nil {
		c.notify(ctx, name, leaf.NotAfter)
	}
	return nil
}

// firstCertificate parses the first CERTIFICATE block of PEM data.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("tlsacme: cached entry has no certificate: %w", ErrNoCertificate)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("tlsacme: %w", err)
			}
			return c, nil
		}
	}
}

// LoadRoots reads PEM certificates from data into a pool, for
// [Config.Roots]. It refuses data with no certificate.
func LoadRoots(data []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: no PEM certificate in the ACME roots", ErrConfig)
	}
	return p, nil
}
