package importweb

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/testtool/dovecottest"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// TestMemberImportFromDovecot: a member moves their mail in from a real
// IMAP server (Debian's Dovecot, on 127.0.0.1) through the page. The
// server's address is loopback, so the page refuses it by default; the
// test allows 127.0.0.1 through the Dialer's explicit Allow option, and
// the job, which connects through the same Dialer, copies every message.
func TestMemberImportFromDovecot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := devcert.Ensure(certFile, keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const login, pw = "anna@dovecot.test", "dovecot-app-password"
	srv := dovecottest.Start(t, dovecottest.Options{
		Users: map[string]string{login: pw}, CertFile: certFile, KeyFile: keyFile,
		Populate: func(s *dovecottest.Server) error { return writeMaildir(s.Maildir(login), 25) },
	})
	_, port, _ := net.SplitHostPort(srv.Addr)
	form := url.Values{"provider": {"other"}, "server": {"localhost:" + port}, "login": {login}, "password": {pw}}
	for _, allow := range []bool{false, true} {
		e := newEnv(t, func(c *envConfig) {
			c.opts.TLS = &tls.Config{RootCAs: devcert.Pool(cert)}
			c.dial.Resolver.(*dns.Mock).IP["localhost"] = ipAddrs("127.0.0.1")
			if allow {
				c.dial.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
		})
		m := e.member(t, "anna")
		res := m.post(t, "/mail/import/imap", maps.Clone(form))
		if !allow {
			if res.code != http.StatusBadRequest {
				t.Fatalf("loopback server without Allow: %d, want 400", res.code)
			}
			continue
		}
		if res.code != http.StatusSeeOther {
			t.Fatalf("start: %d %s", res.code, firstError(res.body))
		}
		e.start(t)
		jobs := m.jobs(t)
		j := m.waitJob(t, jobs[0].ID)
		if j.State != mailimport.StateDone || j.Copied != 25 {
			t.Errorf("job: %+v", j)
		}
		if mb, err := e.st.Mailbox(t.Context(), m.u.Account.ID, "INBOX"); err != nil || mb.Messages != 25 {
			t.Errorf("INBOX: %d %v", mb.Messages, err)
		}
	}
}

// writeMaildir writes n messages into a Maildir's INBOX.
func writeMaildir(root string, n int) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			return err
		}
	}
	for i := range n {
		msg := fmt.Sprintf("From: Office <office@old.example>\r\nTo: anna@dovecot.test\r\nSubject: Note %d\r\nMessage-ID: <note-%d@old.example>\r\n"+
			"Date: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\n%s\r\n", i, i, strings.Repeat("Body line.\r\n", 10))
		if err := os.WriteFile(filepath.Join(root, "cur", fmt.Sprintf("%d.M%dP1.host:2,S", 1767600000+i, i)), []byte(msg), 0o644); err != nil {
			return err
		}
	}
	return nil
}
