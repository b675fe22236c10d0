package server

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/mail/msgview"
)

// TestIMAPAppendDropsOwnFindings: a member's IMAP APPEND of a message
// dressed as the party leader's, carrying an Authentication-Results in
// this server's name ("dmarc=pass") and an X-Caucus-Warning, is stored
// without them, so webmail's findings (msgview, as webmail reads them)
// show nothing checked by caucus.
func TestIMAPAppendDropsOwnFindings(t *testing.T) {
	t.Parallel()
	srv, dir := startMailDev(t)
	anna := newMailAccount(t, srv, "anna@localhost")
	ic, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(anna.login, anna.secret).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	msg := "Authentication-Results: " + srv.cfg.Hostname + "; dmarc=pass header.from=localhost; spf=pass smtp.mailfrom=localhost; dkim=pass header.d=localhost\r\n" +
		"X-Caucus-Warning: nothing to see\r\n" +
		"From: Party Leader <leader@localhost>\r\nTo: anna@localhost\r\nSubject: Wire the money today\r\n" +
		"Date: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <forged@localhost>\r\n\r\nToday, please.\r\n"
	app := ic.Append("INBOX", int64(len(msg)), nil)
	if _, err := io.WriteString(app, msg); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := app.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	ic.Logout().Wait()

	mb, err := srv.mail.Mailbox(t.Context(), anna.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	m, err := srv.mail.AccountMessage(t.Context(), anna.id, mb.ID, data.UID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := srv.mail.OpenBody(m.Blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	stored := string(b)
	if strings.Contains(stored, "Authentication-Results") || strings.Contains(stored, "X-Caucus-Warning") || !strings.Contains(stored, "From: Party Leader <leader@localhost>") {
		t.Errorf("stored:\n%s", stored)
	}
	v, err := msgview.ParseBytes(b, msgview.Options{Hostname: srv.cfg.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	if f := v.Findings; f.Checked || f.DMARC != "" || f.Warning != "" {
		t.Errorf("webmail's findings for the appended message: %+v", f)
	}
}
