package msgauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/caucus-org/caucus/internal/dns"
)

var errTimeout = errors.New("i/o timeout")

func TestSPF(t *testing.T) {
	t.Parallel()
	m := &dns.Mock{
		TXT: map[string][]string{
			"example.org":     {"v=spf1 ip4:192.0.2.1 a:out.example.net -all"},
			"soft.example":    {"v=spf1 ip4:192.0.2.1 ~all"},
			"neutral.example": {"v=spf1 ?all"},
			"bad.example":     {"v=spf1 frobnicate:x -all"},
			"two.example":     {"v=spf1 -all", "v=spf1 +all"},
			"mx.example.org":  {"v=spf1 ip4:192.0.2.1 -all"},
			"incl.example":    {"v=spf1 include:broken.example -all"},
		},
		IP: map[string][]net.IPAddr{
			"out.example.net": {{IP: net.ParseIP("203.0.113.5")}},
		},
		Fail: map[string]error{"broken.example": errTimeout},
	}
	for _, tc := range []struct {
		name, ip, helo, mailFrom string
		want, domain             string
		prop                     string // expected in Authentication-Results
	}{
		{"pass ip4", "192.0.2.1", "mx.example.org", "anna@example.org", "pass", "example.org", "spf=pass smtp.mailfrom=example.org"},
		{"pass a", "203.0.113.5", "out.example.net", "anna@example.org", "pass", "example.org", "spf=pass smtp.mailfrom=example.org"},
		{"fail", "198.51.100.9", "mx.evil.example", "anna@example.org", "fail", "example.org", "spf=fail smtp.mailfrom=example.org"},
		{"softfail", "198.51.100.9", "mx.evil.example", "x@soft.example", "softfail", "soft.example", "spf=softfail"},
		{"neutral", "198.51.100.9", "mx.evil.example", "x@neutral.example", "neutral", "neutral.example", "spf=neutral"},
		{"none", "198.51.100.9", "mx.evil.example", "x@nothing.example", "none", "nothing.example", "spf=none smtp.mailfrom=nothing.example"},
		{"temperror", "198.51.100.9", "mx.evil.example", "x@broken.example", "temperror", "broken.example", "spf=temperror"},
		{"temperror in include", "198.51.100.9", "mx.evil.example", "x@incl.example", "temperror", "incl.example", "spf=temperror"},
		{"permerror syntax", "198.51.100.9", "mx.evil.example", "x@bad.example", "permerror", "bad.example", "spf=permerror"},
		{"permerror two records", "198.51.100.9", "mx.evil.example", "x@two.example", "permerror", "two.example", "spf=permerror"},
		{"bounce uses HELO", "192.0.2.1", "mx.example.org", "", "pass", "mx.example.org", "spf=pass smtp.helo=mx.example.org"},
		{"bounce, HELO fails", "198.51.100.9", "mx.example.org", "", "fail", "mx.example.org", "spf=fail smtp.helo=mx.example.org"},
		{"bounce, HELO address literal", "192.0.2.1", "[192.0.2.1]", "", "none", "", "spf=none;"},
		{"single-label domain", "192.0.2.1", "mx.example.org", "root@localhost", "none", "", "spf=none;"},
		{"mixed case and brackets", "192.0.2.1", "mx.example.org", "<Anna@Example.ORG>", "pass", "example.org", "spf=pass smtp.mailfrom=example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, m, tc.ip, tc.helo, tc.mailFrom, testMessage("Anna <anna@example.org>"))
			if res.SPF != tc.want || res.SPFDomain != tc.domain {
				t.Errorf("SPF %s for %q, want %s for %q", res.SPF, res.SPFDomain, tc.want, tc.domain)
			}
			if !strings.Contains(res.AuthResults, tc.prop) {
				t.Errorf("Authentication-Results lacks %q:\n%s", tc.prop, res.AuthResults)
			}
		})
	}
}

