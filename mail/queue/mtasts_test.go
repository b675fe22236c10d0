package queue

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

const (
	enforceMX    = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 86400\r\n"
	enforceWild  = "version: STSv1\nmode: enforce\nmx: *.example.org\nmax_age: 86400\n"
	enforceOther = "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.example\r\nmax_age: 86400\r\n"
	testingOther = "version: STSv1\r\nmode: testing\r\nmx: mx.elsewhere.example\r\nmax_age: 86400\r\n"
	stsTXT       = "v=STSv1; id=20260101T000000;"
	policyHost   = "mta-sts.example.org"
)

// stsEnv is an env whose example.org publishes the MTA-STS policy given.
func stsEnv(t *testing.T, policy string, o envOptions) *env {
	o.policies = map[string]string{policyHost: policy}
	inner := o.dns
	o.dns = func(m *dns.Mock) {
		m.TXT["_mta-sts.example.org"] = []string{"v=spf1 -all", stsTXT} // the other record is ignored
		if inner != nil {
			inner(m)
		}
	}
	return newEnv(t, o)
}

func TestMTASTSEnforceDelivers(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{enforceMX, enforceWild} {
		e := stsEnv(t, policy, envOptions{})
		e.enqueue("alice@example-party.org", "bob@example.org")
		e.run()
		if got := e.mx.received(); len(got) != 1 || !got[0].tls {
			t.Fatalf("policy %q: received %+v, want 1 over TLS", policy, got)
		}
		if n := e.policy.requests.Load(); n != 1 {
			t.Errorf("%d policy fetches, want 1", n)
		}
	}
}

func TestMTASTSEnforceMXNotInPolicy(t *testing.T) {
	t.Parallel()
	e := stsEnv(t, enforceOther, envOptions{})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if e.mx.conns.Load() != 0 || len(e.mx.received()) != 0 {
		t.Fatal("delivered to an MX the policy does not name")
	}
	items := e.list()
	if len(items) != 1 || items[0].Attempts != 1 || !strings.Contains(items[0].LastError, "MTA-STS") {
		t.Fatalf("items %+v, want one still queued with an MTA-STS error", items)
	}
	if n := len(e.local.get("alice@example-party.org")); n != 0 {
		t.Errorf("%d notifications: a policy failure is temporary", n)
	}
}

func TestMTASTSEnforceNoSTARTTLS(t *testing.T) {
	t.Parallel()
	e := stsEnv(t, enforceMX, envOptions{noTLS: true})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if len(e.mx.received()) != 0 {
		t.Fatal("delivered without TLS under an enforced policy")
	}
	items := e.list()
	if len(items) != 1 || !strings.Contains(items[0].LastError, "STARTTLS") {
		t.Fatalf("items %+v", items)
	}
}

