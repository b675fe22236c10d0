package queue

import (
	"strings"
	"testing"
	"time"
)

// FuzzParsePolicy checks that ParsePolicy never panics and that what it
// accepts keeps the rules of RFC 8461 section 3.2.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		enforceMX, enforceWild, testingOther,
		"version: STSv1\nmode: none\nmax_age: 0\n",
		"version:STSv1\r\nmode:testing\r\nmx:*.a.b\r\nmx:c.d\r\nmax_age:31557600\r\nx-ext: 1\r\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nversion: STSv1\n",
		":\n:\n",
		"mx: *.\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error")
			}
			return
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatalf("mode %s without mx", p.Mode)
			}
		case ModeNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > maxMaxAge*time.Second {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		for _, mx := range p.MX {
			if mx != strings.ToLower(mx) || !validHostname(strings.TrimPrefix(mx, "*.")) {
				t.Fatalf("mx pattern %q", mx)
			}
			host := strings.TrimPrefix(mx, "*.")
			if strings.HasPrefix(mx, "*.") {
				host = "x." + host
			}
			if !p.Matches(host) {
				t.Fatalf("pattern %q does not match %q", mx, host)
			}
			if p.Matches("a.b."+host) && !strings.HasPrefix(mx, "*.") {
				t.Fatalf("pattern %q matches a subdomain", mx)
			}
		}
	})
}

// FuzzParseSTSRecord checks the _mta-sts TXT record parser.
func FuzzParseSTSRecord(f *testing.F) {
	for _, s := range []string{stsTXT, "v=STSv1;id=1", "v=STSv1; id=a; id=b", "v=STSv1;;;", "v=STSv1; x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseSTSRecord(s)
		if err != nil {
			return
		}
		if id == "" || len(id) > 32 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("id %q", id)
		}
	})
}
