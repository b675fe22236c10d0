package msgauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/message"
)

// fuzzKey is a fixed Ed25519 key, so that seeds signed with it stay valid.
func fuzzKey() DKIMKey {
	return DKIMKey{Domain: "example.org", Selector: "fz", Signer: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))}
}

// FuzzCheck: any message, envelope sender and HELO give well-formed results
// and a well-formed Authentication-Results field, never an error (the
// message is in memory) and never a panic.
func FuzzCheck(f *testing.F) {
	key := fuzzKey()
	m := &dns.Mock{TXT: map[string][]string{
		"example.org":                {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.example.org":         {"v=DMARC1; p=reject; sp=quarantine; pct=50"},
		"_dmarc.strict.example":      {"v=DMARC1; p=quarantine; adkim=s; aspf=s"},
		"bad._domainkey.example.org": {"v=DKIM1; k=ed25519; p=AAAA"},
	}}
	publish(m, key)
	msg := testMessage("Anna <anna@example.org>")
	var signed bytes.Buffer
	if err := Sign(&signed, bytes.NewReader(msg), []DKIMKey{key}); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		msg, mailFrom, helo string
	}{
		{signed.String(), "anna@example.org", "mx.example.org"},
		{string(msg), "", "mx.example.org"},
		{"From: a@b.example.org\r\nFrom: c@example.org\r\n\r\n", "x@strict.example", "[192.0.2.1]"},
		{"DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=bad; h=from; bh=; b=\r\nFrom: <a@example.org>\r\n\r\n", "a@example.org", "h"},
		{"DKIM-Signature: d=\"x;\r\n s=\x00\r\nFrom: =?utf-8?q?=C3=85?= <a@xn--exmple-party-y9j.org>\n\nbody", "<>", ""},
		{"From: group: a@example.org, b@example.org;\r\n", "@example.org", "x..y"},
		{strings.Repeat("DKIM-Signature: v=1\r\n", 8) + "\r\n", "a@b@example.org", "example.org"},
		{"", "", ""},
	} {
		f.Add([]byte(seed.msg), seed.mailFrom, seed.helo, false)
	}
	c := NewChecker(m, "mx.caucus.test", nil)
	results := []string{ResultPass, ResultFail, ResultSoftFail, ResultNeutral, ResultNone, ResultTempError, ResultPermError}
	f.Fuzz(func(t *testing.T, msg []byte, mailFrom, helo string, withHeader bool) {
		in := Input{RemoteIP: net.ParseIP("192.0.2.1"), Helo: helo, MailFrom: mailFrom, Message: bytes.NewReader(msg), Size: int64(len(msg))}
		if withHeader {
			h, _ := message.Parse(msg)
			in.Header = msg[:h.Len]
		}
		res, err := c.Check(context.Background(), in)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		for _, d := range res.DKIM {
			if !slices.Contains(results, d.Result) || d.Result == ResultSoftFail || d.Result == ResultNone {
				t.Errorf("DKIM result %q", d.Result)
			}
		}
		checkResult(t, res, results)
	})
}

// checkResult checks what Check promises of any result: SPF and DMARC
// results from results (RFC 8601's set), a DMARC policy DMARC knows, a
// DMARC pass only on an aligned SPF or DKIM pass (RFC 7489 section 4.2),
// and a well-formed Authentication-Results field.
func checkResult(t *testing.T, res Result, results []string) {
	t.Helper()
	if !slices.Contains(results, res.SPF) || !slices.Contains(results, res.DMARC) {
		t.Errorf("results SPF %q DMARC %q", res.SPF, res.DMARC)
	}
	if !slices.Contains([]string{"none", "quarantine", "reject"}, res.DMARCPolicy) {
		t.Errorf("policy %q", res.DMARCPolicy)
	}
	if res.DMARC == ResultPass {
		ok := res.SPF == ResultPass && aligned(res.SPFDomain, res.FromDomain, false)
		for _, d := range res.DKIM {
			ok = ok || d.Result == ResultPass && aligned(d.Domain, res.FromDomain, false)
		}
		if !ok {
			t.Errorf("DMARC pass without an aligned pass: %+v", res)
		}
	}
	checkAuthResults(t, res.AuthResults, len(res.DKIM))
}

