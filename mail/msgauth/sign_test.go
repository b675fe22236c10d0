package msgauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/message"
)

func TestGenerateKeys(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("", -2*3600)) // 2027 in UTC
	keys, err := GenerateKeys("Example-Party.ORG", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d keys, want 2", len(keys))
	}
	if _, ok := keys[0].Signer.(ed25519.PrivateKey); !ok || keys[0].Selector != "c2027e" {
		t.Errorf("first key %T %q, want Ed25519 c2027e", keys[0].Signer, keys[0].Selector)
	}
	if k, ok := keys[1].Signer.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 || keys[1].Selector != "c2027r" {
		t.Errorf("second key %T %q, want RSA-2048 c2027r", keys[1].Signer, keys[1].Selector)
	}
	for _, k := range keys {
		if k.Domain != "example-party.org" {
			t.Errorf("domain %q", k.Domain)
		}
		// PEM round trip.
		pem, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----\n")) {
			t.Errorf("not PKCS#8 PEM:\n%s", pem)
		}
		back, err := ParseKey(k.Domain, k.Selector, pem)
		if err != nil {
			t.Fatal(err)
		}
		n1, v1 := k.DNSRecord()
		n2, v2 := back.DNSRecord()
		if n1 != n2 || v1 != v2 || v1 == "" {
			t.Errorf("record changed in the round trip: %s %s / %s %s", n1, v1, n2, v2)
		}
	}
	// Signing with the generated keys verifies through their records.
	m := &dns.Mock{}
	publish(m, keys...)
	res := check(t, m, "192.0.2.1", "mx.example.net", "", sign(t, testMessage("<a@example-party.org>"), keys...))
	if got := dkimSummary(res.DKIM); got != "example-party.org/c2027e=pass example-party.org/c2027r=pass" {
		t.Errorf("DKIM %s", got)
	}

	if _, err := GenerateKeys("not a domain", now); !errors.Is(err, ErrKey) {
		t.Errorf("bad domain: %v", err)
	}
}

func TestDNSRecord(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	name, value := keys[0].DNSRecord()
	if name != "c2026e._domainkey.example.org" {
		t.Errorf("name %q", name)
	}
	p, ok := strings.CutPrefix(value, "v=DKIM1; k=ed25519; p=")
	if !ok {
		t.Fatalf("Ed25519 record %q", value)
	}
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil || !bytes.Equal(raw, keys[0].Signer.Public().(ed25519.PublicKey)) {
		t.Errorf("p= is not the raw public key (RFC 8463 4.2): %v", err)
	}

	name, value = keys[1].DNSRecord()
	if name != "c2026r._domainkey.example.org" {
		t.Errorf("name %q", name)
	}
	p, ok = strings.CutPrefix(value, "v=DKIM1; k=rsa; p=")
	if !ok {
		t.Fatalf("RSA record %q", value)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := x509.ParsePKIXPublicKey(der); err != nil || !pub.(*rsa.PublicKey).Equal(keys[1].Signer.Public()) {
		t.Errorf("p= is not the SubjectPublicKeyInfo: %v", err)
	}
	if strings.ContainsAny(p, " \t") {
		t.Error("p= holds white space")
	}
}

func TestParseKeyErrors(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	good, err := MarshalKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsaKeyPEM(512)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, domain, selector string
		pem                    []byte
	}{
		{"not PEM", "example.org", "s", []byte("hello")},
		{"wrong PEM type", "example.org", "s", bytes.Replace(good, []byte("PRIVATE KEY"), []byte("RSA PRIVATE KEY"), 2)},
		{"bad selector", "example.org", "a;b", good},
		{"bad domain", "exa mple.org", "s", good},
		{"RSA below 1024 bits", "example.org", "s", small},
	} {
		if _, err := ParseKey(tc.domain, tc.selector, tc.pem); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", tc.name, err)
		}
	}
	if _, err := MarshalKey(DKIMKey{Domain: "example.org", Selector: "s"}); !errors.Is(err, ErrKey) {
		t.Errorf("MarshalKey without a key: %v", err)
	}
	if err := Sign(&bytes.Buffer{}, strings.NewReader("From: a@example.org\r\n\r\n"), nil); !errors.Is(err, ErrKey) {
		t.Errorf("Sign without keys: %v", err)
	}
	if err := Sign(&bytes.Buffer{}, strings.NewReader(" b=forged\r\nFrom: a@example.org\r\n\r\n"), keys); !errors.Is(err, ErrMalformed) {
		t.Errorf("Sign of a header starting with white space: %v", err)
	}
}

