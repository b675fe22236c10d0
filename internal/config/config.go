// Package config is the caucus configuration file (TOML v1.0.0), its
// defaults, its validation, and the commented template that `caucus init`
// writes.
//
// A configuration is read by [Load] (or [Parse]): the file is decoded over
// [Default], so a key left out keeps its default; a key caucus does not know
// is refused, so a typo never silently falls back to a default; and the
// result is checked by [Config.Validate], which reports every problem at once,
// each naming its key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/caucus-org/caucus/internal/i18n"
)

// MaxSize is the largest configuration file, in bytes, that [Load] and
// [Parse] accept.
const MaxSize = 1 << 20

var (
	// ErrTooLarge reports a configuration larger than [MaxSize].
	ErrTooLarge = errors.New("config: file larger than 1 MiB")
	// ErrUnknownKey reports a key in the file that caucus does not know,
	// usually a typo; the error names the keys.
	ErrUnknownKey = errors.New("config: unknown key")
)

// Config is the whole caucus configuration. The field comments give each
// key's name in the file; [Template] explains them to the admin.
type Config struct {
	// Hostname is the public name of the server, e.g.
	// "mail.example-party.org", used for the web, IMAP and SMTP.
	Hostname string `toml:"hostname"`
	// MailDomains are the domains caucus receives mail for; the first is
	// the primary, e.g. ["example-party.org"].
	MailDomains []string `toml:"mail_domains"`
	// DataDir holds the SQLite database, the blobs and the keys; it must be
	// an absolute path. Default /var/lib/caucus.
	DataDir string `toml:"data_dir"`
	// ACMEContact is the e-mail address of the ACME (Let's Encrypt)
	// account. It may be empty only when TLS.CertFile and TLS.KeyFile are
	// set.
	ACMEContact string `toml:"acme_contact"`
	// ACMEDirectory is the URL of the ACME server's directory (RFC 8555
	// section 7.1.1). Default Let's Encrypt's production service.
	ACMEDirectory string `toml:"acme_directory"`
	// ACMECAFile names PEM certificates that verify the ACME server's
	// HTTPS certificate, for a private CA; empty means the system's roots.
	ACMECAFile string `toml:"acme_ca_file"`
	// Listen holds the addresses the servers listen on.
	Listen Listen `toml:"listen"`
	// TLS names a certificate to use instead of ACME.
	TLS TLS `toml:"tls"`
	// Sessions holds the web session lifetimes.
	Sessions Sessions `toml:"sessions"`
	// Policy holds the security policy choices.
	Policy Policy `toml:"policy"`
	// Log chooses the log format and level.
	Log Log `toml:"log"`
	// Backup configures the daily encrypted backup.
	Backup Backup `toml:"backup"`
	// SMTP holds the limits of the MX and the submission service.
	SMTP SMTP `toml:"smtp"`
	// Files holds the settings of the file store and its links.
	Files Files `toml:"files"`
	// Party holds the party's name, look and language.
	Party Party `toml:"party"`
	// Storage chooses where blobs (message bodies, file contents) live.
	Storage Storage `toml:"storage"`
}

// Storage chooses the storage engines. Metadata goes to SQLite in DataDir
// (the default) or to PostgreSQL; blobs go to a directory there (the
// default) or to an S3-compatible object store, encrypted with a key
// caucus holds.
type Storage struct {
	// Database is "sqlite" (default: DataDir/caucus.db) or "postgres"
	// (see Postgres).
	Database string `toml:"database"`
	// Postgres is the database used when Database is "postgres".
	Postgres Postgres `toml:"postgres"`
	// Blobs is "dir" (default: DataDir/blobs) or "s3" (see S3).
	Blobs string `toml:"blobs"`
	// S3 is the object store used when Blobs is "s3".
	S3 S3 `toml:"s3"`
}

// Postgres says which PostgreSQL database caucus keeps its metadata in.
// The password is read from a file, so that the configuration can be
// shown and copied without it.
type Postgres struct {
	// DSN is the connection string without the password, as libpq's
	// keywords ("host=db.internal port=5432 user=caucus dbname=caucus
	// sslmode=verify-full sslrootcert=/etc/caucus/pg-ca.pem") or a
	// postgres:// URL.
	DSN string `toml:"dsn"`
	// PasswordFile is the file, as an absolute path, holding the
	// password (surrounding white space ignored); empty for none (a
	// client certificate or a local socket's peer authentication).
	PasswordFile string `toml:"password_file"`
}