func TestDKIM(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	m := &dns.Mock{Fail: map[string]error{"c2026e._domainkey.slow.example": errTimeout}}
	publish(m, keys...)
	msg := testMessage("Anna <anna@example.org>")
	signed := sign(t, msg, keys...)

	slowKeys := testKeys(t, "slow.example")
	unpublished := testKeys(t, "nokey.example")
	many := make([]DKIMKey, 7)
	for i := range many {
		many[i] = testKeys(t, "example.org")[0]
		many[i].Selector = string(rune('a'+i)) + "sel"
		publish(m, many[i])
	}
	lfMsg := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))

	for _, tc := range []struct {
		name string
		msg  []byte
		want string // dkimSummary
	}{
		{"ed25519 and rsa pass", signed, "example.org/c2026e=pass example.org/c2026r=pass"},
		{"ed25519 alone", sign(t, msg, keys[0]), "example.org/c2026e=pass"},
		{"rsa alone", sign(t, msg, keys[1]), "example.org/c2026r=pass"},
		{"signed with LF line endings", sign(t, lfMsg, keys...), "example.org/c2026e=pass example.org/c2026r=pass"},
		{"body modified", bytes.Replace(signed, []byte("See you there."), []byte("See you later."), 1), "example.org/c2026e=fail example.org/c2026r=fail"},
		{"subject modified", bytes.Replace(signed, []byte("Thursday"), []byte("Friday"), 1), "example.org/c2026e=fail example.org/c2026r=fail"},
		{"relaxed canonicalization survives rewrapping", bytes.Replace(signed, []byte("Subject: Meeting on"), []byte("Subject:  Meeting\r\n\ton"), 1), "example.org/c2026e=pass example.org/c2026r=pass"},
		{"second From added (oversigned)", append([]byte("From: Leader <leader@example.org>\r\n"), signed...), "example.org/c2026e=fail example.org/c2026r=fail"},
		{"Reply-To added (oversigned)", bytes.Replace(signed, []byte("\r\n\r\n"), []byte("\r\nReply-To: x@evil.example\r\n\r\n"), 1), "example.org/c2026e=fail example.org/c2026r=fail"},
		{"unsigned", msg, ""},
		{"no key published", sign(t, msg, unpublished...), "nokey.example/c2026e=permerror nokey.example/c2026r=permerror"},
		{"key lookup fails", sign(t, msg, slowKeys[0]), "slow.example/c2026e=temperror"},
		{"more than MaxSignatures", sign(t, msg, many...), "example.org/asel=pass example.org/bsel=pass example.org/csel=pass example.org/dsel=pass example.org/esel=pass example.org/fsel=neutral example.org/gsel=neutral"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, m, "192.0.2.1", "mx.example.org", "anna@example.org", tc.msg)
			if got := dkimSummary(res.DKIM); got != tc.want {
				t.Errorf("DKIM %q, want %q", got, tc.want)
			}
			for _, r := range res.DKIM {
				if (r.Result == ResultPass) != (r.Err == "") {
					t.Errorf("%s: result %s with error %q", r.Selector, r.Result, r.Err)
				}
			}
			if tc.want == "" && !strings.Contains(res.AuthResults, "dkim=none") {
				t.Errorf("unsigned message without dkim=none:\n%s", res.AuthResults)
			}
		})
	}

	// The algorithms are reported; the body change is named.
	res := check(t, m, "192.0.2.1", "mx.example.org", "anna@example.org", signed)
	if res.DKIM[0].Algorithm != "ed25519-sha256" || res.DKIM[1].Algorithm != "rsa-sha256" {
		t.Errorf("algorithms %q, %q", res.DKIM[0].Algorithm, res.DKIM[1].Algorithm)
	}
	res = check(t, m, "192.0.2.1", "mx.example.org", "anna@example.org", bytes.Replace(signed, []byte("there"), []byte("where"), 1))
	if !strings.Contains(res.DKIM[0].Err, "body hash") {
		t.Errorf("error for a changed body: %q", res.DKIM[0].Err)
	}
}