// checkAuthResults checks that ar is one well-formed header field with
// the expected results and nothing a sender could have injected.
func checkAuthResults(t *testing.T, ar string, sigs int) {
	t.Helper()
	if !strings.HasPrefix(ar, "Authentication-Results: ") || !strings.HasSuffix(ar, "\r\n") {
		t.Fatalf("malformed field %q", ar)
	}
	for i, l := range strings.Split(strings.TrimSuffix(ar, "\r\n"), "\r\n") {
		if len(l) > 998 || strings.ContainsAny(l, "\r\n") || i > 0 && !strings.HasPrefix(l, "\t") {
			t.Fatalf("line %d malformed: %q", i, l)
		}
		for _, c := range []byte(l) {
			if c < ' ' && c != '\t' || c >= 0x7f {
				t.Fatalf("line %d has byte %#x: %q", i, c, l)
			}
		}
	}
	_, results, err := authres.Parse(strings.TrimPrefix(strings.ReplaceAll(ar, "\r\n", ""), "Authentication-Results:"))
	if err != nil {
		t.Fatalf("authres.Parse: %v\n%s", err, ar)
	}
	var spf, dkim, dmarc int
	for _, r := range results {
		switch r.(type) {
		case *authres.SPFResult:
			spf++
		case *authres.DKIMResult:
			dkim++
		case *authres.DMARCResult:
			dmarc++
		default:
			t.Fatalf("unexpected result %#v in\n%s", r, ar)
		}
	}
	if spf != 1 || dmarc != 1 || dkim != max(sigs, 1) {
		t.Fatalf("%d spf, %d dkim, %d dmarc results for %d signatures:\n%s", spf, dkim, dmarc, sigs, ar)
	}
}

// FuzzTagMessage: any header and reason give a header that is tagged
// exactly when the verdict is suspicious, carries no sender-made warning,
// has the warning first, and does not change when tagged again; and
// RemoveAuthResults, with the reason as authserv-id, only ever removes.
func FuzzTagMessage(f *testing.F) {
	for _, seed := range []string{
		"From: a@gmail.com\r\nSubject: hi\r\n\r\nbody",
		"Subject: =?utf-8?q?Br=C3=A5ttom?=\r\n\r\n",
		"Subject:\r\n =?iso-8859-1?q?M=F6te?=\r\n\r\n",
		"X-Caucus-Warning: forged\r\n\tmore\r\nSubject: [External] x\r\n\r\n",
		"From: a\nSubject: b\n\nc",
		"Subject: x\r",
		" leading continuation\r\nSubject\r\n\r\n",
		"Subject: " + strings.Repeat("y", 1000) + "\r\n\r\n",
		"Authentication-Results: (c) mx.caucus.test; dkim=pass\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed), "mx.caucus.test", true)
		f.Add([]byte(seed), "The sender's name matches a party member", true)
		f.Add([]byte(seed), "", false)
	}
	f.Fuzz(func(t *testing.T, header []byte, reason string, suspicious bool) {
		v := Verdict{External: true, Reason: reason}
		if suspicious {
			v.NameMatch = "Party Leader"
		}
		if stripped := RemoveAuthResults(header, reason); len(stripped) > len(header) {
			t.Fatalf("RemoveAuthResults grew the header:\n%q\n%q", header, stripped)
		}
		out := TagMessage(header, v)
		if again := TagMessage(out, v); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q\n%q", header, out, again)
		}
		fields, _, _ := message.Split(out)
		warnings := 0
		for i, f := range fields {
			if f.Colon && strings.EqualFold(f.Name, warningField) {
				warnings++
				if i != 0 {
					t.Fatalf("warning not first:\n%q", out)
				}
				for _, c := range f.Raw {
					if c >= 0x7f || c < ' ' && c != '\r' && c != '\n' {
						t.Fatalf("warning has byte %#x: %q", c, f.Raw)
					}
				}
			}
		}
		if suspicious != (warnings == 1) || warnings > 1 {
			t.Fatalf("suspicious %v, %d warnings:\n%q", suspicious, warnings, out)
		}
		if !suspicious && len(out) > len(header) {
			t.Fatalf("clean header grew:\n%q\n%q", header, out)
		}
		if suspicious {
			tagged := false
			for _, f := range fields {
				if f.Colon && strings.EqualFold(f.Name, "Subject") {
					tagged = true
					if !alreadyTagged(f.Raw[bytes.IndexByte(f.Raw, ':')+1:]) {
						t.Fatalf("subject not tagged: %q", f.Raw)
					}
				}
			}
			if !tagged {
				t.Fatalf("no Subject:\n%q", out)
			}
		}
	})
}