// Password reads the password from PasswordFile; it is "" when none is
// set.
func (p Postgres) Password() (string, error) {
	if p.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("storage.postgres.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// S3 says where the S3-compatible object store is and how to sign in. The
// secret is read from a file, so that the configuration can be shown and
// copied without it.
type S3 struct {
	// Endpoint is the store's host or host:port, without a scheme, e.g.
	// "s3.eu-central-1.amazonaws.com" or "minio.internal:9000".
	Endpoint string `toml:"endpoint"`
	// Region is the bucket's region, e.g. "eu-central-1"; empty lets caucus
	// ask the store.
	Region string `toml:"region"`
	// Bucket is the bucket blobs go in; it must exist.
	Bucket string `toml:"bucket"`
	// Prefix begins every key caucus writes, e.g. "caucus/", so a bucket can
	// hold other things too; empty or ending in "/".
	Prefix string `toml:"prefix"`
	// AccessKey is the access key id the requests are signed with.
	AccessKey string `toml:"access_key"`
	// SecretFile is the file, as an absolute path, holding the secret
	// access key (surrounding white space ignored).
	SecretFile string `toml:"secret_file"`
	// KeyFile is the 32-byte key blobs are encrypted with, as an absolute
	// path; empty for DataDir/keys/blob.key, made on first start. Every
	// node of a party must have the same one, and backups must keep it:
	// without it the blobs cannot be read.
	KeyFile string `toml:"key_file"`
	// CAFile names PEM certificates that verify the store's HTTPS
	// certificate, for a private CA; empty means the system's roots.
	CAFile string `toml:"ca_file"`
	// InsecureHTTP speaks plain HTTP to the store: allowed only for an
	// endpoint on the loopback address (a store on the same machine).
	InsecureHTTP bool `toml:"insecure_http"`
	// CacheMB is the size, in MiB, of the node's cache of objects on its
	// own disk (data_dir/s3cache), as encrypted as in the store: a blob
	// read or stored lately is read again without a request to the store,
	// and so is a small file's content that the database keeps, once it
	// falls out of the node's memory (on PostgreSQL, see package files).
	// 0 means 1024 (1 GiB); -1 turns the cache off.
	CacheMB int `toml:"cache_mb"`
}

// Party is the party's own name, look and language: shown on the sign-in,
// public link and drop pages and in mail caucus sends.
type Party struct {
	// Name is the party's name, e.g. "Partito Esempio"; empty shows the
	// primary mail domain (see [Config.PartyName]).
	Name string `toml:"name"`
	// Language is the default language of pages and mail, for people who
	// chose none and whose browser asks for none caucus has: "en"
	// (default), "it", "fr", "de" or "es".
	Language string `toml:"language"`
	// LogoFile is the party's logo, a PNG, JPEG, GIF or WebP file of at
	// most 512 KiB, as an absolute path; empty for none.
	LogoFile string `toml:"logo_file"`
	// Accent is the colour of the page header and buttons, "#rrggbb" or
	// "#rgb"; empty keeps caucus's dark blue.
	Accent string `toml:"accent"`
	// TimeZone is the IANA time zone dates are shown in, e.g.
	// "Europe/Rome"; empty is the server's own.
	TimeZone string `toml:"time_zone"`
}

// PartyName is the party's name as people see it: Party.Name, else the
// primary mail domain.
func (c Config) PartyName() string {
	if c.Party.Name != "" {
		return c.Party.Name
	}
	if len(c.MailDomains) > 0 {
		return c.MailDomains[0]
	}
	return ""
}

// Location is the time zone of Party.TimeZone (the server's own when
// empty); Validate has checked it loads.
func (c Config) Location() *time.Location {
	if c.Party.TimeZone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(c.Party.TimeZone)
	if err != nil {
		return time.Local
	}
	return loc
}

// Backup configures the daily backup that the server makes (package
// internal/backup). With Dest empty there is none.
type Backup struct {
	// Dest is the directory backups go to, as an absolute path: a disk
	// mounted there, or a network file system.
	Dest string `toml:"dest"`
	// Recipient is the age public key ("age1…") backups are encrypted to;
	// its identity (private key) stays with the admin, off the server.
	Recipient string `toml:"recipient"`
	// Time is the local time of day of the daily backup, "HH:MM".
	// Default "03:30".
	Time string `toml:"time"`
	// Keep is how many complete backups are kept. Default 14.
	Keep int `toml:"keep"`
}

// Listen holds the "host:port" addresses the servers listen on. An empty
// address disables that listener, except HTTPS, which is required. A host
// left out (":993") means every address of the machine.
type Listen struct {
	// HTTPS serves the web pages, WebDAV and ACME TLS-ALPN. Default ":443".
	HTTPS string `toml:"https"`
	// HTTP answers ACME HTTP challenges and redirects to HTTPS. Default ":80".
	HTTP string `toml:"http"`
	// IMAPS is IMAP over implicit TLS (RFC 8314). Default ":993".
	IMAPS string `toml:"imaps"`
	// IMAP is IMAP with STARTTLS (RFC 9051). Default ":143".
	IMAP string `toml:"imap"`
	// SMTP receives mail from other servers (RFC 5321). Default ":25".
	SMTP string `toml:"smtp"`
	// Submission is message submission with STARTTLS (RFC 6409). Default ":587".
	Submission string `toml:"submission"`
	// Submissions is message submission over implicit TLS (RFC 8314).
	// Default ":465".
	Submissions string `toml:"submissions"`
	// Metrics serves Prometheus metrics. Default "127.0.0.1:9225".
	Metrics string `toml:"metrics"`
}

// TLS names a certificate and key in PEM files. When both are set they are
// used instead of ACME.
type TLS struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string `toml:"cert_file"`
	// KeyFile is the private key of the leaf certificate.
	KeyFile string `toml:"key_file"`
}

// Sessions holds the lifetimes of web sessions.
type Sessions struct {
	// IdleTimeout ends a session not used for this long. Default 30m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// AbsoluteTimeout ends every session this long after login. Default 12h.
	AbsoluteTimeout Duration `toml:"absolute_timeout"`
	// StepUpWindow is how long a fresh second-factor check counts for
	// sensitive actions before it is asked for again. Default 5m.
	StepUpWindow Duration `toml:"step_up_window"`
}

// Policy holds the security policy choices.
type Policy struct {
	// AdminsNeedWebAuthn refuses admin rights to accounts without a WebAuthn
	// credential (TOTP is not enough). Default true.
	AdminsNeedWebAuthn bool `toml:"admins_need_webauthn"`
	// OfficerKeyModels, if not empty, are the models of security key an
	// officer may register, by AAGUID (8-4-4-4-12 hex digits, as the
	// FIDO Alliance's metadata and vendors publish them). Empty: any.
	OfficerKeyModels []string `toml:"officer_key_models"`
}

// Log chooses the log format and level.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `toml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `toml:"level"`
}