// rsaKeyPEM returns a PKCS#8 PEM RSA key of the given size, made from two
// primes because rsa.GenerateKey refuses keys below 1024 bits.
func rsaKeyPEM(bits int) ([]byte, error) {
	var k *rsa.PrivateKey
	for k == nil {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			return nil, err
		}
		q, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			return nil, err
		}
		one := big.NewInt(1)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(big.NewInt(65537), phi)
		if d == nil || p.Cmp(q) == 0 {
			continue // 65537 divides phi: try other primes
		}
		k = &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
			D:         d,
			Primes:    []*big.Int{p, q},
		}
	}
	k.Precompute()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func TestSignHeaderKeys(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	msg := "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\nList-Id: <x.example.org>\r\nX-Mailer: y\r\nReceived: from z\r\n\r\nbody\n"
	sigs, err := Signatures(strings.NewReader(msg), keys[:1])
	if err != nil {
		t.Fatal(err)
	}
	fields, _, _ := message.Split([]byte(sigs))
	if len(fields) != 1 {
		t.Fatalf("%d fields:\n%s", len(fields), sigs)
	}
	v := fields[0].Value()
	h := strings.Split(tagValue(v, "h"), ":")
	count := map[string]int{}
	for _, k := range h {
		count[k]++
	}
	for name, want := range map[string]int{"from": 2, "to": 2, "subject": 2, "reply-to": 1, "cc": 1, "list-id": 1, "list-post": 0, "x-mailer": 0, "received": 0} {
		if count[name] != want {
			t.Errorf("h= has %s %d times, want %d: %s", name, count[name], want, tagValue(v, "h"))
		}
	}
	if tagValue(v, "c") != "relaxed/relaxed" || tagValue(v, "a") != "ed25519-sha256" {
		t.Errorf("c=%s a=%s", tagValue(v, "c"), tagValue(v, "a"))
	}
	for _, l := range strings.Split(sigs, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line of %d bytes", len(l))
		}
	}

	// Sign writes the signatures and then the message, LF turned into CRLF.
	var out bytes.Buffer
	if err := Sign(&out, strings.NewReader(msg), keys); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("\r\n\r\nbody\r\n")) || bytes.Count(out.Bytes(), []byte("DKIM-Signature:")) != 2 {
		t.Errorf("signed message:\n%s", out.Bytes())
	}
	if bytes.Contains(bytes.ReplaceAll(out.Bytes(), []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF left in the signed message")
	}

	// A message without a body is signed as one with an empty body.
	m := &dns.Mock{}
	publish(m, keys...)
	res := check(t, m, "192.0.2.1", "x.example", "", sign(t, []byte("From: a@example.org\r\nSubject: x"), keys...))
	if dkimSummary(res.DKIM) != "example.org/c2026e=pass example.org/c2026r=pass" {
		t.Errorf("bodiless message: %s", dkimSummary(res.DKIM))
	}
}

func TestLoadOrCreateKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dkim")
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	keys, err := LoadOrCreateKeys(dir, "example-party.org", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector != "c2026e" || keys[1].Selector != "c2026r" {
		t.Fatalf("keys %+v", keys)
	}
	for _, k := range keys {
		fi, err := os.Stat(filepath.Join(dir, KeyFileName(k.Domain, k.Selector)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", fi.Name(), fi.Mode().Perm())
		}
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", di.Mode().Perm())
	}

	// The next start, a year later, loads the same keys.
	again, err := LoadOrCreateKeys(dir, "Example-Party.org", now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		n1, v1 := keys[i].DNSRecord()
		n2, v2 := again[i].DNSRecord()
		if n1 != n2 || v1 != v2 {
			t.Errorf("key %d changed: %s / %s", i, n1, n2)
		}
	}

	// Another domain in the same directory gets its own keys.
	other, err := LoadOrCreateKeys(dir, "other.example", now)
	if err != nil || len(other) != 2 || other[0].Domain != "other.example" {
		t.Fatalf("other domain: %v %+v", err, other)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in the key directory, want 4", len(entries))
	}

	// A key file others can read is refused.
	name := filepath.Join(dir, KeyFileName("example-party.org", "c2026e"))
	if err := os.Chmod(name, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeys(dir, "example-party.org", now); !errors.Is(err, ErrKeyFileMode) {
		t.Errorf("readable key: %v, want ErrKeyFileMode", err)
	}
	// A damaged key file is an error, not a reason to make new keys.
	if err := os.WriteFile(name, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeys(dir, "example-party.org", now); !errors.Is(err, ErrKey) {
		t.Errorf("damaged key: %v, want ErrKey", err)
	}
}

// TestSignRefusesAmbiguousFrom: DKIM signs only a header whose author was
// checked, the one From that mail/message reads (issue 12 item 2: a
// message with two From fields was signed over both, h=from:from:from).
// A From added after signing breaks the signature (the oversigned from).
func TestSignRefusesAmbiguousFrom(t *testing.T) {
	t.Parallel()
	keys := testKeys(t, "example.org")
	for _, h := range []string{
		"From: a@example.org\r\nFrom: leader@example.org\r\n",
		"From : leader@example.org\r\nFrom: a@example.org\r\n",
		"From: a@example.org, leader@example.org\r\n",
		"Sender: a@example.org\r\n",
		"From: a@example.org\r\nnot a field\r\nFrom: leader@example.org\r\n",
	} {
		if _, err := Signatures(strings.NewReader(h+"Subject: x\r\n\r\nbody\r\n"), keys); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", h, err)
		}
	}
	m := &dns.Mock{}
	publish(m, keys...)
	signed := sign(t, []byte("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"), keys...)
	forged := append([]byte("From: leader@example.org\r\n"), signed...)
	res := check(t, m, "192.0.2.1", "x.example", "", forged)
	if got := dkimSummary(res.DKIM); got != "example.org/c2026e=fail example.org/c2026r=fail" {
		t.Errorf("a From added after signing: %s, want both signatures to fail", got)
	}
}
