// Package autoconfig tells mail apps how to reach caucus's IMAP and SMTP
// submission servers, so that a volunteer types only an address and an app
// password:
//
//   - Thunderbird and K-9 Mail / Thunderbird for Android fetch an
//     "Autoconfiguration" document (clientConfig version 1.1; Mozilla wiki
//     "Thunderbird:Autoconfiguration:ConfigFileFormat") from
//     autoconfig.<domain>/mail/config-v1.1.xml or
//     <domain>/.well-known/autoconfig/mail/config-v1.1.xml;
//   - Outlook (and Thunderbird as a fallback) POSTs a "POX" Autodiscover
//     request to /autodiscover/autodiscover.xml and reads the Outlook
//     response schema 2006a ([MS-OXDSCLI] sections 2.2.3 and 2.2.4);
//   - iPhone, iPad and Mac Mail have no lookup of their own: a signed-in
//     person downloads a configuration profile (Apple "Configuration Profile
//     Reference", Mail payload com.apple.mail.managed, with CalDAV and
//     CardDAV payloads com.apple.caldav.account and com.apple.carddav.account
//     for calendars and contacts) from the account page, with a new app
//     password for that device inside, of scope mail and calendar.
//
// The first two answer anyone, for the party's mail domains only, and say
// the same for every address of a domain: they never look accounts up, so
// they tell nobody whether an account exists. The profile needs a full,
// recent web sign-in and the form's CSRF token, because it carries a secret.
//
// For the lookups to reach caucus, autoconfig.<domain> and
// autodiscover.<domain> (or an SRV record _autodiscover._tcp.<domain>
// pointing at the host name) must lead to this server, with a certificate
// valid for the name the app asked for.
package autoconfig

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
)

// Settings are the facts about the mail servers that the documents give.
// A port of 0 is a listener that is off; it is left out of every document.
type Settings struct {
	// Hostname is the name of the IMAP and SMTP servers, e.g.
	// "mail.example-party.org" (config hostname).
	Hostname string
	// IMAPS is IMAP over implicit TLS (RFC 8314), usually 993.
	IMAPS int
	// IMAP is IMAP with STARTTLS (RFC 9051), usually 143.
	IMAP int
	// Submissions is message submission over implicit TLS (RFC 8314),
	// usually 465.
	Submissions int
	// Submission is message submission with STARTTLS (RFC 6409), usually 587.
	Submission int
	// Domains are the mail domains, primary first (config mail_domains).
	// Only addresses in them get an answer.
	Domains []string
	// AccountURL is the account page, where app passwords are made, e.g.
	// "https://mail.example-party.org/account".
	AccountURL string
	// WebHost and WebPort are where the web interface, and with it
	// CalDAV and CardDAV, answer (from the public URL), for the Apple
	// profile's calendar and contacts accounts.
	WebHost string
	WebPort int
}

// SettingsFrom takes the settings from a configuration: the host name, the
// mail domains, and the ports of the IMAP and submission listeners (an
// empty listen address, or one without a usable port, gives 0: left out).
// publicURL is the web interface's base address, e.g.
// "https://mail.example-party.org"; when empty, https://<hostname> is used.
func SettingsFrom(cfg config.Config, publicURL string) Settings {
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		base = "https://" + cfg.Hostname
	}
	domains := make([]string, 0, len(cfg.MailDomains))
	for _, d := range cfg.MailDomains {
		domains = append(domains, normalizeDomain(d))
	}
	webHost, webPort := cfg.Hostname, 443
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		webHost = u.Hostname()
		if p, err := strconv.Atoi(u.Port()); err == nil && p > 0 && p <= 65535 {
			webPort = p
		}
	}
	return Settings{
		WebHost:     webHost,
		WebPort:     webPort,
		Hostname:    cfg.Hostname,
		IMAPS:       listenPort(cfg.Listen.IMAPS),
		IMAP:        listenPort(cfg.Listen.IMAP),
		Submissions: listenPort(cfg.Listen.Submissions),
		Submission:  listenPort(cfg.Listen.Submission),
		Domains:     domains,
		AccountURL:  base + "/account",
	}
}

// listenPort returns the port of a "host:port" listen address, or 0 when
// the listener is off ("") or its port is not a number from 1 to 65535.
func listenPort(addr string) int {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0
	}
	return int(n)
}

// server is one way to reach a server: a port and its TLS mode.
type server struct {
	port     int
	implicit bool // TLS from the first byte (RFC 8314); false: STARTTLS
}

// incoming returns the IMAP servers, preferred first: implicit TLS, then
// STARTTLS (RFC 8314 section 3 prefers implicit TLS).
func (s Settings) incoming() []server {
	return servers(s.IMAPS, s.IMAP)
}

// outgoing returns the submission servers, preferred first.
func (s Settings) outgoing() []server {
	return servers(s.Submissions, s.Submission)
}

