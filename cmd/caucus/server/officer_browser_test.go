package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
)

// TestBrowserOfficerTwoKeys: an officer invited by the admin is offered
// no authenticator app, is told after the first security key that a
// second is needed (the account still not active), enrols the second
// key on another authenticator, and only then gets the recovery codes.
func TestBrowserOfficerTwoKeys(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	srv, _ := startTestServer(t, ctx)
	const login, pw = "treasurer@localhost", "copper-meadow-lantern-2290"
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Tess Urer", Role: auth.RoleOfficer}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ctx, srv)
	first := b.AddAuthenticator(browsertest.USBSecurityKey())
	b.acceptInvite(srv.url+"/enrol/"+token, pw)
	b.WaitPage("/enrol", "#officerkeys")
	if has, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`!!document.querySelector("#addtotp")`)); has {
		t.Error("an officer is offered an authenticator app")
	}
	b.Do("add the first key", chromedp.SendKeys(chromedp.CSS("#credname"), "Key one"), chromedp.Click(chromedp.CSS("#addkey")))
	// The page reloads itself on /enrol: read it until it says so (a read
	// during the reload fails and is tried again).
	deadline := time.Now().Add(pageTimeout)
	for {
		said, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(document.querySelector("#officerkeys")||{textContent: ""}).textContent.includes("1 of 2")`))
		if err == nil && said {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the second key after the first: %v\n%s", err, b.Describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil || acct.State != auth.StateInvited {
		t.Fatalf("after one key the account is %v (%v), want still invited", acct.State, err)
	}
	// The second key is another device.
	if _, err := chromedp.Call(b.Ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: first}); err != nil {
		t.Fatal(err)
	}
	b.AddAuthenticator(browsertest.USBSecurityKey())
	b.register("#addkey", "Key two")
	if codes := b.recoveryCodes(); len(codes) != 10 {
		t.Fatalf("recovery page shows %d codes", len(codes))
	}
	factors, err := srv.auth.Factors(ctx, acct.ID)
	if err != nil || len(factors) != 2 {
		t.Fatalf("factors %+v %v", factors, err)
	}
	if acct, _ = srv.auth.AccountByLogin(ctx, login); acct.State != auth.StateActive || acct.Role != auth.RoleOfficer {
		t.Errorf("after two keys: %v %v", acct.State, acct.Role)
	}
	if text := b.Text("body"); strings.Contains(text, "officer_") {
		t.Errorf("a message key shows: %s", text)
	}
}
