package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets", "keys")
	k1, err := LoadKeys(path)
	if err != nil {
		t.Fatalf("LoadKeys (create): %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 64 {
		t.Errorf("key file: mode %v, size %d; want 0600, 64", fi.Mode().Perm(), fi.Size())
	}
	before, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (no temp files left)", len(entries))
	}

	k2, err := LoadKeys(path)
	if err != nil {
		t.Fatalf("LoadKeys (existing): %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("LoadKeys rewrote an existing key file")
	}
	if k1.hash("recovery", "abc") != k2.hash("recovery", "abc") {
		t.Error("keys loaded twice hash differently")
	}
	sealed := k1.seal([]byte("JBSWY3DPEHPK3PXP"), accountAD(7))
	if p, err := k2.open(sealed, accountAD(7)); err != nil || string(p) != "JBSWY3DPEHPK3PXP" {
		t.Errorf("open with reloaded keys = %q, %v", p, err)
	}

	// A file of the wrong size is refused, never replaced.
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, make([]byte, 32), 0o600)
	if _, err := LoadKeys(short); err == nil {
		t.Error("LoadKeys accepted a 32-byte file")
	}
	if b, _ := os.ReadFile(short); len(b) != 32 {
		t.Error("LoadKeys replaced a bad key file")
	}
	if _, err := LoadKeys(t.TempDir()); err == nil {
		t.Error("LoadKeys accepted a directory")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	material := make([]byte, 64)
	for i := range material {
		material[i] = byte(i)
	}
	k, err := NewKeys(material)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKeys(bytes.Repeat([]byte{2}, 64))
	for _, n := range []int{0, 32, 63, 65} {
		if _, err := NewKeys(make([]byte, n)); err == nil {
			t.Errorf("NewKeys(%d bytes) accepted", n)
		}
	}

	msg := []byte("otpauth://totp/caucus:x@example.org?secret=JBSWY3DPEHPK3PXP")
	s1, s2 := k.seal(msg, accountAD(1)), k.seal(msg, accountAD(1))
	if bytes.Equal(s1, s2) {
		t.Error("seal is deterministic: nonces repeat")
	}
	if bytes.Contains(s1, []byte("JBSWY3DPEHPK3PXP")) {
		t.Error("sealed value holds the plaintext")
	}
	if p, err := k.open(s1, accountAD(1)); err != nil || !bytes.Equal(p, msg) {
		t.Errorf("open = %q, %v", p, err)
	}
	tampered := bytes.Clone(s1)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		k      *Keys
		sealed []byte
		ad     []byte
	}{
		"other account": {k, s1, accountAD(2)},
		"other keys":    {other, s1, accountAD(1)},
		"tampered":      {k, tampered, accountAD(1)},
		"short":         {k, s1[:5], accountAD(1)},
		"empty":         {k, nil, accountAD(1)},
	} {
		if _, err := tc.k.open(tc.sealed, tc.ad); err == nil {
			t.Errorf("open (%s) succeeded", name)
		}
	}

	// Keyed hashes depend on key, domain and secret, and domains do not run
	// into secrets.
	if k.hash("recovery", "x") == other.hash("recovery", "x") ||
		k.hash("recovery", "x") == k.hash("app-password", "x") ||
		k.hash("a", "bc") == k.hash("ab", "c") {
		t.Error("keyed hash collision")
	}
	// The MAC key and the sealing key are different halves.
	if bytes.Equal(k.mac, material[32:]) || !bytes.Equal(k.mac, material[:32]) {
		t.Error("MAC key is not the first half")
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	k1, _ := NewKeys(bytes.Repeat([]byte{1}, keyFileSize))
	k2, _ := NewKeys(bytes.Repeat([]byte{2}, keyFileSize))
	a, b := k1.Derive("srs"), k1.Derive("other")
	if len(a) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, k1.Derive("srs")) || bytes.Equal(a, k2.Derive("srs")) {
		t.Errorf("Derive: srs %x, other %x, another key's srs %x", a, b, k2.Derive("srs"))
	}
	if bytes.Equal(a, k1.mac) || bytes.Contains(a, bytes.Repeat([]byte{1}, 8)) {
		t.Error("derived key shows the key file's material")
	}
}

// TestHashReusesState: hash keeps keyed HMAC states for reuse; whatever it
// hashed before, from any goroutine, each result is HMAC-SHA256 of
// domain, a zero byte and the secret under the MAC key.
func TestHashReusesState(t *testing.T) {
	t.Parallel()
	material := make([]byte, keyFileSize)
	for i := range material {
		material[i] = byte(i)
	}
	k, err := NewKeys(material)
	if err != nil {
		t.Fatal(err)
	}
	want := func(domain, secret string) [32]byte {
		m := hmac.New(sha256.New, material[:32])
		m.Write([]byte(domain + "\x00" + secret))
		var out [32]byte
		m.Sum(out[:0])
		return out
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				d, s := "app-password", fmt.Sprintf("secret-%d-%d", g, i%7)
				if i%3 == 0 {
					d = "recovery"
				}
				if got := k.hash(d, s); got != want(d, s) {
					t.Errorf("hash(%q, %q) = %x, want %x", d, s, got, want(d, s))
					return
				}
			}
		})
	}
	wg.Wait()
}
