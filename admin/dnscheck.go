package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/dnsrec"
)

// DNSCheck is the outcome of checking one record caucus needs.
type DNSCheck struct {
	Want    dnsrec.Record
	OK      bool
	Found   string // what DNS answered, for the admin
	Fix     string // what to do when not OK, in English
	Advice  Words  // Fix in any language
	Purpose Words  // what the record is for (Want.Why in any language)
}

// purpose says what a record is for, by its kind.
func purpose(w dnsrec.Record) Words {
	v := txtValue(w.Value)
	switch {
	case w.Type == "MX":
		return say(i18n.Key("admin.dns.why_mx"))
	case strings.HasPrefix(v, "v=spf1"):
		return say(i18n.Key("admin.dns.why_spf"))
	case strings.HasPrefix(v, "v=DKIM1"):
		return say(i18n.Key("admin.dns.why_dkim"))
	case strings.HasPrefix(v, "v=DMARC1"):
		return say(i18n.Key("admin.dns.why_dmarc"))
	case strings.HasPrefix(v, "v=STSv1"):
		return say(i18n.Key("admin.dns.why_mtasts"))
	case strings.HasPrefix(v, "v=TLSRPTv1"):
		return say(i18n.Key("admin.dns.why_tlsrpt"))
	}
	return say(i18n.Key("admin.dns.why_other"), "why", w.Why)
}

// advise sets the check's advice and its English text.
func (c *DNSCheck) advise(w Words) {
	c.Advice, c.Fix = w, w.English()
}

// dnsTimeout bounds each lookup of the DNS checks.
const dnsTimeout = 5 * time.Second

// CheckDNS looks up each record that mail/dnsrec says should be published
// and says whether it is there: MX (RFC 5321 section 5.1), SPF (RFC 7208),
// DKIM (RFC 6376), DMARC with p=reject (RFC 7489 section 6.3), MTA-STS
// (RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3). Records the
// resolver cannot look up (CNAME, SRV) are not listed.
func CheckDNS(ctx context.Context, r dns.Resolver, want []dnsrec.Record) []DNSCheck {
	var out []DNSCheck
	for _, w := range want {
		switch w.Type {
		case "MX":
			out = append(out, checkMX(ctx, r, w))
		case "TXT":
			out = append(out, checkTXT(ctx, r, w))
		}
	}
	return out
}

func checkMX(ctx context.Context, r dns.Resolver, w dnsrec.Record) DNSCheck {
	c := DNSCheck{Want: w, Purpose: purpose(w)}
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	mxs, err := r.LookupMX(ctx, w.Name)
	host := w.Value[strings.LastIndexByte(w.Value, ' ')+1:]
	var found []string
	for _, mx := range mxs {
		found = append(found, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
		if strings.EqualFold(strings.TrimSuffix(mx.Host, "."), strings.TrimSuffix(host, ".")) {
			c.OK = true
		}
	}
	c.Found = strings.Join(found, ", ")
	if !c.OK {
		c.advise(fixText(err, w))
	}
	return c
}

// txtValue turns a zone-file TXT value ("a" "b") into the string DNS
// returns.
func txtValue(zone string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(zone); i++ {
		switch ch := zone[i]; {
		case ch == '"':
			in = !in
		case ch == '\\' && in && i+1 < len(zone):
			i++
			b.WriteByte(zone[i])
		case in:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func checkTXT(ctx context.Context, r dns.Resolver, w dnsrec.Record) DNSCheck {
	c := DNSCheck{Want: w, Purpose: purpose(w)}
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	txts, err := r.LookupTXT(ctx, w.Name)
	want := txtValue(w.Value)
	tag := want
	if i := strings.IndexByte(want, ';'); i >= 0 {
		tag = want[:i]
	} else if i := strings.IndexByte(want, ' '); i >= 0 {
		tag = want[:i]
	}
	var same []string // records of the same kind (v=spf1, v=DMARC1, …)
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(t), strings.ToLower(tag)) {
			same = append(same, t)
		}
	}
	c.Found = strings.Join(same, " | ")
	switch {
	case strings.HasPrefix(want, "v=DMARC1"):
		// Any DMARC record at p=reject will do; rua and alignment may differ.
		c.OK = len(same) == 1 && slices.Contains(tags(same[0]), "p=reject")
		if len(same) == 1 && !c.OK {
			c.advise(say(i18n.Key("admin.dns.dmarc_reject"), "value", w.Value))
			return c
		}
	case strings.HasPrefix(want, "v=spf1"):
		c.OK = len(same) == 1 && strings.Join(strings.Fields(same[0]), " ") == want
		if len(same) > 1 {
			c.advise(say(i18n.Key("admin.dns.spf_one"), "value", w.Value))
			return c
		}
	default:
		c.OK = slices.Contains(same, want)
	}
	if !c.OK {
		c.advise(fixText(err, w))
	}
	return c
}

func tags(rec string) []string {
	var out []string
	for _, t := range strings.Split(rec, ";") {
		out = append(out, strings.ToLower(strings.ReplaceAll(strings.TrimSpace(t), " ", "")))
	}
	return out
}

func fixText(err error, w dnsrec.Record) Words {
	if err != nil && !dns.IsNotFound(err) {
		return say(i18n.Key("admin.dns.lookup_failed"), "why", err.Error(), "name", w.Name, "type", w.Type, "value", w.Value)
	}
	return say(i18n.Key("admin.dns.publish"), "name", w.Name, "type", w.Type, "value", w.Value)
}