// SMTP holds the limits of the SMTP servers: the MX (port 25) and
// submission (ports 587 and 465).
type SMTP struct {
	// MaxConnsPerAddr is how many connections one IP address may hold open
	// to the SMTP ports together; more get 421. Default 20.
	MaxConnsPerAddr int `toml:"max_conns_per_addr"`
	// MaxMessageBytes is the largest message accepted (the SIZE of RFC
	// 1870); larger ones get 552. Default 33554432 (32 MiB).
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxRecipients is how many recipients one message may have on the MX;
	// more get 452. Default 100.
	MaxRecipients int `toml:"max_recipients"`
	// SendPerHour is how many messages one account may submit per hour;
	// more get 450. Default 100.
	SendPerHour int `toml:"send_per_hour"`
	// MaxRcptsPerMessage is how many recipients one submitted message may
	// have; more get 452. Default 50.
	MaxRcptsPerMessage int `toml:"max_rcpts_per_message"`
	// ListPerSecond is how many copies of mailing lists' posts the queue
	// starts delivering per second, to all domains together, behind the
	// members' own mail (mail/queue's Pacing). Default 10.
	ListPerSecond int `toml:"list_per_second"`
	// ListPerDomainPerSecond is the same to any one recipient domain.
	// Default 1.
	ListPerDomainPerSecond int `toml:"list_per_domain_per_second"`
}

// Files holds the settings of the file store (versions, trash, quotas)
// and its public links.
type Files struct {
	// Versions is how many versions of each file are kept. Default 10.
	Versions int `toml:"versions"`
	// TrashRetention is how long deleted files stay in the trash. Default 720h.
	TrashRetention Duration `toml:"trash_retention"`
	// DefaultQuotaMB is each account's and group's quota in MiB when an
	// admin set none; 0 means unlimited. Default 0.
	DefaultQuotaMB int64 `toml:"default_quota_mb"`
	// DefaultLinkLifetime is a public link's expiry unless its maker picks
	// one. Default 168h.
	DefaultLinkLifetime Duration `toml:"default_link_lifetime"`
	// MaxLinkLifetime is the longest expiry a public link may have.
	// Default 2160h.
	MaxLinkLifetime Duration `toml:"max_link_lifetime"`
}

