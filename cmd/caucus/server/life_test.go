package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestBrowserVolunteerLife is the life of a volunteer through the console,
// in headless Chromium with virtual authenticators: the admin enrols and
// invites from the console; the volunteer enrols a passkey, lands on "set up
// your phone" and makes an app password there; their phone's IMAP IDLE
// connection is open when the admin offboards them with the admin as
// successor; the connection is cut at once, the app password and the passkey
// are refused, mail to the old address goes to the successor, and the report
// lists every step. The volunteer's WebDAV client, with a files app
// password, has an upload streaming at that moment: it is cut too, its
// half-sent file appears nowhere, and the files the volunteer owned now
// belong to the successor. Then the admin starts incident mode, is signed
// out, comes back with the passkey, and lifts it.
func TestBrowserVolunteerLife(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)

	admin := newBrowser(t, ctx, srv)
	link := consoleInvite(t, admin, srv, enrolURL)

	// The volunteer enrols a passkey and sets up their phone.
	vol := newBrowser(t, ctx, srv)
	vol.AddAuthenticator(browsertest.PlatformPasskey())
	vol.acceptInvite(link, "Motion-Quorum-7731-Seconded")
	vol.register("#addpasskey", "Val's phone")
	vol.recoveryCodes()
	vol.Click("#done")
	vol.WaitPage("/setup/phone", "#makeap")
	vol.Do("make an app password",
		chromedp.SendKeys(chromedp.CSS("#apname"), "Val's Android"),
		chromedp.Click(chromedp.CSS("#makeap")),
	)
	vol.WaitPage("/setup/phone", "#apqr")
	secret := strings.TrimSpace(vol.Text("#apsecret"))

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

	// The volunteer's laptop syncs files over WebDAV with an app password
	// for files: it stores a plan, and keeps an upload streaming.
	vol.Navigate("/account")
	vol.WaitPage("/account", "#apcreate")
	vol.Do("make a files app password",
		chromedp.SendKeys(chromedp.CSS("#apname"), "Val's laptop"),
		chromedp.SetValue(chromedp.CSS("#apscope"), "files"),
		chromedp.Click(chromedp.CSS("#apcreate")),
	)
	vol.WaitPage("/account/app-passwords", "#apsecret")
	filesSecret := strings.TrimSpace(vol.Text("#apsecret"))
	davClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	t.Cleanup(davClient.CloseIdleConnections)
	dav := func(method, path string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, srv.url+path, body)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(volLogin, filesSecret)
		return davClient.Do(req)
	}
	res, err := dav("PUT", "/dav/Home/plan.txt", strings.NewReader("campaign plan"))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("WebDAV PUT: %v %v", res, err)
	}
	res.Body.Close()
	body, feed := io.Pipe()
	defer feed.Close()
	sent := make(chan struct{})
	go func() {
		chunk := make([]byte, 32<<10)
		for i := 0; ; i++ {
			if _, err := feed.Write(chunk); err != nil {
				return
			}
			if i == 0 {
				close(sent) // the request is on its way
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	upload := make(chan error, 1)
	go func() {
		res, err := dav("PUT", "/dav/Home/unfinished.bin", body)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("status %s", res.Status)
		}
		upload <- err
	}()
	<-sent
	// The first chunk read is not yet the request signed in: the plan
	// counts live connections (it read 1 of 2 now and then in CI).
	waitLive(t, srv, acct.ID, 2)

	// The admin reads the plan, then offboards, with themselves as successor.
	adminAcct, err := srv.auth.AccountByLogin(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"plan": {"1"}, "successor": {strconv.FormatInt(adminAcct.ID, 10)}, "forward": {"1"}, "autoreply": {"Val has left; write to the office."}, "read": {"1"}}
	admin.Navigate("/admin/people/" + strconv.FormatInt(acct.ID, 10) + "/offboard?" + q.Encode())
	admin.WaitPage("/admin/people/"+strconv.FormatInt(acct.ID, 10)+"/offboard", "#offboardnow")
	if plan := admin.Text("#plan"); !strings.Contains(plan, "2 app passwords, 2 live connections closed") {
		t.Errorf("plan:\n%s", plan)
	}
	admin.acceptConfirm()
	start := time.Now()
	admin.Click("#offboardnow")
	select {
	case <-phone.Closed():
		t.Logf("IMAP IDLE cut %v after the click", time.Since(start))
	case <-time.After(time.Second + pageTimeout): // the click itself may wait for the page
		t.Fatal("IMAP IDLE still open after offboarding")
	}
	select {
	case err := <-upload:
		t.Logf("WebDAV upload cut %v after the click: %v", time.Since(start), err)
	case <-time.After(time.Second + pageTimeout):
		t.Fatal("WebDAV upload still streaming after offboarding")
	}
	admin.WaitPage(reportPage(t, ctx, srv, "admin.offboard", volLogin), "#reporttext") // the saved report
	steps := admin.Text("#steps")
	for _, want := range []string{"access revoked", "sign-in disabled", "factors removed", "files", "mail forwarded", "auto-reply", "mailbox retained", "successor read access"} {
		if !strings.Contains(steps, want) {
			t.Errorf("report lacks %q:\n%s", want, steps)
		}
	}
	if strings.Contains(steps, "failed") {
		t.Errorf("a step failed:\n%s", steps)
	}

	checkOffboardedVolunteer(t, ctx, srv, vol, dav, acct, adminAcct, secret)
	incidentModeRoundTrip(t, ctx, srv, admin)
}

// The two people of TestBrowserVolunteerLife.
const adminLogin, volLogin = "admin@localhost", "vol@localhost"

// consoleInvite enrols the first admin in the browser admin with a
// passkey, through the phone page, and invites the volunteer from the
// console; it returns the invitation link.
func consoleInvite(t *testing.T, admin *browser, srv *Server, enrolURL string) string {
	// The admin enrols, and passes through the phone page.
	admin.AddAuthenticator(browsertest.PlatformPasskey())
	admin.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	admin.register("#addpasskey", "Admin laptop")
	admin.recoveryCodes()
	admin.Click("#done")
	admin.WaitPage("/setup/phone", "#later")

	// Invite from the console: a link and its QR code.
	admin.Navigate("/admin/people")
	admin.WaitPage("/admin/people", "#sendinvite")
	if got, want := admin.Text("header .brand"), partyName(t, srv); got != want {
		t.Errorf("the console's header names %q, want the party's name %q as on every page", got, want)
	}
	admin.Do("invite",
		chromedp.SendKeys(chromedp.CSS("#login"), volLogin),
		chromedp.SendKeys(chromedp.CSS("#name"), "Val Volunteer"),
		chromedp.Click(chromedp.CSS("#sendinvite")),
	)
	admin.WaitPage("/admin/invites/link", "#inviteqr") // after the invite, its link's page
	link := strings.TrimSpace(admin.Text("#invitelink"))
	if !strings.HasPrefix(link, srv.url+"/enrol/") {
		t.Fatalf("invite link %q", link)
	}

	return link
}

// checkOffboardedVolunteer checks what offboarding left: the app password,
// the factors, the passkey and WebDAV refused; the plan the successor's,
// the half-sent upload nowhere; mail to the successor; one audit record.
func checkOffboardedVolunteer(t *testing.T, ctx context.Context, srv *Server, vol *browser,
	dav func(method, path string, body io.Reader) (*http.Response, error), acct, adminAcct auth.Account, secret string) {
	// Everything is refused; mail goes to the successor.
	if _, err := srv.auth.AppPassword(ctx, volLogin, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("the app password still works")
	}
	if fs, _ := srv.auth.Factors(ctx, acct.ID); len(fs) != 0 {
		t.Errorf("factors left: %+v", fs)
	}
	vol.Navigate("/login")
	vol.WaitPage("/login", "#passkey")
	vol.Click("#passkey")
	// The ceremony runs in the page: wait for its outcome.
	wctx, wcancel := context.WithTimeout(vol.Ctx, pageTimeout)
	defer wcancel()
	for {
		st, err := vol.State(wctx, "body")
		if err == nil && st.Path != "/login" {
			t.Fatalf("the passkey still signs in: %s", st.Path)
		}
		if err == nil && st.Status != "" && !strings.HasPrefix(st.Status, "Follow your browser") {
			t.Logf("passkey refused: %q", st.Status)
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("no outcome of the passkey sign-in: %s", vol.Describe())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if res, err := dav("PROPFIND", "/dav/", nil); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("WebDAV after offboarding: %v %v, want 401", res, err)
	} else {
		res.Body.Close()
	}
	// The successor owns the plan; the half-sent upload is nowhere.
	successor := files.Actor{ID: adminAcct.ID, Login: adminLogin}
	moved := "/Home/From " + volLogin
	plan, err := srv.files.Stat(ctx, successor, moved+"/plan.txt")
	if err != nil {
		t.Fatalf("the successor's copy of the plan: %v", err)
	}
	if f, _, err := srv.files.Open(ctx, successor, plan.ID); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "campaign plan" {
			t.Errorf("the plan reads %q", b)
		}
	}
	if _, err := srv.files.Stat(ctx, successor, moved+"/unfinished.bin"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("the cut upload: %v, want ErrNotFound", err)
	}
	tgt, err := srv.dir.Resolve(ctx, volLogin)
	if err != nil || !slices.Contains(tgt.Accounts, adminAcct.ID) {
		t.Errorf("mail to %s goes to %+v, %v; want the successor", volLogin, tgt, err)
	}
	wantAudit(t, ctx, srv, volLogin, "admin.offboard", 1)
}

// incidentModeRoundTrip: incident mode signs the admin out too; the
// console opens again after a passkey sign-in, shows the banner, and the
// switch lifts it.
func incidentModeRoundTrip(t *testing.T, ctx context.Context, srv *Server, admin *browser) {
	// Incident mode signs the admin out too; the console opens again after
	// a passkey sign-in, shows the banner, and the switch lifts it.
	admin.Navigate("/admin")
	admin.WaitPage("/admin", "#incidenton")
	admin.acceptConfirm()
	admin.Click("#incidenton")
	admin.WaitPage("/login", "#passkey")
	admin.Click("#passkey") // then the report of what was revoked
	admin.WaitPage(reportPage(t, ctx, srv, "admin.incident.on", adminLogin), "#steps")
	admin.Navigate("/admin")
	admin.WaitPage("/admin", "#incidentoff")
	if banner := admin.Text(".error"); !strings.Contains(banner, "Incident mode is on") {
		t.Errorf("no incident banner: %q", banner)
	}
	admin.acceptConfirm()
	admin.Click("#incidentoff")
	admin.WaitPage(reportPage(t, ctx, srv, "admin.incident.off", adminLogin), "#steps")
	wantAudit(t, ctx, srv, adminLogin, "admin.incident.on", 1)
	wantAudit(t, ctx, srv, adminLogin, "admin.incident.off", 1)
}

// reportPage waits for the audit record of an admin action of kind about
// login and returns the address of the action's saved report, where the
// console leads after the action.
func reportPage(t *testing.T, ctx context.Context, srv *Server, kind, login string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	for {
		recs, err := srv.audit.List(ctx, audit.Filter{Kind: kind, Account: login})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			first, _, _ := strings.Cut(r.Detail, " ")
			if id, ok := strings.CutPrefix(first, "report="); r.Kind == kind && ok {
				return "/admin/reports/" + id
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s record about %s with a report", kind, login)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// acceptConfirm makes the page's confirmation questions answer yes.
func (b *browser) acceptConfirm() {
	b.T.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`window.confirm = () => true; true`)); err != nil {
		b.T.Fatal(err)
	}
}

// partyName is the party's name as the pages show it.
func partyName(t *testing.T, srv *Server) string {
	t.Helper()
	p, err := ui.PartyOf(srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p.DisplayName()
}

// waitLive waits until the account has n live connections registered.
func waitLive(t *testing.T, srv *Server, id int64, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); srv.auth.Hub().Live(id) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d live connections of account %d, want %d", srv.auth.Hub().Live(id), id, n)
		}
	}
}
