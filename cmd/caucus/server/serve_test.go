package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/devcert"
)

var enrolLine = regexp.MustCompile(`^enrol: (https://localhost:\d+/enrol/[A-Za-z0-9_-]{43})\n$`)

// startDev starts a --dev server in dir on a free port.
func startDev(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	var out bytes.Buffer
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: &out, NoNotices: true})
	if err != nil {
		t.Fatal(err)
	}
	return srv, out.String()
}

func devClient(t *testing.T, dir string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "dev-cert.pem"), filepath.Join(dir, "dev-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestServeDev runs the demo as the README says: first start prints the
// admin's enrolment link, which opens over TLS with the dev certificate; a
// restart keeps the certificate and data, and prints a fresh link because
// the admin never enrolled (the old one stops working).
func TestServeDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, out := startDev(t, dir)
	m := enrolLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("first start printed %q, want one enrol: line", out)
	}
	first := m[1]
	client := devClient(t, dir)
	get := func(url string) *http.Response {
		t.Helper()
		// The printed URL names localhost; dial the real port on 127.0.0.1.
		url = strings.Replace(url, "https://localhost:", "https://127.0.0.1:", 1)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Host = "localhost"
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get(first); res.StatusCode != http.StatusOK {
		t.Fatalf("enrol link: status %d", res.StatusCode)
	}
	if res := get(srv.url + "/account"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("/account signed out: %d %q, want redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
	// Mail ports speak their own ALPN, never the web's: a client offering
	// "imap" (as go-imap's does) connects; a client offering only web
	// protocols is refused on IMAPS (no cross-protocol use, ALPACA).
	roots := client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, tc := range []struct {
		listener string
		offer    []string
		want     string
	}{
		{"imaps", []string{"imap", "h2"}, "imap"},
		{"imaps", []string{"h2", "http/1.1"}, "refused"},
		{"submissions", []string{"h2", "smtp"}, ""},
	} {
		conn, err := tls.Dial("tcp", srv.addrs[tc.listener], &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: tc.offer})
		if tc.want == "refused" {
			if err == nil {
				conn.Close()
				t.Errorf("%s accepted a client offering only %v", tc.listener, tc.offer)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s offering %v: %v", tc.listener, tc.offer, err)
			continue
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != tc.want {
			t.Errorf("%s offering %v negotiated %q, want %q", tc.listener, tc.offer, got, tc.want)
		}
		conn.Close()
	}
	certBefore, err := os.ReadFile(filepath.Join(dir, "dev-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	srv2, out2 := startDev(t, dir)
	defer srv2.Shutdown(context.Background())
	m2 := enrolLine.FindStringSubmatch(out2)
	if m2 == nil || m2[1] == first {
		t.Fatalf("second start printed %q, want a fresh enrol: line", out2)
	}
	certAfter, _ := os.ReadFile(filepath.Join(dir, "dev-cert.pem"))
	if !bytes.Equal(certBefore, certAfter) {
		t.Error("dev certificate was replaced on restart; it must be reused")
	}
	// The old link no longer works; the new one does.
	first = strings.Replace(first, srv.url, srv2.url, 1)
	if res := get(first); res.StatusCode == http.StatusOK {
		t.Error("the first enrolment link still works after a new one was issued")
	}
	if res := get(m2[1]); res.StatusCode != http.StatusOK {
		t.Errorf("fresh enrol link: status %d", res.StatusCode)
	}
	accts, err := srv2.auth.Accounts(t.Context())
	if err != nil || len(accts) != 1 || accts[0].Login != "admin@localhost" || !accts[0].IsAdmin() {
		t.Fatalf("accounts after two starts: %+v, %v; want one admin", accts, err)
	}
}
