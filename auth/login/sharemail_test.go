package login

import (
	"net/url"
	"testing"
)

// TestShareMailSetting: a member turns the mails about shares off on the
// account page, and on again; the setting is kept in auth.
func TestShareMailSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, m := e.enrol(t, "anna@example.org")
	csrf := b.get("/account").want(200).contains(`action="/account/share-mail"`, `id="sharemail-on" name="on" value="1" checked`).csrf()
	b.post("/account/share-mail", url.Values{"csrf": {csrf}}).redirect("/account?done=sharemail#sharemail")
	b.get("/account?done=sharemail").want(200).contains("Your choice about share mails is saved.").lacks(`value="1" checked`)
	acct, err := e.svc.AccountByLogin(t.Context(), m.login)
	if err != nil {
		t.Fatal(err)
	}
	if on, err := e.svc.ShareMail(t.Context(), acct.ID); err != nil || on {
		t.Fatalf("after turning share mails off: %v, %v", on, err)
	}
	b.post("/account/share-mail", url.Values{"csrf": {csrf}, "on": {"1"}}).redirect("/account?done=sharemail#sharemail")
	if on, err := e.svc.ShareMail(t.Context(), acct.ID); err != nil || !on {
		t.Fatalf("after turning share mails on: %v, %v", on, err)
	}
	b.post("/account/share-mail", url.Values{"on": {"0"}}).want(403)
}
