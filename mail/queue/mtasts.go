package queue

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

// Mode is the mode of an MTA-STS policy (RFC 8461 section 5).
type Mode string

const (
	// ModeEnforce: deliver only to matching MX hosts over verified TLS.
	ModeEnforce Mode = "enforce"
	// ModeTesting: check and report, but deliver anyway.
	ModeTesting Mode = "testing"
	// ModeNone: the domain has no policy (any more).
	ModeNone Mode = "none"
)

// Policy is an MTA-STS policy (RFC 8461 section 3.2).
type Policy struct {
	Mode   Mode
	MX     []string // lowercase patterns: "mx.example.org" or "*.example.org"
	MaxAge time.Duration
}

const (
	// maxPolicySize bounds a policy file (RFC 8461 section 3.3 suggests
	// 64 KiB).
	maxPolicySize = 64 << 10
	// maxMaxAge is the largest max_age allowed, one year (RFC 8461
	// section 3.2).
	maxMaxAge = 31557600
)

// ErrBadPolicy reports a policy file or an _mta-sts TXT record that does
// not parse.
var ErrBadPolicy = errors.New("queue: bad MTA-STS policy")

// ParsePolicy parses an MTA-STS policy file (RFC 8461 section 3.2): lines
// of "key: value" ending in LF or CRLF, with version STSv1, a mode, a
// max_age of at most a year, and, unless the mode is none, at least one mx
// pattern. Unknown keys are ignored (they are extensions); a known one
// that appears twice, except mx, is an error. Keys and the mode are
// matched without regard to case, as ABNF strings are.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadPolicy, maxPolicySize)
	}
	var p Policy
	var version, mode, maxAge bool
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimRight(line, " \t") == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: no colon", ErrBadPolicy, n+1)
		}
		key = strings.ToLower(strings.TrimRight(key, " \t"))
		value = strings.Trim(value, " \t")
		dup := func(seen *bool) error {
			if *seen {
				return fmt.Errorf("%w: line %d: second %s", ErrBadPolicy, n+1, key)
			}
			*seen = true
			return nil
		}
		switch key {
		case "version":
			if err := dup(&version); err != nil {
				return nil, err
			}
			if !strings.EqualFold(value, "STSv1") {
				return nil, fmt.Errorf("%w: version %q", ErrBadPolicy, truncate(value, 40))
			}
		case "mode":
			if err := dup(&mode); err != nil {
				return nil, err
			}
			switch m := Mode(strings.ToLower(value)); m {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = m
			default:
				return nil, fmt.Errorf("%w: mode %q", ErrBadPolicy, truncate(value, 40))
			}
		case "max_age":
			if err := dup(&maxAge); err != nil {
				return nil, err
			}
			if len(value) == 0 || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
				return nil, fmt.Errorf("%w: max_age %q", ErrBadPolicy, truncate(value, 40))
			}
			s, _ := strconv.ParseInt(value, 10, 64)
			if s > maxMaxAge {
				return nil, fmt.Errorf("%w: max_age %d larger than a year", ErrBadPolicy, s)
			}
			p.MaxAge = time.Duration(s) * time.Second
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(value, "."))
			if !validHostname(strings.TrimPrefix(pat, "*.")) {
				return nil, fmt.Errorf("%w: mx %q", ErrBadPolicy, truncate(value, 80))
			}
			p.MX = append(p.MX, pat)
		default:
			// An extension (sts-policy-ext-name): ignored.
		}
	}
	switch {
	case !version:
		return nil, fmt.Errorf("%w: no version", ErrBadPolicy)
	case !mode:
		return nil, fmt.Errorf("%w: no mode", ErrBadPolicy)
	case !maxAge:
		return nil, fmt.Errorf("%w: no max_age", ErrBadPolicy)
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return nil, fmt.Errorf("%w: no mx", ErrBadPolicy)
	}
	return &p, nil
}

// Matches reports whether MX host name host matches one of the policy's
// patterns (RFC 8461 section 4.1): equal, or, for "*.example.org", equal
// but for one more label on the left. Case and a trailing dot do not
// matter.
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			label, ok := strings.CutSuffix(host, suffix)
			if ok && label != "" && !strings.Contains(label, ".") {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// validHostname reports whether s is a DNS host name: dot-separated
// labels of letters, digits and hyphens (RFC 1123 section 2.1), at most
// 253 bytes.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// parseSTSRecord parses an _mta-sts TXT record (RFC 8461 section 3.1),
// "v=STSv1; id=20160831085700Z;", and returns its id: 1 to 32 letters and
// digits.
func parseSTSRecord(s string) (string, error) {
	fields := strings.Split(s, ";")
	if strings.TrimRight(fields[0], " \t") != "v=STSv1" {
		return "", fmt.Errorf("%w: TXT record does not start with v=STSv1", ErrBadPolicy)
	}
	id := ""
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("%w: TXT record field %q", ErrBadPolicy, truncate(f, 40))
		}
		if k != "id" {
			continue // an extension
		}
		if id != "" {
			return "", fmt.Errorf("%w: TXT record has two ids", ErrBadPolicy)
		}
		if v == "" || len(v) > 32 || strings.Trim(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return "", fmt.Errorf("%w: TXT record id %q", ErrBadPolicy, truncate(v, 40))
		}
		id = v
	}
	if id == "" {
		return "", fmt.Errorf("%w: TXT record has no id", ErrBadPolicy)
	}
	return id, nil
}