// Duration is a [time.Duration] written in the file as a string that
// [time.ParseDuration] accepts, such as "30m" or "1h30m".
type Duration struct{ time.Duration }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("config: duration: %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalText implements [encoding.TextMarshaler]. It writes the shortest
// form: "30m", not "30m0s".
func (d Duration) MarshalText() ([]byte, error) {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return []byte(s), nil
}

// Default returns the configuration with every default filled in. Hostname,
// MailDomains and ACMEContact are empty: they have no sensible default, so
// Default alone does not validate.
func Default() Config {
	return Config{
		DataDir:       "/var/lib/caucus",
		ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory",
		Listen: Listen{
			HTTPS:       ":443",
			HTTP:        ":80",
			IMAPS:       ":993",
			IMAP:        ":143",
			SMTP:        ":25",
			Submission:  ":587",
			Submissions: ":465",
			Metrics:     "127.0.0.1:9225",
		},
		Sessions: Sessions{
			IdleTimeout:     Duration{30 * time.Minute},
			AbsoluteTimeout: Duration{12 * time.Hour},
			StepUpWindow:    Duration{5 * time.Minute},
		},
		Policy:  Policy{AdminsNeedWebAuthn: true, OfficerKeyModels: []string{}},
		Party:   Party{Language: "en"},
		Storage: Storage{Database: "sqlite", Blobs: "dir"},
		Log:     Log{Format: "text", Level: "info"},
		Backup:  Backup{Time: "03:30", Keep: 14},
		SMTP: SMTP{
			MaxConnsPerAddr:        20,
			MaxMessageBytes:        32 << 20,
			MaxRecipients:          100,
			SendPerHour:            100,
			MaxRcptsPerMessage:     50,
			ListPerSecond:          10,
			ListPerDomainPerSecond: 1,
		},
		Files: Files{
			Versions:            10,
			TrashRetention:      Duration{30 * 24 * time.Hour},
			DefaultLinkLifetime: Duration{7 * 24 * time.Hour},
			MaxLinkLifetime:     Duration{90 * 24 * time.Hour},
		},
	}
}

// Dev returns the configuration of the --dev demo: host and mail domain
// "localhost", every listener on 127.0.0.1 at an unprivileged port, no
// plain-HTTP listener, and the self-signed certificate that package devcert
// keeps in dataDir instead of ACME. dataDir must be absolute for the result
// to validate.
func Dev(dataDir string) Config {
	c := Default()
	c.Hostname = "localhost"
	c.MailDomains = []string{"localhost"}
	c.DataDir = dataDir
	c.Listen = Listen{
		HTTPS:       "127.0.0.1:8443",
		HTTP:        "",
		IMAPS:       "127.0.0.1:1993",
		IMAP:        "127.0.0.1:1143",
		SMTP:        "127.0.0.1:2525",
		Submission:  "127.0.0.1:5587",
		Submissions: "127.0.0.1:5465",
		Metrics:     "127.0.0.1:9225",
	}
	c.TLS = TLS{
		CertFile: filepath.Join(dataDir, "dev-cert.pem"),
		KeyFile:  filepath.Join(dataDir, "dev-key.pem"),
	}
	return c
}

// Load reads the configuration file at path and returns it as [Parse] does.
// A file larger than [MaxSize] is refused with [ErrTooLarge].
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes data over [Default], refuses unknown keys with
// [ErrUnknownKey] and input larger than [MaxSize] with [ErrTooLarge], and
// validates the result with [Config.Validate].
func Parse(data []byte) (Config, error) {
	c, err := decode(data)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decode is Parse without the validation.
func decode(data []byte) (Config, error) {
	if len(data) > MaxSize {
		return Config{}, ErrTooLarge
	}
	if err := checkShape(data); err != nil {
		return Config{}, err
	}
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		// An unknown table lists its keys too; naming the table is enough.
		all := make(map[string]bool, len(undecoded))
		for _, k := range undecoded {
			all[k.String()] = true
		}
		var names []string
		more := 0
	keys:
		for _, k := range undecoded {
			for i := 1; i < len(k); i++ {
				if all[k[:i].String()] {
					continue keys
				}
			}
			if len(names) == maxUnknownNamed {
				more++
				continue
			}
			names = append(names, k.String())
		}
		list := strings.Join(names, ", ")
		if more > 0 {
			list += fmt.Sprintf(" and %d more", more)
		}
		return Config{}, fmt.Errorf("%w: %s", ErrUnknownKey, list)
	}
	return c, nil
}

// maxUnknownNamed is how many unknown keys an error names.
const maxUnknownNamed = 10

// Limits of checkShape. A caucus configuration needs two levels of nesting
// and one dot in a key; the limits leave room for TOML's other spellings.
const (
	maxNesting = 8 // [ and { open at once, outside strings and comments
	maxDots    = 8 // dots on one line, outside strings and comments
)

// checkShape refuses input whose keys would be deep, before the TOML
// decoder sees it: github.com/BurntSushi/toml v1.6.0 takes time and memory
// quadratic in the depth of a key (a.a.a… = 1, or nested inline tables),
// so a few kilobytes could take it minutes and gigabytes. It skims the TOML
// lexical structure only: strings and comments are skipped, and within them
// nothing is counted.
func checkShape(data []byte) error {
	line, depth, dots := 1, 0, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line, dots = line+1, 0
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			if i+2 < len(data) && data[i+1] == c && data[i+2] == c {
				// A multi-line string, ending at the next three quotes;
				// up to two more quotes belong to its content.
				for i += 3; i < len(data); i++ {
					if data[i] == '\n' {
						line++
					} else if c == '"' && data[i] == '\\' && i+1 < len(data) {
						i++
						if data[i] == '\n' {
							line++
						}
					} else if data[i] == c && i+2 < len(data) && data[i+1] == c && data[i+2] == c {
						i += 2
						for k := 0; k < 2 && i+1 < len(data) && data[i+1] == c; k++ {
							i++
						}
						break
					}
				}
				continue
			}
			// A string on one line; an unterminated one ends at the line's
			// end, for the decoder to report.
			for i++; i < len(data) && data[i] != c && data[i] != '\n'; i++ {
				if c == '"' && data[i] == '\\' && i+1 < len(data) && data[i+1] != '\n' {
					i++
				}
			}
			if i < len(data) && data[i] == '\n' {
				i-- // counted by the next round
			}
		case '[', '{':
			if depth++; depth > maxNesting {
				return fmt.Errorf("config: line %d: more than %d levels of [ and {", line, maxNesting)
			}
		case ']', '}':
			depth = max(depth-1, 0)
		case '.':
			if dots++; dots > maxDots {
				return fmt.Errorf("config: line %d: more than %d dots outside strings", line, maxDots)
			}
		}
	}
	return nil
}

