package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

var update = flag.Bool("update", false, "rewrite testdata/template.golden")

// valid returns a configuration that validates, for tests to spoil.
func valid() Config {
	c := Default()
	c.Hostname = "mail.example-party.org"
	c.MailDomains = []string{"example-party.org"}
	c.ACMEContact = "admin@example-party.org"
	return c
}

func TestDefault(t *testing.T) {
	t.Parallel()
	if err := valid().Validate(); err != nil {
		t.Fatalf("Default with hostname, domain and contact: %v", err)
	}
	err := Default().Validate()
	for _, key := range []string{"hostname", "mail_domains", "acme_contact"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("Default().Validate() = %v, want an error about %s", err, key)
		}
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := Dev(dir)
	if err := c.Validate(); err != nil {
		t.Fatalf("Dev(%q).Validate(): %v", dir, err)
	}
	if c.Hostname != "localhost" || !reflect.DeepEqual(c.MailDomains, []string{"localhost"}) {
		t.Errorf("Dev: hostname %q, domains %q", c.Hostname, c.MailDomains)
	}
	if c.Listen.HTTP != "" {
		t.Errorf("Dev: listen.http = %q, want none", c.Listen.HTTP)
	}
	for _, a := range []string{c.Listen.HTTPS, c.Listen.IMAPS, c.Listen.IMAP, c.Listen.SMTP,
		c.Listen.Submission, c.Listen.Submissions, c.Listen.Metrics} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("Dev: listener %q is not on 127.0.0.1", a)
		}
	}
	if want := filepath.Join(dir, "dev-cert.pem"); c.TLS.CertFile != want {
		t.Errorf("Dev: cert_file %q, want %q", c.TLS.CertFile, want)
	}
	if want := filepath.Join(dir, "dev-key.pem"); c.TLS.KeyFile != want {
		t.Errorf("Dev: key_file %q, want %q", c.TLS.KeyFile, want)
	}
	// Dev must not share its slice with another Config.
	c.MailDomains[0] = "changed"
	if Dev(dir).MailDomains[0] != "localhost" {
		t.Error("Dev returns a shared slice")
	}
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	data := Template("mail.example-party.org", "example-party.org", "/srv/caucus", "admin@example-party.org")
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Template(…)): %v\n%s", err, data)
	}
	want := Default()
	want.Hostname = "mail.example-party.org"
	want.MailDomains = []string{"example-party.org"}
	want.DataDir = "/srv/caucus"
	want.ACMEContact = "admin@example-party.org"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(Template(…)) =\n%+v\nwant\n%+v", got, want)
	}
}