func TestMTASTSEnforceBadCertificate(t *testing.T) {
	t.Parallel()
	// A certificate from the right CA, but for another name.
	e := stsEnv(t, enforceMX, envOptions{certFor: []string{"mx.elsewhere.example"}})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if len(e.mx.received()) != 0 {
		t.Fatal("delivered over TLS with a certificate not valid for the MX")
	}
	items := e.list()
	if len(items) != 1 || !strings.Contains(items[0].LastError, "certificate") {
		t.Fatalf("items %+v", items)
	}
	// And it is not retried in plain text either.
	if n := e.mx.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestMTASTSTestingDelivers(t *testing.T) {
	t.Parallel()
	// Every check fails: the MX is not in the policy, and has no TLS.
	e := stsEnv(t, testingOther, envOptions{noTLS: true})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 1 {
		t.Fatalf("received %d, want 1 (mode testing delivers)", len(got))
	}
}

func TestMTASTSPolicyCached(t *testing.T) {
	t.Parallel()
	e := stsEnv(t, enforceMX, envOptions{})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	e.enqueue("alice@example-party.org", "carol@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
	if n := e.policy.requests.Load(); n != 1 {
		t.Errorf("%d policy fetches for two deliveries, want 1", n)
	}

	// The cache is in the database: a new Queue does not fetch either.
	e.q = e.newQueue()
	e.enqueue("alice@example-party.org", "dan@example.org")
	e.run()
	if n := e.policy.requests.Load(); n != 1 {
		t.Errorf("%d policy fetches after a restart, want 1", n)
	}

	// After max_age the policy is fetched again.
	e.clock.Advance(24*time.Hour + time.Second)
	e.enqueue("alice@example-party.org", "erin@example.org")
	e.run()
	if n := e.policy.requests.Load(); n != 2 {
		t.Errorf("%d policy fetches after max_age, want 2", n)
	}
	if got := e.mx.received(); len(got) != 4 {
		t.Errorf("received %d, want 4", len(got))
	}
}

func TestMTASTSCachedPolicyOutlivesTXT(t *testing.T) {
	t.Parallel()
	// RFC 8461 section 5.1: with the TXT record gone (an attacker may
	// have removed it), a cached policy that has not expired still
	// applies.
	e := stsEnv(t, enforceOther, envOptions{})
	if p := e.q.policy(t.Context(), "example.org"); p == nil || p.Mode != ModeEnforce {
		t.Fatalf("policy %+v", p)
	}
	e.cfg.Resolver = baseDNS() // no TXT record
	e.cfg.HTTPClient = &http.Client{Transport: noHTTP{}}
	q2 := e.newQueue()
	if p := q2.policy(t.Context(), "example.org"); p == nil || !slices.Equal(p.MX, []string{"mx.elsewhere.example"}) {
		t.Fatalf("policy without TXT: %+v, want the cached one", p)
	}
	e.clock.Advance(25 * time.Hour)
	if p := q2.policy(t.Context(), "example.org"); p != nil {
		t.Fatalf("expired policy still applies: %+v", p)
	}
}

func TestMTASTSFetchFailure(t *testing.T) {
	t.Parallel()
	// A TXT record but no policy to fetch, and nothing cached: delivery
	// goes on as without MTA-STS.
	e := newEnv(t, envOptions{
		policies: map[string]string{policyHost: ""}, // 404
		dns: func(m *dns.Mock) {
			m.TXT["_mta-sts.example.org"] = []string{stsTXT}
		},
	})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
	if n := e.policy.requests.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want Policy
	}{
		{enforceMX, Policy{Mode: ModeEnforce, MX: []string{"mx.example.org"}, MaxAge: 86400 * time.Second}},
		{"version: STSv1\nmode: testing\nmx: *.Example.org.\nmx: mx2.example.org\nmax_age: 604800\nfuture: whatever\n",
			Policy{Mode: ModeTesting, MX: []string{"*.example.org", "mx2.example.org"}, MaxAge: 604800 * time.Second}},
		{"max_age:0\nmode:none\nversion:STSv1", Policy{Mode: ModeNone, MaxAge: 0}},
		{"version: STSv1  \r\nmode:  enforce\t\r\nmx: a.b\r\nmax_age: 31557600\r\n\r\n",
			Policy{Mode: ModeEnforce, MX: []string{"a.b"}, MaxAge: 31557600 * time.Second}},
	}
	for _, tt := range good {
		p, err := ParsePolicy([]byte(tt.in))
		if err != nil {
			t.Errorf("ParsePolicy(%q): %v", tt.in, err)
			continue
		}
		if p.Mode != tt.want.Mode || p.MaxAge != tt.want.MaxAge || !slices.Equal(p.MX, tt.want.MX) {
			t.Errorf("ParsePolicy(%q) = %+v, want %+v", tt.in, *p, tt.want)
		}
	}
	bad := []string{
		"",
		"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"mode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n",
		"version: STSv1\nmode: enforce\nmode: none\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: \nmax_age: 1\n",
		"version: STSv1\nmode enforce\nmx: a.b\nmax_age: 1\n",
		"<html>not a policy</html>",
		strings.Repeat("x", maxPolicySize+1),
	}
	for _, in := range bad {
		if p, err := ParsePolicy([]byte(in)); err == nil {
			t.Errorf("ParsePolicy(%q) = %+v, want error", truncate(in, 80), p)
		}
	}
}

func TestPolicyMatches(t *testing.T) {
	t.Parallel()
	p := &Policy{Mode: ModeEnforce, MX: []string{"mx.example.org", "*.mail.example.net"}}
	tests := map[string]bool{
		"mx.example.org":            true,
		"MX.Example.ORG.":           true,
		"mx2.example.org":           false,
		"example.org":               false,
		"a.mail.example.net":        true,
		"a.mail.example.net.":       true,
		"a.b.mail.example.net":      false,
		"mail.example.net":          false,
		".mail.example.net":         false,
		"a.mail.example.net.evil.x": false,
	}
	for host, want := range tests {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseSTSRecord(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"v=STSv1; id=20160831085700Z;": "20160831085700Z",
		"v=STSv1;id=abc":               "abc",
		"v=STSv1; ext=1; id=X1 ;":      "X1",
	}
	for in, want := range good {
		if id, err := parseSTSRecord(in); err != nil || id != want {
			t.Errorf("parseSTSRecord(%q) = %q, %v; want %q", in, id, err, want)
		}
	}
	for _, in := range []string{"", "v=STSv1;", "v=STSv1; id=", "v=STSv1; id=a-b", "v=STSv1; id=" + strings.Repeat("a", 33),
		"id=abc; v=STSv1", "v=STSv1; id=a; id=b", "v=STSv1; junk"} {
		if id, err := parseSTSRecord(in); err == nil {
			t.Errorf("parseSTSRecord(%q) = %q, want error", in, id)
		}
	}
}

func TestTwoTXTRecordsMeanNoPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		policies: map[string]string{policyHost: enforceOther},
		dns: func(m *dns.Mock) {
			m.TXT["_mta-sts.example.org"] = []string{"v=STSv1; id=1;", "v=STSv1; id=2;"}
		},
	})
	if p := e.q.policy(t.Context(), "example.org"); p != nil {
		t.Errorf("policy %+v, want none", p)
	}
	if n := e.policy.requests.Load(); n != 0 {
		t.Errorf("%d fetches, want 0", n)
	}
}