// Validate reports every problem in c, joined with [errors.Join]; each error
// names the key it is about. It returns nil when c can be served.
func (c Config) Validate() error {
	var p problems
	for _, check := range []func(*problems){
		c.checkNames, c.checkListeners, c.checkTLS, c.checkBackup, c.checkSessions, c.checkFiles, c.checkLog, c.checkSMTP, c.checkParty, c.checkPolicy, c.checkStorage,
	} {
		check(&p)
	}
	return errors.Join(p...)
}

// problems collects what Validate finds wrong, each naming its key.
type problems []error

// bad adds a problem of key.
func (p *problems) bad(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// checkNames checks the names: the host name, the mail domains and the data directory.
func (c Config) checkNames(p *problems) {
	if err := checkDNSName(c.Hostname); err != nil {
		p.bad("hostname", "%v", err)
	}

	if len(c.MailDomains) == 0 {
		p.bad("mail_domains", "at least one mail domain is required")
	}
	seen := make(map[string]bool, len(c.MailDomains))
	for i, d := range c.MailDomains {
		if err := checkDNSName(d); err != nil {
			p.bad(fmt.Sprintf("mail_domains[%d]", i), "%v", err)
			continue
		}
		if k := strings.ToLower(d); seen[k] {
			p.bad(fmt.Sprintf("mail_domains[%d]", i), "%q is listed twice", d)
		} else {
			seen[k] = true
		}
	}

	if !filepath.IsAbs(c.DataDir) {
		p.bad("data_dir", "%q is not an absolute path", c.DataDir)
	}
}

// checkListeners checks the listeners: each address valid, no two on one port.
func (c Config) checkListeners(p *problems) {
	type listener struct {
		key  string
		addr netip.AddrPort // unspecified address for "every address"
	}
	var listeners []listener
	for _, l := range []struct{ key, addr string }{
		{"listen.https", c.Listen.HTTPS},
		{"listen.http", c.Listen.HTTP},
		{"listen.imaps", c.Listen.IMAPS},
		{"listen.imap", c.Listen.IMAP},
		{"listen.smtp", c.Listen.SMTP},
		{"listen.submission", c.Listen.Submission},
		{"listen.submissions", c.Listen.Submissions},
		{"listen.metrics", c.Listen.Metrics},
	} {
		if l.addr == "" {
			if l.key == "listen.https" {
				p.bad(l.key, "required")
			}
			continue
		}
		host, port, err := checkListen(l.addr)
		if err != nil {
			p.bad(l.key, "%v", err)
			continue
		}
		if !host.IsValid() {
			continue // a host name: not resolved, so not compared
		}
		// Two listeners on one port conflict when their hosts are the same
		// or either one is every address.
		for _, o := range listeners {
			if o.addr.Port() == port && (o.addr.Addr() == host || o.addr.Addr().IsUnspecified() || host.IsUnspecified()) {
				p.bad(l.key, "%q uses the same port as %s", l.addr, o.key)
			}
		}
		listeners = append(listeners, listener{l.key, netip.AddrPortFrom(host, port)})
	}
}

// checkTLS checks where certificates come from: files or ACME.
func (c Config) checkTLS(p *problems) {
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		p.bad("tls.key_file", "required when tls.cert_file is set")
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		p.bad("tls.cert_file", "required when tls.key_file is set")
	}
	if c.TLS.CertFile != "" && !filepath.IsAbs(c.TLS.CertFile) {
		p.bad("tls.cert_file", "%q is not an absolute path", c.TLS.CertFile)
	}
	if c.TLS.KeyFile != "" && !filepath.IsAbs(c.TLS.KeyFile) {
		p.bad("tls.key_file", "%q is not an absolute path", c.TLS.KeyFile)
	}
	if c.ACMEContact != "" {
		if err := checkAddress(c.ACMEContact); err != nil {
			p.bad("acme_contact", "%v", err)
		}
	} else if c.TLS.CertFile == "" && c.TLS.KeyFile == "" {
		p.bad("acme_contact", "required unless tls.cert_file and tls.key_file are set")
	}

	if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		p.bad("acme_directory", "%q is not an https URL", c.ACMEDirectory)
	}
	if c.ACMECAFile != "" && !filepath.IsAbs(c.ACMECAFile) {
		p.bad("acme_ca_file", "%q is not an absolute path", c.ACMECAFile)
	}
}