func TestDMARC(t *testing.T) {
	t.Parallel()
	exKeys := testKeys(t, "example.org")
	mailKeys := testKeys(t, "mail.example.org")
	otherKeys := testKeys(t, "esp.example")
	newsKeys := testKeys(t, "news.example.org")
	tempKeys := testKeys(t, "temp.example")
	couk := testKeys(t, "mail.example.co.uk")
	records := map[string]string{
		"example.org":        "v=DMARC1; p=reject; sp=quarantine",
		"strict.example":     "v=DMARC1; p=reject; adkim=s; aspf=s",
		"relaxed.example":    "v=DMARC1; p=quarantine",
		"none.example":       "v=DMARC1; p=none",
		"pct.example":        "v=DMARC1; p=reject; pct=20",
		"pctq.example":       "v=DMARC1; p=quarantine; pct=50",
		"pct100.example":     "v=DMARC1; p=reject; pct=100",
		"bad.example":        "v=DMARC1; p=bogus",
		"sub.example.org":    "v=DMARC1; p=none; sp=reject",
		"nosp.example":       "v=DMARC1; p=reject",
		"temp.example":       "v=DMARC1; p=reject",
		"example.co.uk":      "v=DMARC1; p=reject",
		"multi.example":      "v=DMARC1; p=reject",
		"spf-strict.example": "v=DMARC1; p=reject; aspf=s",
	}
	m := &dns.Mock{
		TXT: map[string][]string{
			"example.org":          {"v=spf1 ip4:192.0.2.1 -all"},
			"bounces.example.org":  {"v=spf1 ip4:192.0.2.1 -all"},
			"esp.example":          {"v=spf1 ip4:192.0.2.1 -all"},
			"relaxed.example":      {"v=spf1 ip4:192.0.2.1 -all"},
			"b.strict.example":     {"v=spf1 ip4:192.0.2.1 -all"},
			"b.spf-strict.example": {"v=spf1 ip4:192.0.2.1 -all"},
		},
		Fail: map[string]error{
			"_dmarc.broken.example":          errTimeout,
			"c2026e._domainkey.temp.example": errTimeout,
		},
	}
	for d, r := range records {
		m.TXT["_dmarc."+d] = []string{"some other text", r}
	}
	publish(m, exKeys...)
	publish(m, mailKeys...)
	publish(m, otherKeys...)
	publish(m, newsKeys...)
	publish(m, couk...)
	strictKeys := testKeys(t, "strict.example")
	strictSub := testKeys(t, "mail.strict.example")
	publish(m, strictKeys...)
	publish(m, strictSub...)

	const good, bad = "192.0.2.1", "198.51.100.9"
	msgFrom := func(from string) []byte { return testMessage(from) }

	for _, tc := range []struct {
		name       string
		ip         string
		mailFrom   string
		msg        []byte
		want       string
		wantPolicy string
	}{
		{"aligned DKIM only", bad, "bounce@esp.example", sign(t, msgFrom("<anna@example.org>"), exKeys...), "pass", "reject"},
		{"aligned SPF only", good, "anna@example.org", msgFrom("<anna@example.org>"), "pass", "reject"},
		{"relaxed SPF alignment", good, "x@bounces.example.org", msgFrom("<anna@example.org>"), "pass", "reject"},
		{"relaxed DKIM alignment", bad, "", sign(t, msgFrom("<anna@example.org>"), mailKeys...), "pass", "reject"},
		{"unaligned DKIM and SPF", good, "bounce@esp.example", sign(t, msgFrom("<anna@example.org>"), otherKeys...), "fail", "reject"},
		{"fail p=reject", bad, "anna@example.org", msgFrom("Leader <leader@example.org>"), "fail", "reject"},
		{"fail p=quarantine", bad, "", msgFrom("<a@relaxed.example>"), "fail", "quarantine"},
		{"fail p=none", bad, "", msgFrom("<a@none.example>"), "fail", "none"},
		{"strict DKIM, exact domain", bad, "", sign(t, msgFrom("<a@strict.example>"), strictKeys...), "pass", "reject"},
		{"strict DKIM, subdomain signs", bad, "", sign(t, msgFrom("<a@strict.example>"), strictSub...), "fail", "reject"},
		{"strict SPF, subdomain", good, "x@b.strict.example", msgFrom("<a@strict.example>"), "fail", "reject"},
		{"aspf=s alone leaves DKIM relaxed", good, "x@b.spf-strict.example", msgFrom("<a@spf-strict.example>"), "fail", "reject"},
		{"subdomain uses sp= of the organisational domain", bad, "", msgFrom("<a@news.example.org>"), "fail", "quarantine"},
		{"subdomain passes with own signature", bad, "", sign(t, msgFrom("<a@news.example.org>"), newsKeys...), "pass", "quarantine"},
		{"deep subdomain falls back to the organisational domain", bad, "", msgFrom("<a@x.y.example.org>"), "fail", "quarantine"},
		{"fallback without sp= uses p=", bad, "", msgFrom("<a@deep.nosp.example>"), "fail", "reject"},
		{"record at the subdomain itself: p=, not sp=", bad, "", msgFrom("<a@sub.example.org>"), "fail", "none"},
		{"public suffix: example.co.uk", bad, "", sign(t, msgFrom("<a@example.co.uk>"), couk...), "pass", "reject"},
		{"pct=20: reject becomes quarantine", bad, "", msgFrom("<a@pct.example>"), "fail", "quarantine"},
		{"pct=50: quarantine becomes none", bad, "", msgFrom("<a@pctq.example>"), "fail", "none"},
		{"pct=100 applies", bad, "", msgFrom("<a@pct100.example>"), "fail", "reject"},
		{"no record", bad, "", msgFrom("<a@nothing.example>"), "none", "none"},
		{"record lookup fails", bad, "", msgFrom("<a@broken.example>"), "temperror", "none"},
		{"aligned key lookup fails", bad, "", sign(t, msgFrom("<a@temp.example>"), tempKeys[0]), "temperror", "reject"},
		{"bad record", bad, "", msgFrom("<a@bad.example>"), "permerror", "none"},
		{"two From fields", good, "anna@example.org", append([]byte("From: <b@example.org>\r\n"), msgFrom("<anna@example.org>")...), "permerror", "none"},
		{"two addresses in From", good, "anna@example.org", msgFrom("<anna@example.org>, <b@example.org>"), "permerror", "none"},
		{"no From", good, "anna@example.org", bytes.Replace(msgFrom("<anna@example.org>"), []byte("From:"), []byte("Sender:"), 1), "permerror", "none"},
		{"From without domain", good, "anna@example.org", msgFrom("anna"), "permerror", "none"},
		{"encoded display name", good, "anna@example.org", msgFrom("=?utf-8?q?=C3=85nna?= <anna@example.org>"), "pass", "reject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := check(t, m, tc.ip, "mx.example.net", tc.mailFrom, tc.msg)
			if res.DMARC != tc.want || res.DMARCPolicy != tc.wantPolicy {
				t.Errorf("DMARC %s, policy %s; want %s, %s (SPF %s for %s; DKIM %s)", res.DMARC, res.DMARCPolicy, tc.want, tc.wantPolicy, res.SPF, res.SPFDomain, dkimSummary(res.DKIM))
			}
			if !strings.Contains(res.AuthResults, "dmarc="+tc.want) {
				t.Errorf("Authentication-Results lacks dmarc=%s:\n%s", tc.want, res.AuthResults)
			}
			if tc.want == "permerror" && tc.name != "bad record" && res.FromDomain != "" {
				t.Errorf("permerror with From %v, domain %q", res.From, res.FromDomain)
			}
		})
	}

	res := check(t, m, good, "mx.example.net", "anna@example.org", msgFrom("=?utf-8?q?=C3=85nna?= Svensson <Anna@EXAMPLE.org>"))
	if res.From == nil || res.From.Name != "Ånna Svensson" || res.FromDomain != "example.org" {
		t.Errorf("From %v, domain %q", res.From, res.FromDomain)
	}
}

