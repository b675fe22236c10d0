package admin

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/dnsrec"
)

func TestCheckDNS(t *testing.T) {
	t.Parallel()
	want := dnsrec.Records("mail.example.org", []string{"example.org"}, nil)
	good := &dns.Mock{
		MX: map[string][]*net.MX{"example.org": {{Host: "mail.example.org.", Pref: 10}}},
		TXT: map[string][]string{
			"example.org":            {"v=spf1 mx -all", "google-site-verification=x"},
			"_dmarc.example.org":     {"v=DMARC1; p=reject; rua=mailto:someone@example.net"}, // another rua is fine
			"_smtp._tls.example.org": {"v=TLSRPTv1; rua=mailto:postmaster@example.org"},
			"_mta-sts.example.org":   {"v=STSv1; id=" + dnsrec.MTASTSID("mail.example.org")},
		},
	}
	checks := CheckDNS(context.Background(), good, want)
	if len(checks) != 5 {
		t.Fatalf("%d checks, want MX, SPF, DMARC, MTA-STS, TLS-RPT: %+v", len(checks), checks)
	}
	for _, c := range checks {
		if !c.OK {
			t.Errorf("%s %s: not OK (found %q): %s", c.Want.Type, c.Want.Name, c.Found, c.Fix)
		}
	}
	bad := &dns.Mock{
		MX: map[string][]*net.MX{"example.org": {{Host: "mx.elsewhere.example.", Pref: 10}}},
		TXT: map[string][]string{
			"example.org":        {"v=spf1 mx -all", "v=spf1 include:elsewhere.example -all"},
			"_dmarc.example.org": {"v=DMARC1; p=none"},
		},
		Fail: map[string]error{"_smtp._tls.example.org": &net.DNSError{Err: "server misbehaving", IsTemporary: true}},
	}
	fixes := map[string]string{}
	for _, c := range CheckDNS(context.Background(), bad, want) {
		if c.OK {
			t.Errorf("%s %s OK with %q", c.Want.Type, c.Want.Name, c.Found)
		}
		fixes[c.Want.Name+" "+c.Want.Type] = c.Fix
	}
	for key, want := range map[string]string{
		"example.org. MX":             "Publish example.org. MX 10 mail.example.org.",
		"example.org. TXT":            "exactly one SPF record",
		"_dmarc.example.org. TXT":     "does not say p=reject",
		"_smtp._tls.example.org. TXT": "The lookup failed",
		"_mta-sts.example.org. TXT":   "Publish _mta-sts.example.org. TXT",
	} {
		if !strings.Contains(fixes[key], want) {
			t.Errorf("fix for %s: %q, want it to say %q", key, fixes[key], want)
		}
	}
}

func FuzzTXTValue(f *testing.F) {
	f.Add(`"v=spf1 mx -all"`)
	f.Add(`"v=DKIM1; k=rsa; p=abc" "def"`)
	f.Add(`"a\"b\\c`)
	f.Fuzz(func(t *testing.T, zone string) {
		v := txtValue(zone)
		if len(v) > len(zone) {
			t.Fatalf("%q grew to %q", zone, v)
		}
		// A plain value, quoted, comes back as it was.
		if !strings.ContainsAny(zone, `"\`) {
			if got := txtValue(`"` + zone + `"`); got != zone {
				t.Fatalf("%q: got %q", zone, got)
			}
		}
	})
}
