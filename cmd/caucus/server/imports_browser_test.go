package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// takeoutMbox writes a Takeout-like mbox of n messages of about size
// bytes each, labelled Inbox and "Campaign 2027", and returns its path.
func takeoutMbox(t *testing.T, n, size int) string {
	t.Helper()
	var b strings.Builder
	body := strings.Repeat("The leaflets are at the office, by the door.\n", size/45)
	for i := range n {
		fmt.Fprintf(&b, "From sender@old.example Mon Jan  5 10:00:00 2026\nX-Gmail-Labels: Inbox,Campaign 2027\nFrom: Office <office@old.example>\n"+
			"To: mover@localhost\nSubject: Leaflets %d\nMessage-ID: <leaflets-%d@old.example>\nDate: Mon, 5 Jan 2026 10:00:00 +0000\n\n%s\n", i, i, body)
	}
	p := filepath.Join(t.TempDir(), "All mail Including Spam and Trash.mbox")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cutSecondPiece fails the browser's second upload piece with a
// connection reset before it leaves (Chromium's Fetch domain), as a
// dropped connection would; every other request goes through. It counts
// the pieces the page sent.
type cutSecondPiece struct {
	mu      sync.Mutex
	tab     context.Context
	patches int
}

func (c *cutSecondPiece) listen(ev any) {
	p, ok := ev.(*fetch.EventRequestPaused)
	if !ok {
		return
	}
	c.mu.Lock()
	tab := c.tab
	cut := false
	if p.Request.Method == "PATCH" {
		c.patches++
		cut = c.patches == 2
	}
	c.mu.Unlock()
	go func() {
		if cut {
			chromedp.Call(tab, fetch.FailRequest, fetch.FailRequestParams{RequestID: p.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
			return
		}
		chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
	}()
}

// noOverflow checks that the page fits the 360 px wide window.
func noOverflow(t *testing.T, b *browsertest.Browser, page string) {
	t.Helper()
	wide, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Errorf("%s is wider than the 360 px phone", page)
	}
}

// TestBrowserImportUpload: on a 360 px phone, a member uploads a Google
// Takeout mbox of about 10 MB on "Move your mail in"; the second of its
// three pieces is cut off, and the page asks the server where the upload
// stands and goes on; the page then follows the import to its end
// without a reload by the member, and the messages are in the member's
// folders. The first admin then sees the job on the console's imports
// page.
func TestBrowserImportUpload(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	srv, enrolURL := startTestServer(t, ctx)
	const login, pw = "mover@localhost", "lantern-orchard-ballot-4417"
	key := enrolTOTPMemberKey(t, ctx, srv, login, pw)
	mbox := takeoutMbox(t, 1000, 10000)

	spki, err := browsertest.SPKIHashFile(srv.cfg.TLS.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutSecondPiece{}
	b := &browser{browsertest.Start(t, ctx, browsertest.Options{URL: srv.url, SPKI: spki, StepTimeout: 2 * time.Minute,
		Width: 360, Height: 740, Listener: cut.listen})}
	cut.mu.Lock()
	cut.tab = b.Ctx
	cut.mu.Unlock()
	b.Navigate("/")
	b.passwordSignIn(login, pw)
	b.WaitPage("/login/second", "#code")
	code, err := totp.GenerateCode(key, time.Now().Add(30*time.Second)) // the enrolment used this period's
	if err != nil {
		t.Fatal(err)
	}
	b.Do("enter the code", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Submit(chromedp.CSS("#code")))
	b.WaitPage("/account", "#importlink")
	b.Click("#importlink")
	b.WaitPage("/mail/import", "#uploadfile")
	noOverflow(t, b.Browser, "the import page")

	if _, err := chromedp.Call(b.Ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/mail/import/uploads/*", RequestStage: fetch.RequestStageRequest}}}); err != nil {
		t.Fatal(err)
	}
	b.Do("choose the file and upload", chromedp.SetUploadFiles("#uploadfile", []string{mbox}), chromedp.Click(chromedp.CSS("#uploadstart")))
	b.WaitPage("/mail/import", `.job[data-active="false"]`)
	if got := b.Text(".job"); !strings.Contains(got, "Done") || !strings.Contains(got, "1000") {
		t.Errorf("the job's card shows %q, want Done and 1000 copied", got)
	}
	cut.mu.Lock()
	patches := cut.patches
	cut.mu.Unlock()
	if patches != 4 { // three pieces, the second sent twice
		t.Errorf("the page sent %d pieces, want 4 (3 and the one cut off again)", patches)
	}
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"INBOX", "Campaign 2027"} {
		if mb, err := srv.mail.Mailbox(ctx, acct.ID, name); err != nil || mb.Messages != 1000 {
			t.Errorf("%s: %d messages (%v), want 1000", name, mb.Messages, err)
		}
	}

	// The first admin sees the job on the console.
	b.signOut()
	b.AddAuthenticator(browsertest.PlatformPasskey())
	b.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	b.register("#addpasskey", "Admin laptop")
	b.recoveryCodes()
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later")
	b.Navigate("/admin/imports")
	b.WaitPage("/admin/imports", "#jobs")
	if got := b.Text("#jobs"); !strings.Contains(got, login) || !strings.Contains(got, "Done") {
		t.Errorf("the console's imports show %q, want %s's finished job", got, login)
	}
	noOverflow(t, b.Browser, "the console's imports page")
}
