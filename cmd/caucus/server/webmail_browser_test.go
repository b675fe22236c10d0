package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// TestBrowserWebmailWired: in the whole server, the site's root is a
// signed-in member's mail; a message delivered through mail/submit is in
// the INBOX list and opens; the reply written in the browser reaches the
// sender's phone, a second session over IMAP. (mail/webmail's own tests
// cover webmail in depth; this one proves the wiring: the store, the
// submit path and the sign-in are the server's.)
func TestBrowserWebmailWired(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "reader@localhost", "lantern-orchard-ballot-4417"
	key := enrolTOTPMemberKey(t, ctx, srv, login, pw)
	ben := newMailAccount(t, srv, "ben@localhost") // reads his mail on a phone (IMAP)
	msg := "From: Campaign Office <ben@localhost>\r\nTo: reader@localhost\r\nSubject: Leaflets for Saturday\r\n" +
		"Message-ID: <wired-1@localhost>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\r\nThe leaflets are at the office.\r\n"
	if err := srv.submit.DeliverLocal(ctx, login, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := srv.mail.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, ctx, srv)
	b.Navigate("/")
	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#code")
	// The enrolment used this period's code, and a code counts once: the
	// next period's (within the allowed skew) is the one a phone would
	// show a moment later.
	code, err := totp.GenerateCode(key, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.Do("enter the code",
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Submit(chromedp.CSS("#code")),
	)
	// Signed in (a member without recovery codes is shown the account
	// page first), the site's root is their mail.
	b.WaitPage("/account", "main")
	b.Navigate("/")
	b.WaitPage("/mail/box/"+strconv.FormatInt(inbox.ID, 10), "#rows")
	if got, want := b.Text("header .brand"), partyName(t, srv); got != want {
		t.Errorf("webmail's header names %q, want the party's name %q as on every page", got, want)
	}
	if got := b.Text("#rows"); !strings.Contains(got, "Leaflets for Saturday") || !strings.Contains(got, "Campaign Office") {
		t.Fatalf("the INBOX list shows %q, want the delivered message", got)
	}
	b.Click("#rows a")
	b.WaitPrefix("/mail/msg/", "#replybtn")
	if got := b.Text("#subject"); !strings.Contains(got, "Leaflets for Saturday") {
		t.Errorf("the message page's subject is %q", got)
	}

	// The reply, written in the browser, reaches Ben's phone: a second
	// session, over IMAP with his app password.
	b.Click("#replybtn")
	b.WaitPage("/mail/compose", "#body")
	b.Do("write and send",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#body").value = "Two hundred, at nine.\n" + document.querySelector("#body").value`),
		chromedp.Click(chromedp.CSS("#sendbtn")),
	)
	c, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, srv.cfg.DataDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ben.login, ben.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for deadline := time.Now().Add(pageTimeout); ; {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
		subjects = subjects[:0]
		for _, m := range msgs {
			subjects = append(subjects, m.Envelope.Subject)
		}
		if err == nil && len(subjects) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(subjects) != 1 || subjects[0] != "Re: Leaflets for Saturday" {
		t.Errorf("Ben's INBOX over IMAP holds %q, want the reply", subjects)
	}
}