func servers(implicitPort, starttlsPort int) []server {
	var out []server
	if implicitPort > 0 {
		out = append(out, server{port: implicitPort, implicit: true})
	}
	if starttlsPort > 0 {
		out = append(out, server{port: starttlsPort})
	}
	return out
}

// domain returns the configured mail domain d names (any case, a trailing
// dot allowed), and whether there is one.
func (s Settings) domain(d string) (string, bool) {
	d = normalizeDomain(d)
	if d == "" || !slices.Contains(s.Domains, d) {
		return "", false
	}
	return d, true
}

func normalizeDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// Limits on an address (RFC 5321 section 4.5.3.1: a local part of at most
// 64 octets; a path of at most 256 octets, so 254 without angle brackets).
const (
	maxLocalPart = 64
	maxAddress   = 254
)

// address checks that a is a plain address, local@domain, in one of the
// configured domains, and returns it in the form caucus's logins have
// (lower case, as [auth.NormalizeLogin] makes them). Quoted local parts,
// comments and display names are refused; a local part may hold UTF-8
// letters (RFC 6531). The result is safe to put in a document: no control
// characters, no spaces, no markup characters.
func (s Settings) address(a string) (string, error) {
	a = strings.TrimSpace(a)
	if a == "" || len(a) > maxAddress || !utf8.ValidString(a) {
		return "", fmt.Errorf("%w: address must be 1 to %d bytes of UTF-8", errBadAddress, maxAddress)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", fmt.Errorf("%w: not local@domain", errBadAddress)
	}
	local, dom := a[:at], a[at+1:]
	if len(local) > maxLocalPart || !dotAtom(local) {
		return "", fmt.Errorf("%w: local part", errBadAddress)
	}
	d, ok := s.domain(dom)
	if !ok {
		return "", errForeignDomain
	}
	return strings.ToLower(local) + "@" + d, nil
}

// dotAtom reports whether s is a dot-atom (RFC 5322 section 3.2.3), with
// printable non-ASCII characters allowed as RFC 6532 section 3.2 does.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r == '.':
		case r < 0x80 && isAtext(byte(r)):
		case r >= 0x80 && unicode.IsGraphic(r) && !unicode.IsSpace(r):
		default:
			return false
		}
	}
	return true
}

// isAtext reports whether c is an ASCII atext character (RFC 5322 section 3.2.3).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// Errors of address checks; the handlers turn them into answers of each
// format.
var (
	errBadAddress    = errors.New("autoconfig: bad address")
	errForeignDomain = errors.New("autoconfig: not one of this server's mail domains")
)

//go:embed templates/*.html
var templateFS embed.FS

// Handler serves the three documents. Build it with [New] and add its
// routes with [Handler.Register].
type Handler struct {
	s     Settings
	svc   *auth.Service
	log   *slog.Logger
	pages *ui.Pages
	// loc gives the reader's language (Register sets it from the
	// sign-in pages); nil writes pages in the party's language.
	loc func(*http.Request) *i18n.Localizer
}

// SignInPages is what the profile form needs from the sign-in pages: the
// middleware that admits only a full session, and the reader's language.
type SignInPages interface {
	Require(http.Handler) http.Handler
	Localizer(*http.Request) *i18n.Localizer
}

// New builds the handler. svc makes the app passwords of the Apple
// profiles; log gets no secrets (no app password, no profile). A nil log
// discards.
func New(s Settings, svc *auth.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.Domains = slices.Clone(s.Domains)
	for i, d := range s.Domains {
		s.Domains[i] = normalizeDomain(d)
	}
	pages, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		// The templates are embedded: a parse error is a bug caught by every test.
		panic(fmt.Sprintf("autoconfig: %v", err))
	}
	return &Handler{s: s, svc: svc, log: log, pages: pages}
}

// Register adds the routes to mux:
//
//	GET  /.well-known/autoconfig/mail/config-v1.1.xml  Thunderbird autoconfiguration
//	GET  /mail/config-v1.1.xml                         the same, as asked at autoconfig.<domain>
//	POST /autodiscover/autodiscover.xml                Autodiscover (POX), also spelt
//	POST /Autodiscover/Autodiscover.xml                as Outlook does
//	POST /account/mail.mobileconfig                    Apple profile, behind require
//
// pages are the sign-in pages ([login.Handler]): their Require lets only
// full sessions through and puts the session in the request context.
func (h *Handler) Register(mux *http.ServeMux, pages SignInPages) {
	h.loc = pages.Localizer
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", h.autoconfig)
	mux.HandleFunc("GET /mail/config-v1.1.xml", h.autoconfig)
	mux.HandleFunc("POST /autodiscover/autodiscover.xml", h.autodiscover)
	mux.HandleFunc("POST /Autodiscover/Autodiscover.xml", h.autodiscover)
	mux.Handle("POST /account/mail.mobileconfig", pages.Require(http.HandlerFunc(h.mobileconfig)))
}