// TestTemplateQuoting checks that values that need escaping come back the
// same; they need not be valid.
func TestTemplateQuoting(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", `"`, `\`, `a"b\c`, "tab\there", "line\nbreak\r", "\x00\x01\x1f\x7f", "ünïcødé ✓", "'''", `"""`, "# not a comment", "\u2028"} {
		c, err := decode(Template(s, s, s, s))
		if err != nil {
			t.Errorf("decode(Template(%q…)): %v", s, err)
			continue
		}
		if c.Hostname != s || len(c.MailDomains) != 1 || c.MailDomains[0] != s || c.DataDir != s || c.ACMEContact != s {
			t.Errorf("Template(%q…) came back as %q, %q, %q, %q", s, c.Hostname, c.MailDomains, c.DataDir, c.ACMEContact)
		}
	}
	c, err := decode(Template("a\xffb", "", "", ""))
	if err != nil {
		t.Fatalf("decode(Template(invalid UTF-8)): %v", err)
	}
	if c.Hostname != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 came back as %q", c.Hostname)
	}
}

func TestTemplateGolden(t *testing.T) {
	t.Parallel()
	got := Template("mail.example-party.org", "example-party.org", "/var/lib/caucus", "admin@example-party.org")
	golden := filepath.Join("testdata", "template.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Template output differs from %s (run go test -update if the change is intended):\n%s", golden, got)
	}
}

// tomlKeys lists the keys of every field of the struct type t, dotted.
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		key := prefix + f.Tag.Get("toml")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, tomlKeys(f.Type, key+".")...)
		} else {
			keys = append(keys, key)
		}
	}
	return keys
}

// TestTemplateComplete checks that the template sets every key and explains
// each one in a comment on the line above.
func TestTemplateComplete(t *testing.T) {
	t.Parallel()
	data := Template("mail.example-party.org", "example-party.org", "/var/lib/caucus", "admin@example-party.org")
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		t.Fatal(err)
	}
	keys := tomlKeys(reflect.TypeFor[Config](), "")
	for _, k := range keys {
		if k == "" || strings.Contains(k, "..") {
			t.Fatalf("field without a toml tag: %q", k)
		}
		if !md.IsDefined(strings.Split(k, ".")...) {
			t.Errorf("template does not set %s", k)
		}
	}
	tables := []string{"listen", "tls", "sessions", "policy", "log", "backup", "smtp", "files", "party", "storage", "storage.postgres", "storage.s3"}
	if n := len(md.Keys()); n != len(keys)+len(tables) {
		t.Errorf("template has %d keys and tables, want %d keys and %d tables", n, len(keys), len(tables))
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "# ") {
			t.Errorf("line %d %q has no comment above it", i+1, l)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		want       []string
		not        []string
	}{
		{"top", "hostnme = \"x\"\n", []string{"hostnme"}, nil},
		{"in table", "[listen]\nimap4 = \":143\"\n", []string{"listen.imap4"}, nil},
		{"table", "[mail]\ndomain = \"x\"\nother = 1\n", []string{"mail"}, []string{"mail.domain", "mail.other"}},
		{"several", "tsl = 1\n[log]\nlevle = \"info\"\n", []string{"tsl", "log.levle"}, nil},
		{"beside valid keys", "hostname = \"mx.example.org\"\nmail_domains = [\"example.org\"]\nacme_contact = \"a@example.org\"\n[tls]\nca_file = \"/x\"\n", []string{"tls.ca_file"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.data))
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Parse = %v, want ErrUnknownKey", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q names %q, which is inside an unknown table", err, n)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, data, want string }{
		{"syntax", "hostname = \n", "config: toml:"},
		{"type", "hostname = 5\n", "hostname"},
		{"duration", "[sessions]\nidle_timeout = \"ten minutes\"\n", "duration"},
		{"duration type", "[sessions]\nidle_timeout = 10\n", "idle_timeout"},
		{"domains not a list", "mail_domains = \"example.org\"\n", "mail_domains"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error mentioning %q", tc.data, err, tc.want)
			}
		})
	}
}

// TestParseOverDefaults checks that keys left out keep their defaults and
// that a list given replaces, not extends, the default.
func TestParseOverDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`hostname = "mx.example.org"
mail_domains = ["example.org", "example.net"]
acme_contact = "ops@example.org"
[listen]
imap = ""
[sessions]
idle_timeout = "1h"
[smtp]
max_conns_per_addr = 60
send_per_hour = 500
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Hostname = "mx.example.org"
	want.MailDomains = []string{"example.org", "example.net"}
	want.ACMEContact = "ops@example.org"
	want.Listen.IMAP = ""
	want.Sessions.IdleTimeout = Duration{time.Hour}
	want.SMTP.MaxConnsPerAddr = 60
	want.SMTP.SendPerHour = 500
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", c, want)
	}
}

// validateCase is one change to a valid Config and the key Validate must
// name ("" for none).
type validateCase struct {
	name   string
	change func(*Config)
	key    string // the key the error must name; "" for no error
}

// nameCases are the cases of the names: host name and party.
func nameCases() []validateCase {
	return []validateCase{
		{"valid", func(c *Config) {}, ""},

		{"hostname empty", func(c *Config) { c.Hostname = "" }, "hostname"},
		{"hostname IPv4", func(c *Config) { c.Hostname = "192.0.2.1" }, "hostname"},
		{"hostname IPv6", func(c *Config) { c.Hostname = "2001:db8::1" }, "hostname"},
		{"hostname IPv6 brackets", func(c *Config) { c.Hostname = "[2001:db8::1]" }, "hostname"},
		{"hostname numeric TLD", func(c *Config) { c.Hostname = "mail.123" }, "hostname"},
		{"hostname empty label", func(c *Config) { c.Hostname = "mail..example.org" }, "hostname"},
		{"hostname trailing dot", func(c *Config) { c.Hostname = "mail.example.org." }, "hostname"},
		{"hostname leading hyphen", func(c *Config) { c.Hostname = "-mail.example.org" }, "hostname"},
		{"hostname underscore", func(c *Config) { c.Hostname = "mail_1.example.org" }, "hostname"},
		{"hostname space", func(c *Config) { c.Hostname = "mail example.org" }, "hostname"},
		{"hostname with port", func(c *Config) { c.Hostname = "mail.example.org:443" }, "hostname"},
		{"hostname unicode", func(c *Config) { c.Hostname = "mail.partéi.org" }, "hostname"},
		{"hostname long label", func(c *Config) { c.Hostname = strings.Repeat("a", 64) + ".org" }, "hostname"},
		{"hostname too long", func(c *Config) { c.Hostname = strings.Repeat("abcdefghi.", 26) + "org" }, "hostname"},
		{"hostname 63 label ok", func(c *Config) { c.Hostname = strings.Repeat("a", 63) + ".org" }, ""},
		{"hostname punycode ok", func(c *Config) { c.Hostname = "mail.xn--parti-bsa.org" }, ""},
		{"hostname single label ok", func(c *Config) { c.Hostname = "localhost" }, ""},
		{"hostname upper case ok", func(c *Config) { c.Hostname = "Mail.Example-Party.ORG" }, ""},

		{"party ok", func(c *Config) {
			c.Party = Party{Name: "Partito Esempio", Language: "it", LogoFile: "/etc/caucus/logo.png", Accent: "#A4161a", TimeZone: "Europe/Rome"}
		}, ""},
		{"party accent short ok", func(c *Config) { c.Party.Accent = "#a41" }, ""},
		{"party language unknown", func(c *Config) { c.Party.Language = "pt" }, "party.language"},
		{"party language empty", func(c *Config) { c.Party.Language = "" }, "party.language"},
		{"party language region", func(c *Config) { c.Party.Language = "it-IT" }, "party.language"},
		{"party logo relative", func(c *Config) { c.Party.LogoFile = "logo.png" }, "party.logo_file"},
		{"party accent name", func(c *Config) { c.Party.Accent = "red" }, "party.accent"},
		{"party accent css", func(c *Config) { c.Party.Accent = "#fff;background:url(x)" }, "party.accent"},
		{"party accent 4 digits", func(c *Config) { c.Party.Accent = "#ffff" }, "party.accent"},
		{"party time zone", func(c *Config) { c.Party.TimeZone = "Europe/Atlantis" }, "party.time_zone"},
		{"party time zone Local", func(c *Config) { c.Party.TimeZone = "Local" }, "party.time_zone"},
		{"party name control", func(c *Config) { c.Party.Name = "Party\x1b[31m" }, "party.name"},
		{"party name long", func(c *Config) { c.Party.Name = strings.Repeat("a", 101) }, "party.name"},
	}
}

// serviceCases are the cases of the listeners, storage and services.
func serviceCases() []validateCase {
	return []validateCase{

		{"mail_domains none", func(c *Config) { c.MailDomains = nil }, "mail_domains"},
		{"mail_domains empty string", func(c *Config) { c.MailDomains = []string{""} }, "mail_domains[0]"},
		{"mail_domains IP", func(c *Config) { c.MailDomains = []string{"example.org", "192.0.2.1"} }, "mail_domains[1]"},
		{"mail_domains bad name", func(c *Config) { c.MailDomains = []string{"example.org", "exa mple.net"} }, "mail_domains[1]"},
		{"mail_domains duplicate", func(c *Config) { c.MailDomains = []string{"example.org", "example.net", "Example.ORG"} }, "mail_domains[2]"},
		{"mail_domains several ok", func(c *Config) { c.MailDomains = []string{"example.org", "example.net"} }, ""},

		{"data_dir empty", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"data_dir relative", func(c *Config) { c.DataDir = "var/lib/caucus" }, "data_dir"},
		{"data_dir dot", func(c *Config) { c.DataDir = "./data" }, "data_dir"},

		{"listen.https empty", func(c *Config) { c.Listen.HTTPS = "" }, "listen.https"},
		{"listen.https no port", func(c *Config) { c.Listen.HTTPS = "0.0.0.0" }, "listen.https"},
		{"listen.http port 0", func(c *Config) { c.Listen.HTTP = ":0" }, "listen.http"},
		{"listen.imaps port too big", func(c *Config) { c.Listen.IMAPS = ":65536" }, "listen.imaps"},
		{"listen.imap port name", func(c *Config) { c.Listen.IMAP = ":imap" }, "listen.imap"},
		{"listen.smtp port negative", func(c *Config) { c.Listen.SMTP = ":-25" }, "listen.smtp"},
		{"listen.submission no colon", func(c *Config) { c.Listen.Submission = "587" }, "listen.submission"},
		{"listen.submissions IPv6 no brackets", func(c *Config) { c.Listen.Submissions = "::1:465" }, "listen.submissions"},
		{"listen.metrics bad host", func(c *Config) { c.Listen.Metrics = "local host:9225" }, "listen.metrics"},
		{"listen same port", func(c *Config) { c.Listen.IMAP = ":993" }, "listen.imap"},
		{"listen same port wildcard", func(c *Config) { c.Listen.Metrics = "127.0.0.1:443" }, "listen.metrics"},
		{"listen same port v4 v6 wildcard", func(c *Config) { c.Listen.HTTPS = "[::]:8443"; c.Listen.HTTP = "0.0.0.0:8443" }, "listen.http"},
		{"listen.http off ok", func(c *Config) { c.Listen.HTTP = "" }, ""},
		{"listen all off but https ok", func(c *Config) {
			c.Listen = Listen{HTTPS: ":443"}
		}, ""},
		{"listen IPv6 ok", func(c *Config) { c.Listen.IMAPS = "[2001:db8::1]:993"; c.Listen.Metrics = "[::1]:9225" }, ""},
		{"listen host name ok", func(c *Config) { c.Listen.Metrics = "localhost:9225" }, ""},
		{"listen same port different hosts ok", func(c *Config) {
			c.Listen.HTTPS = "192.0.2.1:443"
			c.Listen.HTTP = "192.0.2.1:80"
			c.Listen.Metrics = "127.0.0.1:443"
		}, ""},

		{"acme_contact empty", func(c *Config) { c.ACMEContact = "" }, "acme_contact"},
		{"acme_contact no at", func(c *Config) { c.ACMEContact = "admin" }, "acme_contact"},
		{"acme_contact no local", func(c *Config) { c.ACMEContact = "@example.org" }, "acme_contact"},
		{"acme_contact no domain", func(c *Config) { c.ACMEContact = "admin@" }, "acme_contact"},
		{"acme_contact display name", func(c *Config) { c.ACMEContact = "Admin <admin@example.org>" }, "acme_contact"},
		{"acme_contact space", func(c *Config) { c.ACMEContact = "ad min@example.org" }, "acme_contact"},
		{"acme_contact mailto", func(c *Config) { c.ACMEContact = "mailto:admin@example.org" }, "acme_contact"},
		{"acme_directory http", func(c *Config) { c.ACMEDirectory = "http://acme.example.org/dir" }, "acme_directory"},
		{"acme_directory empty", func(c *Config) { c.ACMEDirectory = "" }, "acme_directory"},
		{"acme_ca_file relative", func(c *Config) { c.ACMECAFile = "ca.pem" }, "acme_ca_file"},
		{"acme_contact two at", func(c *Config) { c.ACMEContact = "a@b@example.org" }, "acme_contact"},
		{"acme_contact dots", func(c *Config) { c.ACMEContact = "a..b@example.org" }, "acme_contact"},
		{"acme_contact plus ok", func(c *Config) { c.ACMEContact = "first.last+acme@example.org" }, ""},
		{"acme_contact UTF-8 ok", func(c *Config) { c.ACMEContact = "jürgen@example.org" }, ""},
		{"acme_contact with cert files ok", func(c *Config) {
			c.TLS = TLS{CertFile: "/etc/caucus/cert.pem", KeyFile: "/etc/caucus/key.pem"}
		}, ""},
		{"cert files without acme_contact ok", func(c *Config) {
			c.ACMEContact = ""
			c.TLS = TLS{CertFile: "/etc/caucus/cert.pem", KeyFile: "/etc/caucus/key.pem"}
		}, ""},
		{"tls.cert_file alone", func(c *Config) { c.ACMEContact = ""; c.TLS.CertFile = "/etc/caucus/cert.pem" }, "tls.key_file"},
		{"tls.key_file alone", func(c *Config) { c.TLS.KeyFile = "/etc/caucus/key.pem" }, "tls.cert_file"},
		{"tls.cert_file relative", func(c *Config) { c.TLS = TLS{CertFile: "cert.pem", KeyFile: "/etc/caucus/key.pem"} }, "tls.cert_file"},
		{"tls.key_file relative", func(c *Config) { c.TLS = TLS{CertFile: "/etc/caucus/cert.pem", KeyFile: "key.pem"} }, "tls.key_file"},

		{"sessions.idle_timeout zero", func(c *Config) { c.Sessions.IdleTimeout = Duration{} }, "sessions.idle_timeout"},
		{"sessions.idle_timeout negative", func(c *Config) { c.Sessions.IdleTimeout = Duration{-time.Minute} }, "sessions.idle_timeout"},
		{"sessions.absolute_timeout zero", func(c *Config) { c.Sessions.AbsoluteTimeout = Duration{} }, "sessions.absolute_timeout"},
		{"sessions.idle_timeout over absolute", func(c *Config) { c.Sessions.IdleTimeout = Duration{13 * time.Hour} }, "sessions.idle_timeout"},
		{"sessions.idle_timeout equal absolute ok", func(c *Config) { c.Sessions.IdleTimeout = Duration{12 * time.Hour} }, ""},
		{"sessions.step_up_window short", func(c *Config) { c.Sessions.StepUpWindow = Duration{59 * time.Second} }, "sessions.step_up_window"},
		{"sessions.step_up_window long", func(c *Config) { c.Sessions.StepUpWindow = Duration{time.Hour + time.Second} }, "sessions.step_up_window"},
		{"sessions.step_up_window 1m ok", func(c *Config) { c.Sessions.StepUpWindow = Duration{time.Minute} }, ""},
		{"sessions.step_up_window 1h ok", func(c *Config) { c.Sessions.StepUpWindow = Duration{time.Hour} }, ""},
		{"backup.dest relative", func(c *Config) { c.Backup.Dest, c.Backup.Recipient = "backups", "age1x" }, "backup.dest"},
		{"backup.recipient missing", func(c *Config) { c.Backup.Dest = "/mnt/backup" }, "backup.recipient"},
		{"backup ok", func(c *Config) { c.Backup.Dest, c.Backup.Recipient = "/mnt/backup", "age1x" }, ""},
		{"backup.time", func(c *Config) { c.Backup.Time = "3:30" }, "backup.time"},
		{"backup.time 24h", func(c *Config) { c.Backup.Time = "24:00" }, "backup.time"},
		{"backup.keep", func(c *Config) { c.Backup.Keep = 0 }, "backup.keep"},

		{"log.format unknown", func(c *Config) { c.Log.Format = "logfmt" }, "log.format"},
		{"log.format empty", func(c *Config) { c.Log.Format = "" }, "log.format"},
		{"log.format json ok", func(c *Config) { c.Log.Format = "json" }, ""},
		{"log.level unknown", func(c *Config) { c.Log.Level = "trace" }, "log.level"},
		{"log.level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
		{"log.level debug ok", func(c *Config) { c.Log.Level = "debug" }, ""},

		{"smtp.max_conns_per_addr zero", func(c *Config) { c.SMTP.MaxConnsPerAddr = 0 }, "smtp.max_conns_per_addr"},
		{"smtp.max_conns_per_addr too many", func(c *Config) { c.SMTP.MaxConnsPerAddr = 10001 }, "smtp.max_conns_per_addr"},
		{"smtp.max_conns_per_addr 100 ok", func(c *Config) { c.SMTP.MaxConnsPerAddr = 100 }, ""},
		{"smtp.max_message_bytes negative", func(c *Config) { c.SMTP.MaxMessageBytes = -1 }, "smtp.max_message_bytes"},
		{"smtp.max_message_bytes below RFC 5321", func(c *Config) { c.SMTP.MaxMessageBytes = 65535 }, "smtp.max_message_bytes"},
		{"smtp.max_message_bytes above 1 GiB", func(c *Config) { c.SMTP.MaxMessageBytes = 1<<30 + 1 }, "smtp.max_message_bytes"},
		{"smtp.max_message_bytes 64 KiB ok", func(c *Config) { c.SMTP.MaxMessageBytes = 65536 }, ""},
		{"smtp.max_recipients below RFC 5321", func(c *Config) { c.SMTP.MaxRecipients = 99 }, "smtp.max_recipients"},
		{"smtp.max_recipients too many", func(c *Config) { c.SMTP.MaxRecipients = 10001 }, "smtp.max_recipients"},
		{"smtp.max_recipients 1000 ok", func(c *Config) { c.SMTP.MaxRecipients = 1000 }, ""},
		{"smtp.send_per_hour zero", func(c *Config) { c.SMTP.SendPerHour = 0 }, "smtp.send_per_hour"},
		{"smtp.send_per_hour 1 ok", func(c *Config) { c.SMTP.SendPerHour = 1 }, ""},
		{"smtp.max_rcpts_per_message zero", func(c *Config) { c.SMTP.MaxRcptsPerMessage = 0 }, "smtp.max_rcpts_per_message"},
		{"smtp.max_rcpts_per_message too many", func(c *Config) { c.SMTP.MaxRcptsPerMessage = 10001 }, "smtp.max_rcpts_per_message"},
		{"smtp.max_rcpts_per_message 1 ok", func(c *Config) { c.SMTP.MaxRcptsPerMessage = 1 }, ""},

		{"policy off ok", func(c *Config) { c.Policy.AdminsNeedWebAuthn = false }, ""},
	}
}

// storageCases are the cases of [storage] and [storage.s3].
func storageCases() []validateCase {
	s3 := func(change func(*S3)) func(*Config) {
		return func(c *Config) {
			c.Storage = Storage{Blobs: "s3", S3: S3{Endpoint: "s3.eu-central-1.amazonaws.com", Region: "eu-central-1",
				Bucket: "party-blobs", AccessKey: "AKIAEXAMPLE", SecretFile: "/etc/caucus/s3-secret"}}
			change(&c.Storage.S3)
		}
	}
	return []validateCase{
		{"storage dir", func(c *Config) { c.Storage.Blobs = "dir" }, ""},
		{"database unknown", func(c *Config) { c.Storage.Database = "mysql" }, "storage.database"},
		{"postgres ok", func(c *Config) {
			c.Storage.Database = "postgres"
			c.Storage.Postgres = Postgres{DSN: "host=db.internal user=caucus dbname=caucus sslmode=verify-full", PasswordFile: "/etc/caucus/pg-password"}
		}, ""},
		{"postgres url ok", func(c *Config) {
			c.Storage.Database = "postgres"
			c.Storage.Postgres.DSN = "postgres://caucus@db.internal/caucus?sslmode=verify-full"
		}, ""},
		{"postgres no dsn", func(c *Config) { c.Storage.Database = "postgres" }, "storage.postgres.dsn"},
		{"postgres password in dsn", func(c *Config) {
			c.Storage.Database = "postgres"
			c.Storage.Postgres.DSN = "host=db user=caucus password=hunter2"
		}, "storage.postgres.dsn"},
		{"postgres password in url", func(c *Config) {
			c.Storage.Database = "postgres"
			c.Storage.Postgres.DSN = "postgres://caucus:hunter2@db/caucus"
		}, "storage.postgres.dsn"},
		{"postgres relative password file", func(c *Config) {
			c.Storage.Database = "postgres"
			c.Storage.Postgres = Postgres{DSN: "host=db", PasswordFile: "pg-password"}
		}, "storage.postgres.password_file"},
		{"storage unknown", func(c *Config) { c.Storage.Blobs = "nfs" }, "storage.blobs"},
		{"storage dir ignores s3", func(c *Config) { c.Storage.S3.Endpoint = "http://bad/" }, ""},
		{"s3 ok", s3(func(*S3) {}), ""},
		{"s3 port ok", s3(func(s *S3) { s.Endpoint = "minio.internal:9000"; s.Prefix = "caucus/node-a/" }), ""},
		{"s3 loopback http ok", s3(func(s *S3) { s.Endpoint = "127.0.0.1:8333"; s.InsecureHTTP = true }), ""},
		{"s3 http elsewhere", s3(func(s *S3) { s.Endpoint = "192.0.2.7:9000"; s.InsecureHTTP = true }), "storage.s3.insecure_http"},
		{"s3 http by name", s3(func(s *S3) { s.Endpoint = "localhost:9000"; s.InsecureHTTP = true }), "storage.s3.insecure_http"},
		{"s3 cache off", s3(func(s *S3) { s.CacheMB = -1 }), ""},
		{"s3 cache 64 MiB", s3(func(s *S3) { s.CacheMB = 64 }), ""},
		{"s3 cache negative", s3(func(s *S3) { s.CacheMB = -2 }), "storage.s3.cache_mb"},
		{"s3 cache too large", s3(func(s *S3) { s.CacheMB = 1<<20 + 1 }), "storage.s3.cache_mb"},
		{"s3 endpoint missing", s3(func(s *S3) { s.Endpoint = "" }), "storage.s3.endpoint"},
		{"s3 endpoint URL", s3(func(s *S3) { s.Endpoint = "https://s3.example.org/" }), "storage.s3.endpoint"},
		{"s3 endpoint port", s3(func(s *S3) { s.Endpoint = "s3.example.org:0" }), "storage.s3.endpoint"},
		{"s3 bucket missing", s3(func(s *S3) { s.Bucket = "" }), "storage.s3.bucket"},
		{"s3 bucket upper", s3(func(s *S3) { s.Bucket = "Party" }), "storage.s3.bucket"},
		{"s3 bucket dots", s3(func(s *S3) { s.Bucket = "a..b" }), "storage.s3.bucket"},
		{"s3 prefix no slash", s3(func(s *S3) { s.Prefix = "caucus" }), "storage.s3.prefix"},
		{"s3 prefix leading slash", s3(func(s *S3) { s.Prefix = "/caucus/" }), "storage.s3.prefix"},
		{"s3 prefix dot dot ok", s3(func(s *S3) { s.Prefix = "a..b/" }), ""},
		{"s3 access key missing", s3(func(s *S3) { s.AccessKey = "" }), "storage.s3.access_key"},
		{"s3 access key space", s3(func(s *S3) { s.AccessKey = "AKIA EXAMPLE" }), "storage.s3.access_key"},
		{"s3 secret relative", s3(func(s *S3) { s.SecretFile = "s3-secret" }), "storage.s3.secret_file"},
		{"s3 key relative", s3(func(s *S3) { s.KeyFile = "blob.key" }), "storage.s3.key_file"},
		{"s3 key absolute ok", s3(func(s *S3) { s.KeyFile = "/etc/caucus/blob.key" }), ""},
		{"s3 ca relative", s3(func(s *S3) { s.CAFile = "ca.pem" }), "storage.s3.ca_file"},
		{"s3 ca absolute ok", s3(func(s *S3) { s.CAFile = "/etc/caucus/s3-ca.pem" }), ""},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range append(append(nameCases(), serviceCases()...), storageCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error about %s", tc.key)
			}
			if !strings.Contains(err.Error(), "config: "+tc.key+":") {
				t.Errorf("Validate = %q, want an error naming %s", err, tc.key)
			}
		})
	}
}

// TestValidateAll checks that Validate reports every problem, not the first.
func TestValidateAll(t *testing.T) {
	t.Parallel()
	c := valid()
	c.Hostname = "192.0.2.1"
	c.DataDir = "data"
	c.Listen.IMAP = "143"
	c.Sessions.StepUpWindow = Duration{}
	c.Log.Level = "loud"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Errorf("Validate = %q, want 5 joined errors", err)
	}
	for _, key := range []string{"hostname", "data_dir", "listen.imap", "sessions.step_up_window", "log.level"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("Validate = %q, does not name %s", err, key)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := Template("mail.example-party.org", "example-party.org", "/var/lib/caucus", "admin@example-party.org")

	path := filepath.Join(dir, "caucus.toml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Hostname != "mail.example-party.org" {
		t.Errorf("Load: hostname %q", c.Hostname)
	}

	// Exactly MaxSize is accepted; one byte more is not.
	pad := func(n int) []byte {
		b := append([]byte(nil), data...)
		b = append(b, '#')
		b = append(b, bytes.Repeat([]byte{'x'}, n-len(b)-1)...)
		return append(b, '\n')
	}
	atMax := filepath.Join(dir, "max.toml")
	if err := os.WriteFile(atMax, pad(MaxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(atMax); err != nil {
		t.Errorf("Load of a %d-byte file: %v", MaxSize, err)
	}
	tooBig := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(tooBig, pad(MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(tooBig); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Load of a %d-byte file = %v, want ErrTooLarge", MaxSize+1, err)
	}
	if _, err := Parse(pad(MaxSize + 1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse of %d bytes = %v, want ErrTooLarge", MaxSize+1, err)
	}

	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want fs.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("hostname = \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "config: hostname:") {
		t.Errorf("Load of an invalid file = %v, want an error naming the file and the key", err)
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		text string
	}{
		{30 * time.Minute, "30m"},
		{12 * time.Hour, "12h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{90 * time.Second, "1m30s"},
		{45 * time.Second, "45s"},
		{0, "0s"},
		{-5 * time.Minute, "-5m"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		text, err := Duration{tc.d}.MarshalText()
		if err != nil || string(text) != tc.text {
			t.Errorf("Duration{%v}.MarshalText() = %q, %v, want %q", tc.d, text, err, tc.text)
		}
		var d Duration
		if err := d.UnmarshalText(text); err != nil || d.Duration != tc.d {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v", text, d.Duration, err, tc.d)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("5 minutes")); err == nil {
		t.Error("UnmarshalText(\"5 minutes\") = nil")
	}
}

// TestParseDeepKeys checks that input with very deep keys, which the TOML
// decoder would take minutes over, is refused before it is decoded, and that
// dots and brackets inside strings and comments do not count.
func TestParseDeepKeys(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		"a = " + strings.Repeat("{b = ", 30000),
		"a = " + strings.Repeat("{b = ", 30000) + "1" + strings.Repeat("}", 30000),
		"a = " + strings.Repeat("[{b = ", 30000),
		strings.Repeat("x.", 30000) + "y = 1",
		"[" + strings.Repeat("x.", 30000) + "y]",
		"[[" + strings.Repeat("x.", 30000) + "y]]",
		`a = "unterminated` + "\n" + strings.Repeat("x.", 30000) + "y = 1",
		`a = '''\''' b = 1` + "\n" + strings.Repeat("x.", 30000) + "y = 1",
		`a = """\""""` + "\n" + strings.Repeat("x.", 30000) + "y = 1",
	} {
		_, err := Parse([]byte(data))
		if err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("Parse(%.30q…) = %v, want an error", data, err)
		}
	}

	many := strings.Repeat("a.b[c]{d}", 100)
	data := "# " + many + "\n" +
		`hostname = "mail.example.org" # ` + many + "\n" +
		`mail_domains = ["example.org", "` + many + `", 'x.y\'` + ", \"" + many + `\"` + many + `"]` + "\n" +
		`data_dir = """` + many + "\n\\\n" + many + `\"""` + `"""` + "\n" +
		`acme_contact = '''` + many + "\n" + many + `''''` + "\n" +
		"[log] # " + many + "\n" +
		`level = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s"` + "\n"
	if _, err := decode([]byte(data)); err != nil {
		t.Errorf("decode of dots and brackets in strings and comments: %v\n%s", err, data)
	}
}

// TestUnknownKeyMany checks that an error names at most a few unknown keys.
func TestUnknownKeyMany(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("[t]\n")
	for i := range 50000 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err := Parse([]byte(b.String()))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Parse = %v, want ErrUnknownKey", err)
	}
	if msg := err.Error(); msg != "config: unknown key: t" {
		t.Errorf("Parse = %q, want only the table named", msg)
	}
	b.Reset()
	for i := range 50000 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err = Parse([]byte(b.String()))
	if !errors.Is(err, ErrUnknownKey) || !strings.HasSuffix(err.Error(), "k9 and 49990 more") {
		t.Errorf("Parse = %.200v, want 10 keys named and 49990 more", err)
	}
}

// TestPartyName: the party's name, else its primary mail domain.
func TestPartyName(t *testing.T) {
	t.Parallel()
	c := valid()
	if got := c.PartyName(); got != "example-party.org" {
		t.Errorf("PartyName without a name = %q", got)
	}
	c.Party.Name = "Partito Esempio"
	if got := c.PartyName(); got != "Partito Esempio" {
		t.Errorf("PartyName = %q", got)
	}
	c.Party.TimeZone = "Europe/Rome"
	if got := c.Location().String(); got != "Europe/Rome" {
		t.Errorf("Location = %q", got)
	}
}

// TestOfficerKeyModels: the officers' key models must be AAGUIDs.
func TestOfficerKeyModels(t *testing.T) {
	t.Parallel()
	c := Dev(t.TempDir())
	c.Policy.OfficerKeyModels = []string{"cb69481e-8ff7-4039-93ec-0a2729a154a8"}
	if err := c.Validate(); err != nil {
		t.Errorf("an AAGUID refused: %v", err)
	}
	for _, bad := range []string{"yubikey", "cb69481e8ff7403993ec0a2729a154a8", "cb69481e-8ff7-4039-93ec-0a2729a154ax", ""} {
		c.Policy.OfficerKeyModels = []string{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "officer_key_models[0]") {
			t.Errorf("%q: %v, want a problem of officer_key_models[0]", bad, err)
		}
	}
}
