package main

import (
	"context"
	"crypto/tls"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool"
)

// TestBrowserVolunteerLife is the life of a volunteer through the console,
// in headless Chromium with virtual authenticators: the admin enrols and
// invites from the console; the volunteer enrols a passkey, lands on "set up
// your phone" and makes an app password there; their phone's IMAP IDLE
// connection is open when the admin offboards them with the admin as
// successor; the connection is cut at once, the app password and the passkey
// are refused, mail to the old address goes to the successor, and the report
// lists every step. Then the admin starts incident mode, is signed out,
// comes back with the passkey, and lifts it. (Files and WebDAV join this
// test when package files is merged.)
func TestBrowserVolunteerLife(t *testing.T) {
	t.Parallel()
	chromium := testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	const adminLogin, volLogin = "admin@localhost", "vol@localhost"

	// The admin enrols, and passes through the phone page.
	admin := newBrowser(t, ctx, chromium, srv)
	admin.addAuthenticator(platformPasskey)
	admin.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	admin.register("#addpasskey", "Admin laptop")
	admin.recoveryCodes()
	admin.click("#done")
	admin.waitPage("/setup/phone", "#later")

	// Invite from the console: a link and its QR code.
	admin.navigate("/admin/people")
	admin.waitPage("/admin/people", "#sendinvite")
	admin.do("invite",
		chromedp.SendKeys(chromedp.CSS("#login"), volLogin),
		chromedp.SendKeys(chromedp.CSS("#name"), "Val Volunteer"),
		chromedp.Click(chromedp.CSS("#sendinvite")),
	)
	admin.waitPage("/admin/invites", "#inviteqr")
	link := strings.TrimSpace(admin.text("#invitelink"))
	if !strings.HasPrefix(link, srv.url+"/enrol/") {
		t.Fatalf("invite link %q", link)
	}

	// The volunteer enrols a passkey and sets up their phone.
	vol := newBrowser(t, ctx, chromium, srv)
	vol.addAuthenticator(platformPasskey)
	vol.acceptInvite(link, "Motion-Quorum-7731-Seconded")
	vol.register("#addpasskey", "Val's phone")
	vol.recoveryCodes()
	vol.click("#done")
	vol.waitPage("/setup/phone", "#makeap")
	vol.do("make an app password",
		chromedp.SendKeys(chromedp.CSS("#apname"), "Val's Android"),
		chromedp.Click(chromedp.CSS("#makeap")),
	)
	vol.waitPage("/setup/phone", "#apqr")
	secret := strings.TrimSpace(vol.text("#apsecret"))

	// The phone keeps an IMAP IDLE connection open.
	acct, err := srv.auth.AccountByLogin(ctx, volLogin)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.mail.EnsureAccount(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(srv.cfg.TLS.CertFile, srv.cfg.TLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}
	phone, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if err := phone.Login(volLogin, secret).Wait(); err != nil {
		t.Fatalf("IMAP login with the phone's app password: %v", err)
	}
	if _, err := phone.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := phone.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	// The admin reads the plan, then offboards, with themselves as successor.
	adminAcct, err := srv.auth.AccountByLogin(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"plan": {"1"}, "successor": {strconv.FormatInt(adminAcct.ID, 10)}, "forward": {"1"}, "autoreply": {"Val has left; write to the office."}, "read": {"1"}}
	admin.navigate("/admin/people/" + strconv.FormatInt(acct.ID, 10) + "/offboard?" + q.Encode())
	admin.waitPage("/admin/people/"+strconv.FormatInt(acct.ID, 10)+"/offboard", "#offboardnow")
	if plan := admin.text("#plan"); !strings.Contains(plan, "1 app passwords, 1 live connections closed") {
		t.Errorf("plan:\n%s", plan)
	}
	admin.acceptConfirm()
	start := time.Now()
	admin.click("#offboardnow")
	select {
	case <-phone.Closed():
		t.Logf("IMAP IDLE cut %v after the click", time.Since(start))
	case <-time.After(time.Second + pageTimeout): // the click itself may wait for the page
		t.Fatal("IMAP IDLE still open after offboarding")
	}
	admin.waitPage("/admin/people/"+strconv.FormatInt(acct.ID, 10)+"/offboard", "#reporttext")
	steps := admin.text("#steps")
	for _, want := range []string{"access revoked", "sign-in disabled", "factors removed", "mail forwarded", "auto-reply", "mailbox retained", "successor read access"} {
		if !strings.Contains(steps, want) {
			t.Errorf("report lacks %q:\n%s", want, steps)
		}
	}
	if strings.Contains(steps, "failed") {
		t.Errorf("a step failed:\n%s", steps)
	}

	// Everything is refused; mail goes to the successor.
	if _, err := srv.auth.AppPassword(ctx, volLogin, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("the app password still works")
	}
	if fs, _ := srv.auth.Factors(ctx, acct.ID); len(fs) != 0 {
		t.Errorf("factors left: %+v", fs)
	}
	vol.navigate("/login")
	vol.waitPage("/login", "#passkey")
	vol.click("#passkey")
	// The ceremony runs in the page: wait for its outcome.
	wctx, wcancel := context.WithTimeout(vol.ctx, pageTimeout)
	defer wcancel()
	for {
		st, err := vol.state(wctx, "body")
		if err == nil && st.Path != "/login" {
			t.Fatalf("the passkey still signs in: %s", st.Path)
		}
		if err == nil && st.Status != "" && !strings.HasPrefix(st.Status, "Follow your browser") {
			t.Logf("passkey refused: %q", st.Status)
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("no outcome of the passkey sign-in: %s", vol.describe())
		case <-time.After(50 * time.Millisecond):
		}
	}
	tgt, err := srv.dir.Resolve(ctx, volLogin)
	if err != nil || !slices.Contains(tgt.Accounts, adminAcct.ID) {
		t.Errorf("mail to %s goes to %+v, %v; want the successor", volLogin, tgt, err)
	}
	wantAudit(t, ctx, srv, volLogin, "admin.offboard", 1)

	// Incident mode signs the admin out too; the console opens again after
	// a passkey sign-in, shows the banner, and the switch lifts it.
	admin.navigate("/admin")
	admin.waitPage("/admin", "#incidenton")
	admin.acceptConfirm()
	admin.click("#incidenton")
	admin.waitPage("/login", "#passkey")
	admin.click("#passkey")
	admin.waitPage("/admin", "#incidentoff")
	if banner := admin.text(".error"); !strings.Contains(banner, "Incident mode is on") {
		t.Errorf("no incident banner: %q", banner)
	}
	admin.acceptConfirm()
	admin.click("#incidentoff")
	admin.waitPage("/admin/incident", "#steps")
	wantAudit(t, ctx, srv, adminLogin, "admin.incident.on", 1)
	wantAudit(t, ctx, srv, adminLogin, "admin.incident.off", 1)
}

// acceptConfirm makes the page's confirmation questions answer yes.
func (b *browser) acceptConfirm() {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.confirm = () => true; true`)); err != nil {
		b.t.Fatal(err)
	}
}