// FuzzImpersonation: any display name, sender domain, member name and
// party domain give a verdict without a panic; the party's own
// authenticated mail is never suspicious; a sender outside the party who
// uses a member's exact name is caught; reasons are ASCII.
func FuzzImpersonation(f *testing.F) {
	for _, seed := range [][4]string{
		{"Party Leader", "gmail.com", "Party Leader", "example-party.org"},
		{"Leader, Party", "examp1e-party.org", "Party Leader", "example-party.org"},
		{"Ånna Svensson", "xn--exmple-party-y9j.org", "Anna Svensson", "example-party.org"},
		{"", "", "", ""},
		{"\xff\xfe", "xn--", "a\u0301\u0301\u0301", "xn--zz.example"},
		{strings.Repeat("Anna ", 500), strings.Repeat("a.", 200), "Anna", "a.a"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], false)
	}
	f.Fuzz(func(t *testing.T, name, domain, member, own string, authenticated bool) {
		dir := testDirectory{members: []string{member, "Party Leader"}, domains: []string{own, "example-party.org"}}
		v := CheckImpersonation(&mail.Address{Name: name, Address: "x@" + domain}, dir, authenticated)
		for _, r := range v.Reason + v.Domain {
			if r < ' ' || r > '~' {
				t.Fatalf("not printable ASCII: %q %q", v.Reason, v.Domain)
			}
		}
		if v.Suspicious() != (v.Reason != "") {
			t.Fatalf("suspicious %v, reason %q", v.Suspicious(), v.Reason)
		}
		if v.Lookalike != "" && v.Forged {
			t.Fatalf("lookalike of an own domain: %+v", v)
		}

		// The party's own mail.
		if o := asciiDomain(own); o != "" {
			v := CheckImpersonation(&mail.Address{Name: name, Address: "x@" + o}, dir, true)
			if v.External || v.Suspicious() {
				t.Fatalf("own authenticated mail from %s: %+v", o, v)
			}
			v = CheckImpersonation(&mail.Address{Name: name, Address: "x@" + o}, dir, false)
			if !v.Forged || v.Lookalike != "" {
				t.Fatalf("own unauthenticated mail from %s: %+v", o, v)
			}
		}

		// A member's exact name from outside.
		if letters := strings.Join(nameTokens(member), ""); utf8.RuneCountInString(letters) >= 4 {
			v := CheckImpersonation(&mail.Address{Name: member, Address: "x@unrelated.example"}, dir, true)
			if v.NameMatch == "" {
				t.Fatalf("member name %q from outside not caught: %+v", member, v)
			}
		}
	})
}

// FuzzSign: any message Sign accepts verifies.
func FuzzSign(f *testing.F) {
	key := fuzzKey()
	m := &dns.Mock{}
	publish(m, key)
	for _, seed := range []string{
		string(testMessage("Anna <anna@example.org>")),
		"From: a@example.org\nSubject: lf\n\nbody\n\n\n",
		"From: a@example.org\r\nSubject: x\r\n",
		"From: a@example.org\r\n\r\n  trailing  spaces \t\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	c := NewChecker(m, "mx.caucus.test", nil)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		if err := Sign(&out, bytes.NewReader(msg), []DKIMKey{key}); err != nil {
			return
		}
		signed := out.Bytes()
		res, err := c.Check(context.Background(), Input{RemoteIP: net.ParseIP("192.0.2.1"), Message: bytes.NewReader(signed), Size: int64(len(signed))})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DKIM) == 0 || res.DKIM[0].Result != ResultPass {
			t.Fatalf("own signature does not verify: %+v\n%q", res.DKIM, signed)
		}
	})
}