func TestAligned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b   string
		strict bool
		want   bool
	}{
		{"example.org", "example.org", true, true},
		{"Example.org.", "example.ORG", true, true},
		{"mail.example.org", "example.org", true, false},
		{"mail.example.org", "example.org", false, true},
		{"a.example.org", "b.example.org", false, true},
		{"example.net", "example.org", false, false},
		{"mail.example.co.uk", "example.co.uk", false, true},
		{"other.co.uk", "example.co.uk", false, false},
		{"co.uk", "example.co.uk", false, false},
		{"", "example.org", false, false},
	} {
		if got := aligned(tc.a, tc.b, tc.strict); got != tc.want {
			t.Errorf("aligned(%q, %q, strict %v) = %v", tc.a, tc.b, tc.strict, got)
		}
	}
}

func TestAuthResults(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	m := &dns.Mock{TXT: map[string][]string{
		"example.org":        {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.example.org": {"v=DMARC1; p=reject"},
	}}
	publish(m, keys...)
	msg := sign(t, testMessage("Anna <anna@example.org>"), keys...)
	// A forged signature whose tags try to break out of their property.
	forged := append([]byte(`DKIM-Signature: v=1; a=rsa-sha256; d=evil"(x)=y.example; s=a b; h=from; bh=AAAA; b=AAAA`+"\r\n"), msg...)

	res := check(t, m, "192.0.2.1", "mx.example.org", "anna@example.org", forged)
	ar := res.AuthResults
	t.Logf("%s", ar)
	if !strings.HasPrefix(ar, "Authentication-Results: mx.caucus.test;") || !strings.HasSuffix(ar, "\r\n") {
		t.Fatalf("malformed field:\n%q", ar)
	}
	lines := strings.Split(strings.TrimSuffix(ar, "\r\n"), "\r\n")
	for i, l := range lines {
		if len(l) > 998 || strings.ContainsAny(l, "\r\n") {
			t.Errorf("line %d malformed: %q", i, l)
		}
		if i > 0 && l[0] != '\t' && l[0] != ' ' {
			t.Errorf("line %d is not a continuation: %q", i, l)
		}
	}

	value := strings.TrimPrefix(strings.ReplaceAll(ar, "\r\n", ""), "Authentication-Results:")
	id, results, err := authres.Parse(value)
	if err != nil {
		t.Fatalf("authres.Parse: %v", err)
	}
	if id != "mx.caucus.test" {
		t.Errorf("authserv-id %q", id)
	}
	var got []string
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			got = append(got, "spf="+string(r.Value)+" from="+r.From)
		case *authres.DKIMResult:
			got = append(got, "dkim="+string(r.Value)+" d="+r.Domain)
		case *authres.DMARCResult:
			got = append(got, "dmarc="+string(r.Value)+" from="+r.From)
		default:
			t.Errorf("unexpected result %#v", r)
		}
	}
	want := []string{
		"spf=pass from=example.org",
		`dkim=permerror d="evil\"(x)=y.example"`,
		"dkim=pass d=example.org",
		"dkim=pass d=example.org",
		"dmarc=pass from=example.org",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(ar, "(p=reject)") {
		t.Errorf("policy comment missing")
	}
}

