package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/metrics"
)

// TestMetricsAndHealth scrapes the metrics listener of a --dev server
// after a failed web sign-in, an IMAP sign-in and a message submitted
// and delivered locally, and checks that the counters moved and that
// the exposition parses strictly. /healthz answers 200 on the metrics
// and HTTPS listeners, and 503 once the database is closed.
func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	closed := false
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !closed {
			t.Errorf("shutdown: %v", err)
		}
	})
	alice := newMailAccount(t, srv, "alice@localhost")
	tlsCfg := devTLS(t, dir)

	if _, _, err := srv.auth.PasswordSignIn(t.Context(), alice.login, "wrong password", auth.Client{}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	ic, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := ic.Login(alice.login, alice.secret).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	ic.Logout().Wait()
	ic.Close()

	// WebDAV: a file stored with a files app password; the mail one is
	// refused there.
	_, filesSecret := enrolWithAppPassword(t, srv, "bob@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeFiles)
	dav := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer dav.CloseIdleConnections()
	for _, try := range []struct {
		login, secret string
		want          int
	}{{alice.login, alice.secret, http.StatusUnauthorized}, {"bob@localhost", filesSecret, http.StatusCreated}} {
		req, _ := http.NewRequestWithContext(t.Context(), "PUT", srv.url+"/dav/Home/notes.txt", strings.NewReader("twelve bytes"))
		req.SetBasicAuth(try.login, try.secret)
		res, err := dav.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != try.want {
			t.Fatalf("WebDAV PUT as %s: %s, want %d", try.login, res.Status, try.want)
		}
	}

	c, err := gosmtp.DialStartTLS(srv.addrs["submission"], tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", alice.login, alice.secret)); err != nil {
		t.Fatalf("smtp auth: %v", err)
	}
	msg := "From: alice@localhost\r\nTo: alice@localhost\r\nSubject: note\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <m1@localhost>\r\n\r\nHello.\r\n"
	if err := c.SendMail(alice.login, []string{alice.login}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submit: %v", err)
	}
	c.Quit()

	web := devClient(t, dir)
	res, err := web.Get("https://" + srv.addrs["https"] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS /healthz: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}

	mon := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string, string) {
		t.Helper()
		res, err := mon.Get("http://" + srv.addrs["metrics"] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, metrics.MaxParse))
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header.Get("Content-Type"), string(body)
	}
	if code, _, body := get("/healthz"); code != http.StatusOK || body != "ok\ndatabase: sqlite ok\nblobs: dir ok\n" {
		t.Errorf("metrics /healthz: %d %q", code, body)
	}
	code, ctype, body := get("/metrics")
	if code != http.StatusOK || ctype != metrics.ContentType {
		t.Fatalf("/metrics: %d %q", code, ctype)
	}
	fams, err := metrics.Parse([]byte(body))
	if err != nil {
		t.Fatalf("exposition: %v\n%s", err, body)
	}
	byName := map[string]metrics.Family{}
	for _, f := range fams {
		byName[f.Name] = f
	}
	for _, w := range []struct {
		family, sample string
		labels         []string
		min            float64
	}{
		{"caucus_signin_failures_total", "", []string{"method", "web"}, 1},
		{"caucus_signins_total", "", []string{"method", "imap"}, 1},
		{"caucus_signins_total", "", []string{"method", "smtp"}, 1},
		{"caucus_signins_total", "", []string{"method", "dav"}, 1},
		{"caucus_signin_failures_total", "", []string{"method", "dav"}, 1},
		{"caucus_files_stored_bytes", "", nil, 12},
		{"caucus_mail_accepted_total", "", []string{"via", "submission"}, 1},
		{"caucus_mail_delivered_total", "", []string{"where", "local"}, 1},
		{"caucus_connections_total", "", []string{"protocol", "imaps"}, 1},
		{"caucus_connections_total", "", []string{"protocol", "submission"}, 1},
		{"caucus_connections_total", "", []string{"protocol", "https"}, 1},
		{"caucus_http_request_duration_seconds", "caucus_http_request_duration_seconds_count", []string{"route", "GET /healthz"}, 1},
		{"caucus_mail_stored_bytes", "", nil, float64(len(msg))},
	} {
		name := w.sample
		if name == "" {
			name = w.family
		}
		v, ok := byName[w.family].Value(name, w.labels...)
		if !ok || v < w.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", name, w.labels, v, ok, w.min)
		}
	}
	if v, ok := byName["caucus_signins_total"].Value("caucus_signins_total", "method", "web"); !ok || v != 0 {
		t.Errorf("web sign-ins = %v, %v; want 0 (the only web attempt failed)", v, ok)
	}
	for _, secret := range []string{alice.secret, alice.password} {
		if strings.Contains(body, secret) {
			t.Error("a secret appears in the metrics")
		}
	}

	// The database gone, the health check says so, and nothing more.
	closed = true
	srv.db.Close()
	if code, _, body := get("/healthz"); code != http.StatusServiceUnavailable || body != "unavailable\ndatabase: sqlite unavailable\nblobs: dir ok\n" {
		t.Errorf("/healthz with the database closed: %d %q", code, body)
	}
}
