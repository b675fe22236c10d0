// Package dnsrec says which DNS records a caucus installation needs, and
// serves the MTA-STS policy they announce: MX (RFC 5321 5.1), SPF (RFC
// 7208), DKIM (RFC 6376, RFC 8463), DMARC at p=reject (RFC 7489), MTA-STS
// (RFC 8461), TLS-RPT (RFC 8460), and the names mail apps look up for
// their settings. `caucus dns` prints them; the admin console checks them.
package dnsrec

import (
	"fmt"
	"strings"
)

// Record is one DNS record to publish.
type Record struct {
	Name  string // fully qualified, with the trailing dot
	Type  string // MX, TXT, CNAME
	Value string // as in a zone file (TXT values quoted and split)
	Why   string // one line for the admin
}

// DKIMKey is a DKIM public key to publish (mail/msgauth's keys).
type DKIMKey interface {
	DNSRecord() (name, value string)
}

// MTASTSID identifies the MTA-STS policy version; it changes when the
// policy does (here: when the mail host changes).
func MTASTSID(hostname string) string {
	var h uint32 = 2166136261
	for _, c := range []byte(strings.ToLower(hostname) + "|enforce|604800") {
		h = (h ^ uint32(c)) * 16777619 // FNV-1a
	}
	return fmt.Sprintf("caucus%08x", h)
}

// MTASTSPolicy is the policy file served at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.2): mail
// to the party must arrive over verified TLS at this host.
func MTASTSPolicy(hostname string) string {
	return "version: STSv1\r\nmode: enforce\r\nmx: " + strings.ToLower(hostname) + "\r\nmax_age: 604800\r\n"
}

func fqdn(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") + "." }

// txt quotes a TXT value, split into strings of at most 255 bytes.
func txt(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}

// Records lists what to publish for the host and the party's domains.
func Records(hostname string, domains []string, keys map[string][]DKIMKey) []Record {
	host := fqdn(hostname)
	var out []Record
	for _, d := range domains {
		d = fqdn(d)
		bare := strings.TrimSuffix(d, ".")
		out = append(out,
			Record{d, "MX", "10 " + host, "mail for the party goes to this server"},
			Record{d, "TXT", txt("v=spf1 mx -all"), "SPF: only this server sends the party's mail"},
		)
		for _, k := range keys[bare] {
			name, value := k.DNSRecord()
			out = append(out, Record{fqdn(name), "TXT", txt(value), "DKIM: receivers check this server's signatures"})
		}
		out = append(out,
			Record{"_dmarc." + d, "TXT", txt("v=DMARC1; p=reject; adkim=s; aspf=s; rua=mailto:postmaster@" + bare), "DMARC p=reject: forged mail in the party's name is refused"},
			Record{"_mta-sts." + d, "TXT", txt("v=STSv1; id=" + MTASTSID(hostname)), "MTA-STS: mail to the party only over verified TLS"},
			Record{"mta-sts." + d, "CNAME", host, "serves the MTA-STS policy (needs a certificate for this name)"},
			Record{"_smtp._tls." + d, "TXT", txt("v=TLSRPTv1; rua=mailto:postmaster@" + bare), "TLS-RPT: receivers report TLS failures"},
			Record{"autoconfig." + d, "CNAME", host, "Thunderbird and K-9 find the mail settings"},
			Record{"_autodiscover._tcp." + d, "SRV", "0 0 443 " + host, "Outlook finds the mail settings"},
		)
	}
	return out
}

// Zone formats records as zone-file lines with comments.
func Zone(records []Record) string {
	var b strings.Builder
	for _, r := range records {
		fmt.Fprintf(&b, "; %s\n%s\t3600\tIN\t%s\t%s\n", r.Why, r.Name, r.Type, r.Value)
	}
	return b.String()
}