func TestCheckInputs(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	m := &dns.Mock{TXT: map[string][]string{"_dmarc.example.org": {"v=DMARC1; p=reject"}}}
	publish(m, keys...)
	msg := sign(t, testMessage("Anna <anna@example.org>"), keys...)
	c := NewChecker(m, "mx.caucus.test", nil)
	ctx := context.Background()

	// Header nil: read from the message.
	res, err := c.Check(ctx, Input{RemoteIP: net.ParseIP("192.0.2.1"), Helo: "x.example", Message: bytes.NewReader(msg), Size: int64(len(msg))})
	if err != nil || res.DMARC != "pass" || res.FromDomain != "example.org" {
		t.Errorf("without Header: %v, %+v", err, res)
	}
	// Message nil: the header alone (the body hash then fails).
	hdr := msg[:bytes.Index(msg, []byte("\r\n\r\n"))+4]
	res, err = c.Check(ctx, Input{RemoteIP: net.ParseIP("192.0.2.1"), Header: hdr})
	if err != nil || dkimSummary(res.DKIM) != "example.org/c2026e=fail example.org/c2026r=fail" {
		t.Errorf("without Message: %v, %s", err, dkimSummary(res.DKIM))
	}
	// A failing reader is an error, not a result.
	_, err = c.Check(ctx, Input{RemoteIP: net.ParseIP("192.0.2.1"), Header: hdr, Message: failingReaderAt{}, Size: 1 << 20})
	if !errors.Is(err, errDisk) {
		t.Errorf("failing reader: %v, want errDisk", err)
	}
	// A cancelled context is an error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Check(cctx, Input{Header: hdr}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// No end of header: DKIM cannot be checked; no panic.
	res, err = c.Check(ctx, Input{RemoteIP: net.ParseIP("192.0.2.1"), Header: msg[:200]})
	if err != nil || len(res.DKIM) == 0 || res.DKIM[0].Result != ResultPermError {
		t.Errorf("truncated header: %v, %s", err, dkimSummary(res.DKIM))
	}
}