// checkBackup checks the daily backup.
func (c Config) checkBackup(p *problems) {
	if c.Backup.Dest != "" {
		if !filepath.IsAbs(c.Backup.Dest) {
			p.bad("backup.dest", "%q is not an absolute path", c.Backup.Dest)
		}
		if !strings.HasPrefix(c.Backup.Recipient, "age1") {
			p.bad("backup.recipient", "an age public key (age1…) is required when backup.dest is set")
		}
	}
	if _, err := time.Parse("15:04", c.Backup.Time); err != nil || len(c.Backup.Time) != 5 {
		p.bad("backup.time", "%q is not a time of day HH:MM", c.Backup.Time)
	}
	if c.Backup.Keep < 1 {
		p.bad("backup.keep", "%d: keep at least one backup", c.Backup.Keep)
	}
}

// checkSessions checks the web sessions' lifetimes.
func (c Config) checkSessions(p *problems) {
	idle, abs, step := c.Sessions.IdleTimeout.Duration, c.Sessions.AbsoluteTimeout.Duration, c.Sessions.StepUpWindow.Duration
	if idle <= 0 {
		p.bad("sessions.idle_timeout", "%v is not positive", idle)
	}
	if abs <= 0 {
		p.bad("sessions.absolute_timeout", "%v is not positive", abs)
	}
	if idle > 0 && abs > 0 && idle > abs {
		p.bad("sessions.idle_timeout", "%v is longer than sessions.absolute_timeout %v", idle, abs)
	}
	if step < time.Minute || step > time.Hour {
		p.bad("sessions.step_up_window", "%v is not between 1m and 1h", step)
	}
}

// checkFiles checks the file versions, trash, quotas and links.
func (c Config) checkFiles(p *problems) {
	if c.Files.Versions < 1 || c.Files.Versions > 1000 {
		p.bad("files.versions", "%d is not between 1 and 1000", c.Files.Versions)
	}
	if c.Files.TrashRetention.Duration < time.Hour {
		p.bad("files.trash_retention", "%v is shorter than 1h", c.Files.TrashRetention.Duration)
	}
	if c.Files.DefaultQuotaMB < 0 {
		p.bad("files.default_quota_mb", "%d is negative", c.Files.DefaultQuotaMB)
	}
	if dl, ml := c.Files.DefaultLinkLifetime.Duration, c.Files.MaxLinkLifetime.Duration; ml < time.Hour {
		p.bad("files.max_link_lifetime", "%v is shorter than 1h", ml)
	} else if dl < time.Minute || dl > ml {
		p.bad("files.default_link_lifetime", "%v is not between 1m and files.max_link_lifetime %v", dl, ml)
	}
}

