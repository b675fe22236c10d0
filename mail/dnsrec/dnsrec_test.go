package dnsrec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type fakeKey struct{ name, value string }

func (k fakeKey) DNSRecord() (string, string) { return k.name, k.value }

func TestZoneGolden(t *testing.T) {
	t.Parallel()
	keys := map[string][]DKIMKey{"example-party.org": {
		fakeKey{"c2026e._domainkey.example-party.org", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
		fakeKey{"c2026r._domainkey.example-party.org", "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 8)},
	}}
	got := Zone(Records("mail.example-party.org", []string{"example-party.org"}, keys))
	path := filepath.Join("testdata", "zone.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("zone differs from %s (run with -update if intended):\n%s", path, got)
	}
	for _, line := range strings.Split(got, "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, `"`) && len(f) > 257 {
				t.Errorf("TXT string over 255 bytes: %d", len(f))
			}
		}
	}
}

func TestMTASTS(t *testing.T) {
	t.Parallel()
	p := MTASTSPolicy("Mail.Example-Party.org")
	if !strings.Contains(p, "mode: enforce\r\n") || !strings.Contains(p, "mx: mail.example-party.org\r\n") || !strings.HasPrefix(p, "version: STSv1\r\n") {
		t.Errorf("policy %q", p)
	}
	if MTASTSID("a.example") == MTASTSID("b.example") || MTASTSID("a.example") != MTASTSID("A.example") {
		t.Error("policy id must follow the host name, case-insensitively")
	}
	if id := MTASTSID("a.example"); len(id) > 32 {
		t.Errorf("id %q longer than 32 characters (RFC 8461 3.1)", id)
	}
}