var errDisk = errors.New("disk on fire")

type failingReaderAt struct{}

func (failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	// Serve a header that has a signature, then fail in the body.
	h := []byte("From: a@example.org\r\nDKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=c2026e; h=from; bh=AAAA; b=AAAA\r\n\r\n")
	if off < int64(len(h)) {
		n := copy(p, h[off:])
		if n == len(p) {
			return n, nil
		}
		return n, errDisk
	}
	return 0, errDisk
}

var _ io.ReaderAt = failingReaderAt{}

func TestRemoveAuthResults(t *testing.T) {
	t.Parallel()
	h := "Authentication-Results: mx.caucus.test; dkim=pass header.d=example-party.org\r\n" +
		"Authentication-Results: (forged) MX.Caucus.Test.;\r\n\tdkim=pass\r\n" +
		"Authentication-Results: \"mx.caucus.test\" 1; spf=pass\r\n" +
		"Authentication-Results: mx.google.com; dkim=pass\r\n" +
		"authentication-results:mx.caucus.test;spf=pass\r\n" +
		"From: a@example.org\r\n\r\nAuthentication-Results: mx.caucus.test; body\r\n"
	want := "Authentication-Results: mx.google.com; dkim=pass\r\n" +
		"From: a@example.org\r\n\r\nAuthentication-Results: mx.caucus.test; body\r\n"
	if got := string(RemoveAuthResults([]byte(h), "mx.caucus.test")); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	for _, v := range []string{"", "(", "(a(b)c", `(\`, "x"} {
		authservIDOf(v) // no panic
	}
}

// TestRemoveARCAuthResults: ARC-Authentication-Results fields (RFC 8617
// section 4.1.1: an instance, then an Authentication-Results payload) that
// claim our authserv-id go as Authentication-Results ones do (issue 12
// item 15); other servers' stay.
func TestRemoveARCAuthResults(t *testing.T) {
	t.Parallel()
	h := "ARC-Authentication-Results: i=1; mx.caucus.test; dkim=pass header.d=example-party.org\r\n" +
		"ARC-Authentication-Results: i=2 ; (forged) MX.Caucus.Test.;\r\n\tdmarc=pass\r\n" +
		"arc-authentication-results:i=3;mx.caucus.test;spf=pass\r\n" +
		"ARC-Authentication-Results: (a;b) i=4; mx.caucus.test; dkim=pass\r\n" +
		"ARC-Authentication-Results: i=1; mx.google.com; dkim=pass\r\n" +
		"From: a@example.org\r\n\r\n"
	want := "ARC-Authentication-Results: i=1; mx.google.com; dkim=pass\r\n" +
		"From: a@example.org\r\n\r\n"
	if got := string(RemoveAuthResults([]byte(h), "mx.caucus.test")); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
