package server

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestTestSSL runs testssl.sh, an independent TLS scanner (built on
// OpenSSL), against the --dev HTTPS and IMAPS listeners: SSLv2, SSLv3,
// TLS 1.0 and 1.1 are not offered, TLS 1.2 and 1.3 are, no weak cipher
// category is offered, and every TLS 1.2 suite is ECDHE with an AEAD.
func TestTestSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs testssl.sh over two listeners (about 30 s); go test without -short runs it")
	}
	t.Parallel()
	testssl := testtool.Need(t, "testssl")
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, listener := range []string{"https", "imaps"} {
		t.Run(listener, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "testssl.json")
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, testssl, "--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none",
				"--openssl-timeout", "10", "-p", "-s", "-E", "--jsonfile", out, srv.addrs[listener])
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("testssl: %v\n%s", err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var findings []struct{ ID, Severity, Finding string }
			if err := json.Unmarshal(data, &findings); err != nil {
				t.Fatalf("testssl JSON: %v", err)
			}
			byID := map[string]string{}
			tls12 := 0
			for _, f := range findings {
				byID[f.ID] = f.Finding
				switch f.Severity {
				case "LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL":
					t.Errorf("testssl %s: %s %s", f.ID, f.Severity, f.Finding)
				}
				if strings.HasPrefix(f.ID, "cipher-tls1_2_") {
					tls12++
					if !strings.Contains(f.Finding, "ECDHE") || !(strings.Contains(f.Finding, "GCM") || strings.Contains(f.Finding, "CHACHA20")) {
						t.Errorf("TLS 1.2 suite without ECDHE+AEAD: %s", f.Finding)
					}
				}
				if strings.HasPrefix(f.ID, "cipher-tls1_") && !strings.HasPrefix(f.ID, "cipher-tls1_2_") && !strings.HasPrefix(f.ID, "cipher-tls1_3_") {
					t.Errorf("a suite for an old protocol: %s", f.Finding)
				}
			}
			for id, want := range map[string]string{
				"SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered", "TLS1_1": "not offered",
				"TLS1_2": "offered", "TLS1_3": "offered",
				"cipherlist_NULL": "not offered", "cipherlist_aNULL": "not offered", "cipherlist_EXPORT": "not offered",
				"cipherlist_LOW": "not offered", "cipherlist_3DES_IDEA": "not offered", "cipherlist_AVERAGE": "not offered",
				"cipherlist_STRONG": "offered",
			} {
				if got, ok := byID[id]; !ok || !strings.HasPrefix(got, want) {
					t.Errorf("testssl %s: %q (present %v), want %q", id, got, ok, want)
				}
			}
			if tls12 == 0 {
				t.Error("testssl listed no TLS 1.2 suite")
			}
		})
	}
}
