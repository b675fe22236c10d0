package msgview

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

// Limits of the image proxy when ProxyConfig leaves them zero.
const (
	// DefaultProxyMaxBytes bounds one image.
	DefaultProxyMaxBytes = 5 << 20
	// DefaultProxyTimeout bounds one fetch, redirects included.
	DefaultProxyTimeout = 10 * time.Second
	// maxProxyURL bounds the remote URLs the proxy signs and fetches.
	maxProxyURL = 4096
	// maxRedirects bounds the redirects followed.
	maxRedirects = 3
	// proxyUserAgent is the one User-Agent the proxy sends: nothing of
	// the member's browser.
	proxyUserAgent = "caucus-image-proxy"
)

// ProxyConfig configures an ImageProxy.
type ProxyConfig struct {
	// Key signs the proxy URLs (HMAC-SHA256), so that the proxy fetches
	// only URLs caucus itself wrote into a message's frame and is no
	// open proxy. At least 32 random bytes.
	Key []byte
	// Base is the URL the proxy is served at, e.g.
	// "https://mail.party.example/webmail/remote"; URL appends the query.
	Base string
	// Resolver resolves image hosts. The addresses it gives are checked
	// and the connection goes to a checked one, with no second lookup, so
	// a name cannot answer a public address to the check and a private
	// one to the connection (DNS rebinding).
	Resolver dns.Resolver
	// AllowAddr says whether an address may be fetched from; nil allows
	// public unicast addresses only (see PublicAddr). Tests widen it to
	// reach servers on 127.0.0.1.
	AllowAddr func(netip.Addr) bool
	// MaxBytes and Timeout bound one fetch; zero means the defaults.
	MaxBytes int64
	Timeout  time.Duration
	// Log receives one line per refused or failed fetch, with the host
	// only (a remote URL may carry a token that names the member). Nil
	// discards.
	Log *slog.Logger
}

// ImageProxy fetches a message's remote images for a member who asked to
// see them, so that the member's browser never contacts the sender's
// servers: the sender learns that the message was opened and when, but
// not the member's address, browser, language or cookies. It is an
// http.Handler; webmail mounts it at Base, behind its session check and
// rate limit, and passes URL as SanitizeOptions.RemoteImage.
//
// It fetches http and https URLs only, from public addresses only, with
// no cookie, no Referer and a fixed User-Agent; it follows at most three
// redirects, each checked the same way; it answers only with an image
// the bytes show to be PNG, JPEG, GIF or WebP (never SVG, whatever the
// server claims), of at most MaxBytes, under FrameCSP and nosniff. It
// keeps nothing between requests.
type ImageProxy struct {
	cfg    ProxyConfig
	client *http.Client
	log    *slog.Logger
}

// ErrProxyConfig: the proxy's configuration is unusable.
var ErrProxyConfig = errors.New("msgview: image proxy configuration")

// NewImageProxy returns an ImageProxy.
func NewImageProxy(cfg ProxyConfig) (*ImageProxy, error) {
	if len(cfg.Key) < 32 || cfg.Base == "" || cfg.Resolver == nil {
		return nil, fmt.Errorf("%w: a key of 32 bytes or more, a base URL and a resolver are needed", ErrProxyConfig)
	}
	if cfg.AllowAddr == nil {
		cfg.AllowAddr = PublicAddr
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultProxyMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultProxyTimeout
	}
	p := &ImageProxy{cfg: cfg, log: cfg.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	transport := &http.Transport{
		Proxy:                  nil, // never the environment's proxy
		DialContext:            p.dial,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	p.client = &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return errors.New("too many redirects")
			}
			if _, err := checkRemote(req.URL.String()); err != nil {
				return err
			}
			req.Header.Del("Referer")
			return nil
		},
	}
	return p, nil
}

// URL returns the proxy URL that fetches remote, signed; it is the
// function to pass as SanitizeOptions.RemoteImage.
func (p *ImageProxy) URL(remote string) string {
	q := url.Values{"u": {remote}, "s": {p.sign(remote)}}
	sep := "?"
	if strings.Contains(p.cfg.Base, "?") {
		sep = "&"
	}
	return p.cfg.Base + sep + q.Encode()
}

// sign returns the MAC of a remote URL.
func (p *ImageProxy) sign(remote string) string {
	m := hmac.New(sha256.New, p.cfg.Key)
	m.Write([]byte("caucus image proxy\x00" + remote))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ServeHTTP fetches the image a signed URL names. Anything unsigned
// answers 404, anything that cannot be fetched as an image 502, without
// detail.
func (p *ImageProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote, mac := r.URL.Query().Get("u"), r.URL.Query().Get("s")
	if r.Method != http.MethodGet && r.Method != http.MethodHead || remote == "" ||
		!hmac.Equal([]byte(mac), []byte(p.sign(remote))) {
		http.NotFound(w, r)
		return
	}
	u, err := checkRemote(remote)
	if err != nil {
		p.refuse(w, "", err)
		return
	}
	img, typ, err := p.fetch(r.Context(), u)
	if err != nil {
		p.refuse(w, u.Hostname(), err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", FrameCSP)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(img)
}

// refuse answers 502 and logs why.
func (p *ImageProxy) refuse(w http.ResponseWriter, host string, err error) {
	p.log.Info("msgview: remote image refused", "host", host, "err", err)
	http.Error(w, "image not available", http.StatusBadGateway)
}

// checkRemote parses a remote image URL: http or https, a host, no user
// information, a bounded length.
func checkRemote(remote string) (*url.URL, error) {
	if len(remote) > maxProxyURL {
		return nil, errors.New("URL too long")
	}
	u, err := url.Parse(remote)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return nil, errors.New("not an http or https URL with a host")
	}
	return u, nil
}

// fetch gets the image at u and returns it with its sniffed type.
func (p *ImageProxy) fetch(ctx context.Context, u *url.URL) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", proxyUserAgent)
	req.Header.Set("Accept", "image/png,image/jpeg,image/gif,image/webp")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading: %w", err)
	}
	if int64(len(body)) > p.cfg.MaxBytes {
		return nil, "", errors.New("image too large")
	}
	typ := http.DetectContentType(body)
	if inlineImageTypes[typ] == "" {
		return nil, "", fmt.Errorf("not an image: %s", typ)
	}
	return body, typ, nil
}

// dial connects to the first address of host that AllowAddr allows.
func (p *ImageProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ips, err := p.cfg.Resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	d := net.Dialer{Timeout: p.cfg.Timeout}
	for _, a := range addrs {
		if !p.cfg.AllowAddr(a.Unmap()) {
			continue
		}
		return d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
	}
	return nil, fmt.Errorf("%s has no address the proxy may reach", host)
}

// notPublic are the prefixes PublicAddr refuses besides what netip
// classifies: shared address space (RFC 6598), benchmarking (RFC 2544),
// documentation (RFC 5737, RFC 3849), IETF protocol assignments (RFC
// 6890), NAT64 (RFC 6052, it can reach IPv4 private addresses), 6to4
// and Teredo (which embed IPv4 addresses).
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// PublicAddr reports whether a is a public unicast address: not
// loopback, private (RFC 1918, RFC 4193), link-local (where cloud
// metadata services answer), multicast, unspecified, or one of the
// special-purpose ranges of notPublic.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() || !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
