package server

import (
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// TestBrowserNewDeviceNotice: in headless Chromium, the first admin enrols
// a passkey and signs in with it again in the same browser: nothing new.
// The same passkey in a second browser (a fresh profile: a new device)
// signs in too, and the admin's INBOX gets the notice naming Chrome on
// Linux.
func TestBrowserNewDeviceNotice(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*browserTestTimeout)
	defer cancel()
	srv, enrolURL := startTestServerNotices(t, ctx, true)
	first := newBrowser(t, ctx, srv)
	authr := first.AddAuthenticator(browsertest.PlatformPasskey())
	first.acceptInvite(enrolURL, "quiet-lantern-orbit-4417")
	first.register("#addpasskey", "Laptop")
	first.recoveryCodes()
	first.Click("#done")
	first.WaitPage("/setup/phone", "#later")
	first.Click("#later")
	first.WaitPage("/account", "#factors")
	first.signOut()
	first.Click("#passkey")
	first.WaitPage("/account", "#factors")

	creds, err := chromedp.Call(first.Ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authr})
	if err != nil || len(creds.Credentials) != 1 {
		t.Fatalf("credentials %+v, %v", creds, err)
	}
	second := newBrowser(t, ctx, srv)
	authr2 := second.AddAuthenticator(browsertest.PlatformPasskey())
	// The generated params always carry CMTG fields this authenticator
	// refuses; the command is sent with the fields a credential needs.
	addCredential := cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}
	c := creds.Credentials[0]
	if _, err := chromedp.Call(second.Ctx, addCredential, map[string]any{"authenticatorId": authr2, "credential": map[string]any{
		"credentialId": c.CredentialID, "isResidentCredential": true, "rpId": c.RpID, "privateKey": c.PrivateKey,
		"userHandle": c.UserHandle, "signCount": c.SignCount,
	}}); err != nil {
		t.Fatal(err)
	}
	second.Navigate("/login")
	second.WaitPage("/login", "#passkey")
	second.Click("#passkey")
	second.WaitPage("/account", "#factors")

	const login = "admin@localhost"
	recs, err := srv.audit.List(ctx, audit.Filter{Account: login, Kind: "login.passkey"})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, r := range recs {
		details = append(details, r.Detail)
	}
	if len(details) != 2 || details[0] != auth.DetailNewDevice || details[1] != "" { // newest first
		t.Errorf("passkey sign-ins recorded with details %q, want the second browser's new and the first's not", details)
	}
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	// The notice is sent a moment later; waitInbox wants the INBOX made.
	if err := srv.mail.EnsureAccount(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	raws := waitInbox(t, srv, acct.ID, 1)
	m, err := mail.ReadMessage(strings.NewReader(raws[0]))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	body := qpBody(t, m)
	if !strings.HasPrefix(subj, "New sign-in") || !strings.Contains(body, "Chrome on Linux") || !strings.Contains(body, "127.0.0.0/24") {
		t.Errorf("notice %q:\n%s", subj, body)
	}
}

// qpBody is the text of a quoted-printable message.
func qpBody(t *testing.T, m *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