// checkLog checks the log's format and level.
func (c Config) checkLog(p *problems) {
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.bad("log.format", "%q is not \"text\" or \"json\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.bad("log.level", "%q is not \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
}

// checkSMTP checks SMTP's limits (RFC 5321 section 4.5.3.1).
func (c Config) checkSMTP(p *problems) {
	for _, l := range []struct {
		key      string
		val, max int64
	}{
		{"smtp.max_conns_per_addr", int64(c.SMTP.MaxConnsPerAddr), 10000},
		// RFC 5321 4.5.3.1.7: at least 64 KiB; more than 1 GiB is a mistake.
		{"smtp.max_message_bytes", c.SMTP.MaxMessageBytes, 1 << 30},
		// RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted.
		{"smtp.max_recipients", int64(c.SMTP.MaxRecipients), 10000},
		{"smtp.send_per_hour", int64(c.SMTP.SendPerHour), 1000000},
		{"smtp.max_rcpts_per_message", int64(c.SMTP.MaxRcptsPerMessage), 10000},
		{"smtp.list_per_second", int64(c.SMTP.ListPerSecond), 10000},
		{"smtp.list_per_domain_per_second", int64(c.SMTP.ListPerDomainPerSecond), 10000},
	} {
		if l.val < 1 || l.val > l.max {
			p.bad(l.key, "%d is not between 1 and %d", l.val, l.max)
		}
	}
	if c.SMTP.MaxMessageBytes > 0 && c.SMTP.MaxMessageBytes < 64<<10 {
		p.bad("smtp.max_message_bytes", "%d is less than 65536 (RFC 5321 4.5.3.1.7)", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxRecipients > 0 && c.SMTP.MaxRecipients < 100 {
		p.bad("smtp.max_recipients", "%d is less than 100 (RFC 5321 4.5.3.1.8)", c.SMTP.MaxRecipients)
	}
}

// accentRE is a CSS hex colour of 3 or 6 digits.
var accentRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// validateParty checks the [party] table.
func (c Config) checkParty(pr *problems) {
	bad, p := pr.bad, c.Party
	if len(p.Name) > 100 || !utf8.ValidString(p.Name) || strings.ContainsFunc(p.Name, unicode.IsControl) {
		bad("party.name", "must be at most 100 characters of text")
	}
	if !i18n.Builtin().Supported(p.Language) {
		bad("party.language", "%q is not one of %s", p.Language, strings.Join(i18n.Builtin().Languages(), ", "))
	}
	if p.LogoFile != "" && !filepath.IsAbs(p.LogoFile) {
		bad("party.logo_file", "%q is not an absolute path", p.LogoFile)
	}
	if p.Accent != "" && !accentRE.MatchString(p.Accent) {
		bad("party.accent", "%q is not a colour like \"#a4161a\"", p.Accent)
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil || strings.EqualFold(p.TimeZone, "local") {
			bad("party.time_zone", "%q is not a time zone like \"Europe/Rome\"", p.TimeZone)
		}
	}
}

// checkDNSName reports whether name is a host name in the preferred syntax
// of RFC 1034 section 3.5 (as relaxed by RFC 1123 section 2.1), written
// without a trailing dot, with international names in their A-label form
// (RFC 5890), and not an IP address.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("required")
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return fmt.Errorf("%q is an IP address, not a DNS name", name)
	}
	if len(name) > 253 {
		return fmt.Errorf("%.20q… is longer than 253 characters", name)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Errorf("%q has an empty label", name)
		case len(l) > 63:
			return fmt.Errorf("%q has a label longer than 63 characters", name)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("%q has a label that starts or ends with '-'", name)
		}
		for _, r := range l {
			if r > unicode.MaxASCII {
				return fmt.Errorf("%q is not ASCII; write an international name in its xn-- form", name)
			}
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return fmt.Errorf("%q has a character other than letters, digits, '-' and '.'", name)
			}
		}
	}
	// RFC 3696 section 2: a top-level domain is never all digits.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("%q ends in an all-numeric label", name)
	}
	return nil
}

// checkListen parses a listen address "host:port". host is the
// unspecified address when the host is empty, and the zero Addr when it is
// a name.
func checkListen(addr string) (host netip.Addr, port uint16, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: %w", addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return netip.Addr{}, 0, fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, p)
	}
	if h == "" {
		return netip.IPv6Unspecified(), uint16(n), nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), uint16(n), nil
	}
	if err := checkDNSName(h); err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: host is neither an IP address nor a name: %w", addr, err)
	}
	return netip.Addr{}, uint16(n), nil
}

// checkAddress reports whether s looks like a plain e-mail address,
// local@domain: a dot-atom local part (RFC 5322 section 3.4.1, with UTF-8 as
// RFC 6532 allows) and a domain checkDNSName accepts; no display name, no
// "mailto:".
func checkAddress(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return fmt.Errorf("%q is not an e-mail address", s)
	}
	local := s[:at]
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") ||
		!utf8.ValidString(local) || strings.ContainsFunc(local, notAtext) {
		return fmt.Errorf("%q is not a plain e-mail address (local@domain)", s)
	}
	if err := checkDNSName(s[at+1:]); err != nil {
		return fmt.Errorf("%q has a bad domain: %w", s, err)
	}
	return nil
}

// notAtext reports whether r may not appear in a dot-atom: it is ASCII and
// neither atext (RFC 5322 section 3.2.3) nor a dot. Non-ASCII is UTF8-non-ascii
// (RFC 6532 section 3.2).
func notAtext(r rune) bool {
	return r < utf8.RuneSelf && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune(".!#$%&'*+-/=?^_`{|}~", r))
}