// FuzzRemoveOwnFindings: whatever a member submits, what is left has no
// Authentication-Results in this host's name and no X-Caucus-Warning in
// its header, and its body is the same bytes.
func FuzzRemoveOwnFindings(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.party.example; dkim=pass\r\nX-Caucus-Warning: x\r\nFrom: a@b\r\n\r\nbody\r\n"))
	f.Add([]byte("authentication-results:MX.PARTY.EXAMPLE ; spf=pass\nSubject: s\n\nb"))
	f.Add([]byte(" folded\r\nX-Caucus-Warning:\r\n\r\n"))
	f.Add([]byte("no header end"))
	const host = "mx.party.example"
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := RemoveOwnFindings(msg, host)
		if RemoveOwnFindings(out, host) == nil && out != nil {
			t.Fatal("not idempotent")
		}
		fields, _, rest := message.Split(out)
		for _, fl := range fields {
			if fl.Is("Authentication-Results") && normalizeID(authservIDOf(fl.Value())) == normalizeID(host) {
				t.Fatalf("kept %q", fl.Raw)
			}
			if fl.Is(warningField) {
				t.Fatalf("kept %q", fl.Raw)
			}
		}
		if _, _, in := message.Split(msg); !bytes.Equal(in, rest) {
			t.Fatalf("body changed: %q -> %q", in, rest)
		}
	})
}

// FuzzCheckRecords: the sender's DNS is as hostile as its message. Whatever
// SPF, DMARC and DKIM key records the sending domain publishes, Check
// gives well-formed results and a well-formed Authentication-Results
// field (no record text reaches it unchecked), never an error and never a
// panic, and DMARC passes only on an aligned pass.
func FuzzCheckRecords(f *testing.F) {
	key := fuzzKey()
	keyName, keyRecord := key.DNSRecord()
	var signed [2][]byte
	for i, from := range []string{"Anna <anna@example.org>", "Anna <anna@sub.example.org>"} {
		var b bytes.Buffer
		if err := Sign(&b, bytes.NewReader(testMessage(from)), []DKIMKey{key}); err != nil {
			f.Fatal(err)
		}
		signed[i] = b.Bytes()
	}
	for _, seed := range [][3]string{
		{"v=spf1 ip4:192.0.2.1 -all", "v=DMARC1; p=reject; sp=quarantine; pct=50", keyRecord},
		{"v=spf1 include:inc.example.org a mx ptr exists:%{i}.e.example.org redirect=inc.example.org", "v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:a@example.org", "v=DKIM1; k=ed25519; p=AAAA"},
		{"v=spf1 -all exp=inc.example.org", "v=DMARC1;p=none;pct=0;fo=1:d:s;rf=afrf;ri=3600", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"},
		{"v=spf1 ?all", "v=DMARC1; p=bogus; sp=\"\r\n", "v=DKIM1; h=sha1; t=s; p="},
		{"", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], false)
	}
	results := []string{ResultPass, ResultFail, ResultSoftFail, ResultNeutral, ResultNone, ResultTempError, ResultPermError}
	f.Fuzz(func(t *testing.T, spfRecord, dmarcRecord, dkimRecord string, sub bool) {
		m := &dns.Mock{
			TXT: map[string][]string{
				"example.org":        {spfRecord},
				"inc.example.org":    {spfRecord},
				"_dmarc.example.org": {dmarcRecord},
				keyName:              {dkimRecord},
			},
			IP: map[string][]net.IPAddr{"example.org": {{IP: net.ParseIP("192.0.2.1")}}},
			MX: map[string][]*net.MX{"example.org": {{Host: "example.org.", Pref: 10}}},
		}
		c := NewChecker(m, "mx.caucus.test", nil)
		msg := signed[0]
		if sub {
			msg = signed[1]
		}
		res, err := c.Check(context.Background(), Input{RemoteIP: net.ParseIP("192.0.2.1"), Helo: "mx.example.org", MailFrom: "anna@example.org", Message: bytes.NewReader(msg), Size: int64(len(msg))})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if len(res.DKIM) != 1 || !slices.Contains(results, res.DKIM[0].Result) {
			t.Fatalf("DKIM results %+v", res.DKIM)
		}
		checkResult(t, res, results)
	})
}
