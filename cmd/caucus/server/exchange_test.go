package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// peer is one caucus instance of the exchange test.
type peer struct {
	srv    *Server
	domain string
	dir    string
}

// TestTwoInstancesExchangeMail: two caucus instances, on 127.0.0.1 and
// 127.0.0.2, each with its own domain in a fake resolver, exchange mail
// through the real queue over real SMTP with STARTTLS. The receiver checks
// the sender's DKIM signatures, SPF and DMARC, and so does Debian's
// python3-dkim, an independent verifier.
func TestTwoInstancesExchangeMail(t *testing.T) {
	t.Parallel()
	resolver := &dns.Mock{
		MX: map[string][]*net.MX{"alpha-party.test": {{Host: "mx.alpha-party.test.", Pref: 10}}, "beta-party.test": {{Host: "mx.beta-party.test.", Pref: 10}}},
		IP: map[string][]net.IPAddr{"mx.alpha-party.test": {{IP: net.ParseIP("127.0.0.1")}}, "mx.beta-party.test": {{IP: net.ParseIP("127.0.0.2")}}},
		TXT: map[string][]string{
			"alpha-party.test": {"v=spf1 ip4:127.0.0.1 -all"}, "_dmarc.alpha-party.test": {"v=DMARC1; p=reject; adkim=s; aspf=s"},
			"beta-party.test": {"v=spf1 ip4:127.0.0.2 -all"}, "_dmarc.beta-party.test": {"v=DMARC1; p=reject; adkim=s; aspf=s"},
		},
	}
	start1 := peerStarter(t, resolver)
	a := start1("alpha-party.test", "127.0.0.1")
	b := start1("beta-party.test", "127.0.0.2")
	alice := newMailAccount(t, a.srv, "alice@alpha-party.test")
	bob := newMailAccount(t, b.srv, "bob@beta-party.test")

	body := "From: Alice <alice@alpha-party.test>\r\nTo: Bob <bob@beta-party.test>\r\nSubject: Across parties\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <x1@alpha-party.test>\r\n\r\nSee you at the coalition meeting.\r\n"
	c, err := gosmtp.DialStartTLS(a.srv.addrs["submission"], devTLS(t, a.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", alice.login, alice.secret)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(alice.login, []string{bob.login}, strings.NewReader(body)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	got := waitInbox(t, b.srv, bob.id, 1)
	msg := got[0]
	for _, want := range []string{"spf=pass", "dkim=pass", "dmarc=pass", "See you at the coalition meeting."} {
		if !strings.Contains(msg, want) {
			t.Errorf("received message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "DKIM-Signature:") != 2 {
		t.Errorf("want an ed25519 and an RSA signature:\n%s", msg)
	}
	if strings.Contains(msg, "[External]") {
		t.Error("authenticated mail from a partner domain was tagged [External]")
	}
	if !strings.Contains(msg, "with ESMTPS") && !strings.Contains(msg, "using TLS") {
		t.Errorf("the queue did not use STARTTLS to reach beta-party.test:\n%s", msg)
	}
	verifyWithDKIMPy(t, []byte(msg), resolver)

	// Bob forwards to an address alpha does not have. Beta forwards
	// alice's next message under an SRS sender of its own; alpha refuses
	// the recipient; beta's bounce goes to the SRS sender, which beta
	// turns back to alice, DKIM-signed, so that it passes alpha's DMARC
	// check of beta-party.test (p=reject, strict).
	if err := b.srv.dir.SetForwarding(t.Context(), "test", bob.id, "nobody@alpha-party.test", false); err != nil {
		t.Fatal(err)
	}
	body2 := strings.Replace(strings.Replace(body, "x1@", "x2@", 1), "Across parties", "Forwarded on", 1)
	if err := c.SendMail(alice.login, []string{bob.login}, strings.NewReader(body2)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	dsn := waitInbox(t, a.srv, alice.id, 1)[0]
	for _, want := range []string{"message/delivery-status", "nobody@alpha-party.test", "dkim=pass", "dmarc=pass", "Forwarded on"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("alice's bounce lacks %q:\n%s", want, dsn)
		}
	}
}

// peerStarter returns a function that starts a caucus instance for a
// domain on an address of 127.0.0.0/8, its MX and DKIM keys in resolver,
// its queue delivering to the other instances it started.
func peerStarter(t *testing.T, resolver *dns.Mock) func(domain, ip string) *peer {
	var smtpAddrs sync.Map // IP → that instance's MX address
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		mx, ok := smtpAddrs.Load(host)
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrNotExist}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, mx.(string))
	}
	return func(domain, ip string) *peer {
		dir := t.TempDir()
		cfg := config.Dev(dir)
		cfg.Hostname = "mx." + domain
		cfg.MailDomains = []string{domain}
		cfg.Listen = FreeListen(cfg.Listen)
		cfg.Listen.HTTPS = ip + ":0"
		cfg.Listen.SMTP = ip + ":0"
		srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)).With("instance", domain),
			Out: io.Discard, Resolver: resolver, QueueDial: dial, NoNotices: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		})
		smtpAddrs.Store(ip, srv.addrs["smtp"])
		keys, err := msgauth.LoadOrCreateKeys(filepath.Join(dir, "dkim"), domain, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			name, value := k.DNSRecord()
			resolver.TXT[name] = []string{value}
		}
		return &peer{srv: srv, domain: domain, dir: dir}
	}
}

// devTLS trusts the dev certificate of the instance in dir.
func devTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	return devClient(t, dir).Transport.(*http.Transport).TLSClientConfig
}

// waitInbox waits up to 15 s for n messages in an account's INBOX.
func waitInbox(t *testing.T, srv *Server, accountID int64, n int) []string {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mb, err := srv.mail.Mailbox(ctx, accountID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if int(mb.Messages) >= n {
			uids, err := srv.mail.UIDs(ctx, mb.ID)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := srv.mail.Messages(ctx, mb.ID, uids)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range msgs {
				r, err := srv.mail.OpenBody(m.Blob)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				b.ReadFrom(r)
				r.Close()
				out = append(out, b.String())
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s the INBOX holds %d messages, want %d", mb.Messages, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const pyVerify = `
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
records = {}
for i in range(2, len(sys.argv), 2):
    records[sys.argv[i].encode()] = sys.argv[i + 1].encode()
def dnsfunc(name, timeout=5):
    return records.get(name.rstrip(b'.').lower())
d = dkim.DKIM(msg)
n = sum(1 for k, v in d.headers if k.lower() == b'dkim-signature')
ok = all(d.verify(idx=i, dnsfunc=dnsfunc) for i in range(n))
print(n, ok)
`

// verifyWithDKIMPy checks every signature of msg with Debian's
// python3-dkim, keys taken from the fake resolver.
func verifyWithDKIMPy(t *testing.T, msg []byte, r *dns.Mock) {
	t.Helper()
	py := ""
	for _, p := range []string{testtool.Need(t, "python3"), "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import dkim, nacl").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 cannot import dkim and nacl: install python3-dkim")
		}
		t.Skip("python3-dkim not installed")
	}
	dir := t.TempDir()
	script, file := filepath.Join(dir, "verify.py"), filepath.Join(dir, "msg.eml")
	os.WriteFile(script, []byte(pyVerify), 0o600)
	os.WriteFile(file, msg, 0o600)
	args := []string{script, file}
	for name, v := range r.TXT {
		if strings.Contains(name, "._domainkey.") {
			args = append(args, strings.ToLower(name), strings.Join(v, ""))
		}
	}
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2 True" {
		t.Errorf("python3-dkim: %v: %s", err, out)
	}
}
