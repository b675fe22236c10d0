package config

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"
)

// Template returns a complete configuration file, every key explained in a
// comment above it, for `caucus init` to write. It sets hostname,
// mail_domains (with domain alone), data_dir and acme_contact to the values
// given and every other key to its default; [Parse] of the result gives back
// exactly those values. The values are written as TOML strings whatever they
// hold (invalid UTF-8 becomes U+FFFD); whether they are valid is for
// [Config.Validate] to say.
func Template(hostname, domain, dataDir, acmeContact string) []byte {
	c := Default()
	c.Hostname = hostname
	c.MailDomains = []string{domain}
	c.DataDir = dataDir
	c.ACMEContact = acmeContact
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, c); err != nil {
		// The template and its data are fixed; this is a programming error.
		panic(fmt.Sprintf("config: template: %v", err))
	}
	return b.Bytes()
}

// configTemplate is the text of Template. Keep a comment above every key,
// and keep the defaults in Default, not here.
var configTemplate = template.Must(template.New("caucus.toml").Funcs(template.FuncMap{
	"q": quote,
	"list": func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	},
	"dur": func(d Duration) string {
		text, _ := d.MarshalText()
		return quote(string(text))
	},
}).Parse(`# caucus configuration (TOML, https://toml.io/en/v1.0.0).
#
# Written by "caucus init". Lines starting with # are comments. A key that is
# left out takes its default; a key caucus does not know is refused, so a typo
# is reported rather than ignored. Durations are strings such as "90s", "30m",
# "12h" or "1h30m". Restart caucus to apply a change.

# The public name of this server. Web browsers, phones' mail apps (IMAP and
# SMTP) and other mail servers reach caucus under this name, and the TLS
# certificate is issued for it. Its DNS A/AAAA records must point here.
hostname = {{q .Hostname}}

# The domains caucus receives and sends mail for; addresses are
# name@domain. The first is the primary domain. Each needs an MX record
# pointing at hostname.
# Example: mail_domains = ["example-party.org", "example-youth.org"]
mail_domains = {{list .MailDomains}}

# Where caucus keeps its data: the SQLite database, message bodies and files,
# and the DKIM and TLS keys. Must be an absolute path. Back it up.
data_dir = {{q .DataDir}}

# The e-mail address given to Let's Encrypt (ACME) when caucus obtains the
# TLS certificate for hostname; it is told when a certificate is about to
# expire. Leave empty only when [tls] below names a certificate instead.
acme_contact = {{q .ACMEContact}}
# The ACME server that issues the certificate; Let's Encrypt by default.
acme_directory = {{q .ACMEDirectory}}
# PEM certificates that verify the ACME server's HTTPS, only for a private
# ACME CA; empty uses the system's roots.
acme_ca_file = {{q .ACMECAFile}}

# Addresses caucus listens on, as "host:port". A host left out, as in
# ":993", means every address of this machine. An empty string ("") turns
# that listener off; https cannot be turned off.
[listen]
# The web pages (login, files, admin console) and WebDAV.
https = {{q .Listen.HTTPS}}
# Plain HTTP: answers Let's Encrypt's (ACME) HTTP challenges and redirects
# everything else to https.
http = {{q .Listen.HTTP}}
# IMAP over TLS, for phones' and desktops' mail apps (RFC 8314).
imaps = {{q .Listen.IMAPS}}
# IMAP with STARTTLS, for mail apps that do not use imaps. Logins are
# accepted only after STARTTLS.
imap = {{q .Listen.IMAP}}
# SMTP from other mail servers: incoming mail for mail_domains. Other
# servers always use port 25.
smtp = {{q .Listen.SMTP}}
# Message submission with STARTTLS, for mail apps sending mail (RFC 6409).
submission = {{q .Listen.Submission}}
# Message submission over TLS, for mail apps sending mail (RFC 8314).
submissions = {{q .Listen.Submissions}}
# Prometheus metrics and GET /healthz for monitors. Keep it on
# 127.0.0.1 or a private network.
metrics = {{q .Listen.Metrics}}

# A certificate of your own, instead of one from Let's Encrypt. Set both
# files, in PEM, as absolute paths, or neither.
[tls]
# The certificate chain for hostname, leaf certificate first.
cert_file = {{q .TLS.CertFile}}
# The private key of that certificate; keep it readable by caucus only.
key_file = {{q .TLS.KeyFile}}

# How long a web login lasts.
[sessions]
# Log out a browser that has not been used for this long.
idle_timeout = {{dur .Sessions.IdleTimeout}}
# Log out every browser this long after it logged in, however active; must
# not be shorter than idle_timeout.
absolute_timeout = {{dur .Sessions.AbsoluteTimeout}}
# Sensitive actions, such as admin work or changing one's own sign-in
# methods, ask for the security key or code again unless it was checked
# within this long. Between "1m" and "1h".
step_up_window = {{dur .Sessions.StepUpWindow}}

[policy]
# true: an account gets admin rights only with a security key or passkey
# (WebAuthn), which phishing cannot steal; a code app (TOTP) is not enough.
# false: a code app is enough for admins to sign in; every action in the
# admin console still asks for a fresh passkey or security key.
admins_need_webauthn = {{.Policy.AdminsNeedWebAuthn}}
# Officers (role "officer": treasurer, leader, spokespeople) enrol with two
# passkeys or security keys. To allow only the models the party bought,
# list their AAGUIDs (the vendor publishes them), e.g.
# ["cb69481e-8ff7-4039-93ec-0a2729a154a8"]. Empty: any key.
officer_key_models = {{list .Policy.OfficerKeyModels}}

[log]
# "text" for people reading the journal, "json" for a log collector.
format = {{q .Log.Format}}
# The least important messages written: "debug", "info", "warn" or "error".
level = {{q .Log.Level}}

# The daily backup: the database, every message body and file, and the keys,
# encrypted with age (https://age-encryption.org) to a public key whose
# private key you keep OFF this server (make one with "age-keygen -o
# backup-identity.txt"; it prints the public key). Only new message bodies and
# files are copied each day. "caucus backup verify" checks a backup and
# "caucus restore" brings one back; see the README.
[backup]
# The directory backups go to, e.g. "/var/backups/caucus" with another disk
# or a network share mounted there. Empty: no daily backup.
dest = {{q .Backup.Dest}}
# The age public key ("age1…") backups are encrypted to.
recipient = {{q .Backup.Recipient}}
# When the daily backup runs, as local time "HH:MM".
time = {{q .Backup.Time}}
# How many backups are kept; older ones, and the files only they need, are
# deleted.
keep = {{.Backup.Keep}}
# Limits of the SMTP servers: the MX that receives mail from the internet
# and the submission ports that members send through.
[smtp]
# Connections one IP address may hold open to the SMTP ports at a time; more
# are refused with 421 "try again later". Raise it for a mail relay or a
# load test that sends from one address.
max_conns_per_addr = {{.SMTP.MaxConnsPerAddr}}
# The largest message accepted, in bytes (at least 65536).
max_message_bytes = {{.SMTP.MaxMessageBytes}}
# Recipients of one message arriving on the MX (at least 100).
max_recipients = {{.SMTP.MaxRecipients}}
# Messages one account may submit per hour; this slows down a taken-over
# account sending spam.
send_per_hour = {{.SMTP.SendPerHour}}
# Recipients of one message an account submits.
max_rcpts_per_message = {{.SMTP.MaxRcptsPerMessage}}
# Copies of mailing lists' posts delivered per second, to all domains: a
# 20,000-address mailing goes out at this pace, after the members' own mail.
list_per_second = {{.SMTP.ListPerSecond}}
# The same to any one domain, so that receivers do not take the party for a
# spammer.
list_per_domain_per_second = {{.SMTP.ListPerDomainPerSecond}}
[files]
# How many versions of each file are kept, so that an older one can be
# restored.
versions = {{.Files.Versions}}
# How long deleted files stay in the trash before they are gone for good.
trash_retention = {{dur .Files.TrashRetention}}
# Storage per account and per group, in MiB, unless an admin sets another;
# 0 means unlimited.
default_quota_mb = {{.Files.DefaultQuotaMB}}
# When a public link expires unless its maker chooses.
default_link_lifetime = {{dur .Files.DefaultLinkLifetime}}
# The longest a public link may live; nobody can choose a later expiry.
max_link_lifetime = {{dur .Files.MaxLinkLifetime}}

# The party's own name, look and language, shown on the sign-in page, on the
# pages of public links and file drops, and in mail caucus sends.
[party]
# The party's name, e.g. "Partito Esempio". Empty: the first mail domain.
name = {{q .Party.Name}}
# The language of pages and mail for people who chose none and whose browser
# asks for none caucus has: "en", "it", "fr", "de" or "es". Each member can
# choose their own on their account page.
language = {{q .Party.Language}}
# The party's logo: a PNG, JPEG, GIF or WebP file of at most 512 KiB, as an
# absolute path. Empty: no logo.
logo_file = {{q .Party.LogoFile}}
# The colour of the page header and buttons, like "#a4161a". Empty: caucus's
# dark blue.
accent = {{q .Party.Accent}}
# The time zone dates and times are shown in, like "Europe/Rome". Empty: the
# server's own.
time_zone = {{q .Party.TimeZone}}

# Where caucus keeps its data: the database (accounts, folders, message
# and file records, the audit log) and the blobs (message bodies, file
# contents).
[storage]
# "sqlite": one database file in data_dir (the default, for one server).
# "postgres": a PostgreSQL database, below, for a party that runs caucus on
# several machines.
database = {{q .Storage.Database}}
# "dir": in data_dir/blobs on this machine (the default, for one server).
# "s3": in an S3-compatible object store (Amazon S3, MinIO, SeaweedFS, Ceph,
# Garage …), below, for a party that runs caucus on several machines. They
# are encrypted there with a key caucus holds, so whoever runs the object
# store cannot read them.
blobs = {{q .Storage.Blobs}}

# The PostgreSQL database, used when database = "postgres". It must exist
# and belong to the user caucus signs in as; caucus makes its tables.
[storage.postgres]
# The connection string without the password, e.g. "host=db.internal
# port=5432 user=caucus dbname=caucus sslmode=verify-full
# sslrootcert=/etc/caucus/pg-ca.pem".
dsn = {{q .Storage.Postgres.DSN}}
# The file, readable by caucus alone, holding the password. Empty: none.
password_file = {{q .Storage.Postgres.PasswordFile}}

# The object store, used when blobs = "s3".
[storage.s3]
# The store's host or host:port, without https://, e.g.
# "s3.eu-central-1.amazonaws.com".
endpoint = {{q .Storage.S3.Endpoint}}
# The bucket's region, e.g. "eu-central-1". Empty: caucus asks the store.
region = {{q .Storage.S3.Region}}
# The bucket, which must exist; caucus needs to read, write, list and
# delete in it.
bucket = {{q .Storage.S3.Bucket}}
# What every key caucus writes begins with, e.g. "caucus/", if the bucket
# holds other things too. Empty: none.
prefix = {{q .Storage.S3.Prefix}}
# The access key id.
access_key = {{q .Storage.S3.AccessKey}}
# The file, readable by caucus alone, holding the secret access key.
secret_file = {{q .Storage.S3.SecretFile}}
# The file holding the key the blobs are encrypted with (32 bytes). Empty:
# data_dir/keys/blob.key, made on first start. Every caucus machine of the
# party needs the same file, and your backups must keep it: without it
# nothing in the object store can be read.
key_file = {{q .Storage.S3.KeyFile}}
# PEM certificates that verify the store's HTTPS certificate, if a private
# CA issued it, as an absolute path. Empty: the system's roots.
ca_file = {{q .Storage.S3.CAFile}}
# Plain HTTP instead of HTTPS, only for a store on this same machine
# (127.0.0.1).
insecure_http = {{.Storage.S3.InsecureHTTP}}
# The size, in MiB, of this machine's cache of the store's objects on its
# own disk (data_dir/s3cache; encrypted as in the store): what was read or
# stored lately is read again without asking the store, and so are small
# files (kept in the database) that no longer fit in memory. 0: 1024;
# -1: none.
cache_mb = {{.Storage.S3.CacheMB}}
`))

// quote returns s as a TOML basic string (TOML v1.0.0, "String").
func quote(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