// checkPolicy checks the [policy] table: each officer key model is an
// AAGUID (RFC 9562's 8-4-4-4-12 hex form).
func (c Config) checkPolicy(p *problems) {
	for i, m := range c.Policy.OfficerKeyModels {
		if !isUUID(m) {
			p.bad(fmt.Sprintf("policy.officer_key_models[%d]", i), "%q is not an AAGUID like \"cb69481e-8ff7-4039-93ec-0a2729a154a8\"", m)
		}
	}
}

// isUUID reports whether s has the 8-4-4-4-12 hex digit form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// bucketRE is an S3 bucket name (Amazon S3's "general purpose bucket naming
// rules"): 3 to 63 lowercase letters, digits, dots and hyphens, beginning
// and ending with a letter or digit.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// prefixRE is a key prefix caucus accepts: safe characters, ending in "/".
var prefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/$`)

// checkStorage checks the [storage] table and, for "postgres" and "s3",
// [storage.postgres] and [storage.s3].
func (c Config) checkStorage(p *problems) {
	switch c.Storage.Database {
	case "", "sqlite":
	case "postgres":
		pg := c.Storage.Postgres
		if strings.TrimSpace(pg.DSN) == "" {
			p.bad("storage.postgres.dsn", "required: the connection string, e.g. \"host=db.internal user=caucus dbname=caucus sslmode=verify-full\"")
		} else if strings.Contains(strings.ToLower(pg.DSN), "password") || strings.Contains(pg.DSN, ":@") || pgURLPassword(pg.DSN) {
			p.bad("storage.postgres.dsn", "holds a password: put it in password_file instead")
		}
		if pg.PasswordFile != "" && !filepath.IsAbs(pg.PasswordFile) {
			p.bad("storage.postgres.password_file", "%q is not an absolute path", pg.PasswordFile)
		}
	default:
		p.bad("storage.database", "%q is not \"sqlite\" or \"postgres\"", c.Storage.Database)
	}
	c.checkBlobStorage(p)
}

// pgURLPassword reports whether dsn is a postgres:// URL with a password
// in its user information.
func pgURLPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return false
	}
	_, set := u.User.Password()
	return set
}

// checkBlobStorage checks storage.blobs and, for "s3", [storage.s3].
func (c Config) checkBlobStorage(p *problems) {
	switch c.Storage.Blobs {
	case "dir":
		return
	case "s3":
	default:
		p.bad("storage.blobs", "%q is not \"dir\" or \"s3\"", c.Storage.Blobs)
		return
	}
	s := c.Storage.S3
	if host, err := checkEndpoint(s.Endpoint); err != nil {
		p.bad("storage.s3.endpoint", "%v", err)
	} else if s.InsecureHTTP && !host.IsLoopback() {
		p.bad("storage.s3.insecure_http", "plain HTTP is allowed only to a loopback address, not %q", s.Endpoint)
	}
	if s.CacheMB < -1 || s.CacheMB > 1<<20 {
		p.bad("storage.s3.cache_mb", "%d is not a size in MiB from 1 to 1048576, 0 (the default, 1024) or -1 (none)", s.CacheMB)
	}
	if !bucketRE.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..") {
		p.bad("storage.s3.bucket", "%q is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')", s.Bucket)
	}
	if s.Prefix != "" && (len(s.Prefix) > 200 || !prefixRE.MatchString(s.Prefix)) {
		p.bad("storage.s3.prefix", "%q is not empty or a path like \"caucus/\" ending in '/'", s.Prefix)
	}
	if s.AccessKey == "" || len(s.AccessKey) > 128 || strings.ContainsFunc(s.AccessKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		p.bad("storage.s3.access_key", "required: the access key id, printable ASCII")
	}
	if !filepath.IsAbs(s.SecretFile) {
		p.bad("storage.s3.secret_file", "%q is not an absolute path", s.SecretFile)
	}
	if s.KeyFile != "" && !filepath.IsAbs(s.KeyFile) {
		p.bad("storage.s3.key_file", "%q is not an absolute path", s.KeyFile)
	}
	if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
		p.bad("storage.s3.ca_file", "%q is not an absolute path", s.CAFile)
	}
}

// checkEndpoint checks an object store's endpoint, host or host:port, and
// returns its address when the host is an IP address (else the zero Addr).
func checkEndpoint(ep string) (netip.Addr, error) {
	if ep == "" {
		return netip.Addr{}, errors.New("required")
	}
	if strings.Contains(ep, "/") {
		return netip.Addr{}, fmt.Errorf("%q: give host or host:port, without a scheme or path", ep)
	}
	host := ep
	if h, port, err := net.SplitHostPort(ep); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return netip.Addr{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", ep, port)
		}
		host = h
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a.Unmap(), nil
	}
	if err := checkDNSName(host); err != nil {
		return netip.Addr{}, fmt.Errorf("%q: host is neither an IP address nor a name: %w", ep, err)
	}
	return netip.Addr{}, nil
}