// policy returns the MTA-STS policy of domain, or nil if it has none
// (RFC 8461 section 5.1): the TXT record at _mta-sts.<domain> gives the
// current policy's id; a cached policy with that id and not expired is
// used as it is, otherwise the policy is fetched and cached for its
// max_age. When no policy can be found or fetched, a cached one that has
// not expired applies; when there is none, delivery goes on as for a
// domain without a policy. Failures are logged.
func (q *Queue) policy(ctx context.Context, domain string) *Policy {
	if !validHostname(domain) {
		return nil
	}
	now := q.now()
	cached, cachedID := q.cachedPolicy(ctx, domain, now)
	txts, err := q.cfg.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		if !dns.IsNotFound(err) {
			q.log.Warn("queue: MTA-STS: looking up the TXT record", "domain", domain, "err", err)
		}
		return cached
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1;") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		if len(recs) > 1 {
			q.log.Warn("queue: MTA-STS: more than one TXT record", "domain", domain)
		}
		return cached
	}
	id, err := parseSTSRecord(recs[0])
	if err != nil {
		q.log.Warn("queue: MTA-STS", "domain", domain, "err", err)
		return cached
	}
	if cached != nil && id == cachedID {
		return cached
	}
	p, raw, err := q.fetchPolicy(ctx, domain)
	if err != nil {
		q.log.Warn("queue: MTA-STS: fetching the policy", "domain", domain, "err", err, "cached", cached != nil)
		return cached
	}
	_, err = q.db.ExecContext(ctx, `INSERT INTO queue_mtasts (domain, policy_id, policy, fetched_at, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy,
			fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
		domain, id, string(raw), now.Unix(), now.Add(p.MaxAge).Unix())
	if err != nil {
		q.log.Error("queue: MTA-STS: caching the policy", "domain", domain, "err", err)
	}
	q.log.Info("queue: MTA-STS: fetched policy", "domain", domain, "id", id, "mode", p.Mode, "max_age", p.MaxAge)
	return p
}

// cachedPolicy returns domain's cached policy and its id, if it has not
// expired.
func (q *Queue) cachedPolicy(ctx context.Context, domain string, now time.Time) (*Policy, string) {
	var id, raw string
	err := q.db.QueryRowContext(ctx, `SELECT policy_id, policy FROM queue_mtasts WHERE domain = ? AND expires_at > ?`,
		domain, now.Unix()).Scan(&id, &raw)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			q.log.Error("queue: MTA-STS: reading the cache", "domain", domain, "err", err)
		}
		return nil, ""
	}
	p, err := ParsePolicy([]byte(raw))
	if err != nil {
		return nil, ""
	}
	return p, id
}

// fetchPolicy fetches https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 section 3.3): status 200, media type text/plain, at most 64
// KiB; the client follows no redirect.
func (q *Queue) fetchPolicy(ctx context.Context, domain string) (*Policy, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeouts.policyGet)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := q.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, nil, fmt.Errorf("media type %q, want text/plain", truncate(resp.Header.Get("Content-Type"), 60))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return nil, nil, err
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, nil, err
	}
	return p, body, nil
}

// policyClient returns the HTTP client for policy fetches: a copy of
// Config.HTTPClient or a default one, following no redirect (RFC 8461
// section 3.3), with a timeout.
func (q *Queue) policyClient() *http.Client {
	var c http.Client
	if q.cfg.HTTPClient != nil {
		c = *q.cfg.HTTPClient
	} else {
		tc := &tls.Config{}
		if q.cfg.TLSConfig != nil {
			tc = q.cfg.TLSConfig.Clone()
		}
		tc.InsecureSkipVerify = false
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		c.Transport = &http.Transport{
			Proxy:                  nil, // no third party on the way
			DialContext:            publicDialer(q.timeouts.dial),
			TLSClientConfig:        tc,
			TLSHandshakeTimeout:    q.timeouts.tls,
			ResponseHeaderTimeout:  q.timeouts.policyGet,
			MaxResponseHeaderBytes: 64 << 10,
			DisableKeepAlives:      true,
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Timeout == 0 {
		c.Timeout = q.timeouts.policyGet
	}
	return &c
}
