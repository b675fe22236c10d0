package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
)

// fill puts real values into a route pattern's wildcards.
func fill(pattern string, id int64) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	r := strings.NewReplacer("{id}", itoa(id), "{ap}", "1", "{name}", "press")
	return method, r.Replace(path)
}

// TestEveryRouteRefuses: a signed-out visitor is sent to sign in, a member
// is refused, and neither changes anything, on every console route.
func TestEveryRouteRefuses(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	other := c.env.User(t, "other@example.org", auth.RoleMember)
	if err := c.env.Auth.AddToGroup(ctx, "test", "press", other.Account.ID); err != nil {
		t.Fatal(err)
	}
	before, err := c.env.Audit.List(ctx, audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	routes := c.h.routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for pattern := range routes {
		method, path := fill(pattern, other.Account.ID)
		var form url.Values
		if method == "POST" {
			form = url.Values{"csrf": {c.csrf(t, member)}, "on": {"1"}, "name": {"newgroup"}, "to": {"renamed"}, "login": {"vol@example.org"}}
		}
		code, loc, _ := c.do(t, nil, method, path, form)
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("signed out %s: %d %q, want a redirect to /login", pattern, code, loc)
		}
		if code, _, _ := c.do(t, member, method, path, form); code != http.StatusForbidden {
			t.Errorf("member %s: %d, want 403", pattern, code)
		}
	}
	after, err := c.env.Audit.List(ctx, audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if after[0].ID != before[0].ID {
		t.Errorf("refused requests left audit records, the newest: %+v", after[0])
	}
	if a, _ := c.env.Auth.Account(ctx, other.Account.ID); a.State != auth.StateActive {
		t.Errorf("state changed to %s", a.State)
	}
	if st, _ := c.ops.IncidentState(ctx); st.On {
		t.Error("a member switched incident mode on")
	}
	// The admin reaches every page.
	for pattern := range routes {
		if method, path := fill(pattern, other.Account.ID); method == "GET" && !strings.Contains(pattern, "reports") && !strings.Contains(pattern, "pending") && !strings.HasSuffix(pattern, "/link") && !strings.HasSuffix(pattern, "/imported") {
			if code, _, body := c.do(t, admin, method, path, nil); code != http.StatusOK {
				t.Errorf("admin %s: %d\n%s", pattern, code, body)
			}
		}
	}
}

func TestConsoleOffboard(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	alice := c.env.User(t, "alice@example.org", auth.RoleMember)
	bob := c.env.User(t, "bob@example.org", auth.RoleMember)
	secret := c.env.AppPassword(t, alice, "phone", auth.ScopeMail)
	g, err := c.env.Auth.AppPassword(ctx, alice.Account.Login, secret, auth.ScopeMail, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	live, release := c.env.Auth.Connect(context.Background(), g)
	defer release()

	base := "/admin/people/" + itoa(alice.Account.ID) + "/offboard"
	q := url.Values{"plan": {"1"}, "successor": {itoa(bob.Account.ID)}, "links": {"revoke"}, "forward": {"1"}, "autoreply": {"Gone; write to Bob."}, "retain": {"30"}, "read": {"1"}}
	code, _, body := c.do(t, admin, "GET", base+"?"+q.Encode(), nil)
	if code != http.StatusOK || !strings.Contains(body, `id="plan"`) || !strings.Contains(body, "kept 30 days") || !strings.Contains(body, "links revoked") {
		t.Fatalf("plan page: %d\n%s", code, body)
	}
	if live.Err() != nil {
		t.Fatal("showing the plan changed something")
	}
	form := url.Values{"csrf": {c.csrf(t, admin)}}
	for k, v := range q {
		form[k] = v
	}
	code, body = c.act(t, admin, base, form)
	if code != http.StatusOK || !strings.Contains(body, "is offboarded") || strings.Contains(body, ">failed<") {
		t.Fatalf("offboard: %d\n%s", code, body)
	}
	cut(t, "offboarded from the console", live)
	if calls := c.files.Calls(); len(calls) != 1 || !strings.HasSuffix(calls[0], "links=revoke") {
		t.Errorf("files: %v", calls)
	}
	// The report downloads as text and JSON.
	recs, _ := c.env.Audit.List(ctx, audit.Filter{Kind: "admin.offboard", Account: alice.Account.Login})
	id := ""
	for _, r := range recs {
		if r.Kind == "admin.offboard" {
			id = strings.TrimPrefix(strings.Fields(r.Detail)[0], "report=")
		}
	}
	code, _, text := c.do(t, admin, "GET", "/admin/reports/"+id+"?format=text", nil)
	if code != http.StatusOK || !strings.Contains(text, "mail forwarded: to bob@example.org") || !strings.Contains(text, "By: boss@example.org") {
		t.Errorf("text report %s: %d\n%s", id, code, text)
	}
	if code, _, js := c.do(t, admin, "GET", "/admin/reports/"+id+"?format=json", nil); code != http.StatusOK || !strings.Contains(js, `"kind": "offboard"`) {
		t.Errorf("json report: %d\n%s", code, js)
	}
	// Offboarding again, or the last admin, is refused with words.
	if code, _, _ := c.do(t, admin, "POST", base, form); code != http.StatusBadRequest {
		t.Errorf("second offboarding: %d", code)
	}
	q = url.Values{"plan": {"1"}}
	if code, _, body := c.do(t, admin, "GET", "/admin/people/"+itoa(admin.Account.ID)+"/offboard?"+q.Encode(), nil); code != http.StatusBadRequest || !strings.Contains(body, "last active admin") {
		t.Errorf("last admin: %d", code)
	}
}

func TestConsoleSuspendLastAdmin(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	second := c.admin(t, "second@example.org")
	// second suspends boss: fine; then second is the last admin and boss's
	// account cannot suspend (it is signed out anyway).
	code, body := c.act(t, second, "/admin/people/"+itoa(admin.Account.ID)+"/suspend", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "access revoked") {
		t.Fatalf("suspend: %d\n%s", code, body)
	}
	if err := c.env.Auth.SetState(t.Context(), "test", admin.Account.ID, auth.StateActive, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	c.env.SignIn(t, admin)
	c.stepUp(t, admin)
	if err := c.env.Auth.SetState(t.Context(), "test", second.Account.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	_, body = c.act(t, admin, "/admin/people/"+itoa(admin.Account.ID)+"/suspend", url.Values{})
	if !strings.Contains(body, "cannot suspend yourself") {
		t.Errorf("self suspension not refused:\n%s", body)
	}
}

func multipartCSV(t *testing.T, csrf, data string) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", csrf)
	fw, err := mw.CreateFormFile("file", "people.csv")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, data)
	mw.Close()
	return &b, mw.FormDataContentType()
}

func (c *console) post(t *testing.T, u *authtest.User, path string, body io.Reader, ctype string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	res, err := c.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestConsoleCSVImport(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	bad := "anna@example.org,Anna\nnot-an-address,Ben\nanna@example.org,Anna again\n"
	body, ctype := multipartCSV(t, c.csrf(t, admin), bad)
	code, page := c.post(t, admin, "/admin/invites/csv", body, ctype)
	if code != http.StatusOK || !strings.Contains(page, "2 rows have errors") || !strings.Contains(page, "also on line 1") || strings.Contains(page, `id="importcommit"`) {
		t.Fatalf("preview with errors: %d\n%s", code, page)
	}
	if _, err := c.env.Auth.AccountByLogin(ctx, "anna@example.org"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal("the preview created an account")
	}
	good := "login,name,role,groups\nanna@example.org,Anna,member,press\nben@example.org,Ben,,\n"
	body, ctype = multipartCSV(t, c.csrf(t, admin), good)
	code, page = c.post(t, admin, "/admin/invites/csv", body, ctype)
	if code != http.StatusOK || !strings.Contains(page, `id="importcommit"`) {
		t.Fatalf("preview: %d\n%s", code, page)
	}
	code, page = c.act(t, admin, "/admin/invites/csv", url.Values{"commit": {"1"}, "csv": {good}})
	if code != http.StatusOK || len(linkRE.FindAllString(page, -1)) != 2*2 { // shown, and in the download form
		t.Fatalf("commit: %d\n%s", code, page)
	}
	for _, l := range []string{"anna@example.org", "ben@example.org"} {
		if a, err := c.env.Auth.AccountByLogin(ctx, l); err != nil || a.State != auth.StateInvited {
			t.Errorf("%s: %+v, %v", l, a, err)
		}
	}
}

func TestConsoleInviteQR(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	form := url.Values{"csrf": {c.csrf(t, admin)}, "login": {"anna@example.org"}, "name": {"Anna"}, "role": {"member"}}
	code, body := c.act(t, admin, "/admin/invites", form)
	if code != http.StatusOK || !strings.Contains(body, `src="data:image/png;base64,`) || linkRE.FindString(body) == "" {
		t.Fatalf("invite page: %d, want link and QR code\n%s", code, body)
	}
	// Mailing needs a mailer; this console has none: refused in words.
	form.Set("login", "ben@example.org")
	form.Set("mail_to", "ben@home.example")
	if code, _, body := c.do(t, admin, "POST", "/admin/invites", form); code != http.StatusBadRequest || !strings.Contains(body, `class="error"`) {
		t.Errorf("mail without mailer: %d", code)
	}
}

func TestConsoleIncident(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	secret := c.env.AppPassword(t, member, "phone", auth.ScopeMail)
	code, loc, _ := c.do(t, admin, "POST", "/admin/incident", url.Values{"csrf": {c.csrf(t, admin)}, "on": {"1"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("incident on: %d %q", code, loc)
	}
	// Everyone is out: the admin too, the member's browser and phone.
	for _, u := range []*authtest.User{admin, member} {
		if code, loc, _ := c.do(t, u, "GET", "/account", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s after incident: %d %q", u.Account.Login, code, loc)
		}
	}
	if _, err := c.env.Auth.AppPassword(ctx, member.Account.Login, secret, auth.ScopeMail, auth.Client{}); err == nil {
		t.Error("app password works during the incident")
	}
	// Signing in again with TOTP does not open the console: a passkey or
	// security key is needed first.
	admin.Session = c.env.SignIn(t, admin)
	if code, _, body := c.do(t, admin, "GET", "/admin", nil); code != http.StatusForbidden || !strings.Contains(body, `id="reauth"`) {
		t.Fatalf("console after a TOTP sign-in during the incident: %d", code)
	}
	if code, _, _ := c.do(t, admin, "POST", "/admin/incident", url.Values{"csrf": {c.csrf(t, admin)}, "on": {"0"}}); code != http.StatusForbidden {
		t.Fatalf("lifting after a TOTP sign-in: %d", code)
	}
	// A security key's step-up in this session opens it.
	c.stepUp(t, admin)
	code, _, body := c.do(t, admin, "GET", "/admin", nil)
	if code != http.StatusOK || !strings.Contains(body, "Incident mode is on since") || !strings.Contains(body, `id="incidentoff"`) {
		t.Fatalf("dashboard during incident: %d", code)
	}
	code, body = c.act(t, admin, "/admin/incident", url.Values{"on": {"0"}})
	if code != http.StatusOK || strings.Contains(body, "Incident mode is on") || !strings.Contains(body, "Incident mode is lifted") {
		t.Fatalf("lift: %d\n%s", code, body)
	}
	if calls := c.files.Calls(); !slices.Equal(calls, []string{"suspend-links boss@example.org", "resume-links boss@example.org"}) {
		t.Errorf("files: %v", calls)
	}
}

func TestConsoleGroups(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	post := func(path string, v url.Values) (int, string) { return c.act(t, admin, path, v) }
	if code, body := post("/admin/groups", url.Values{"name": {"Press"}}); code != http.StatusOK || !strings.Contains(body, "press@example.org") {
		t.Fatalf("create: %d\n%s", code, body)
	}
	if code, _ := post("/admin/groups", url.Values{"name": {"press"}}); code != http.StatusBadRequest {
		t.Errorf("duplicate: %d", code)
	}
	if code, _ := post("/admin/groups", url.Values{"name": {"Bad Name!"}}); code != http.StatusBadRequest {
		t.Errorf("bad name: %d", code)
	}
	if code, _ := post("/admin/groups/press/members", url.Values{"login": {"vol@example.org"}}); code != http.StatusOK {
		t.Errorf("add: %d", code)
	}
	if code, body := post("/admin/groups/press/rename", url.Values{"to": {"media"}}); code != http.StatusOK || !strings.Contains(body, "media@example.org") {
		t.Errorf("rename: %d", code)
	}
	if gs, _ := c.env.Auth.GroupsOf(ctx, vol.Account.ID); !slices.Equal(gs, []string{"media"}) {
		t.Errorf("groups after rename %v", gs)
	}
	if code, _ := post("/admin/groups/media/members/"+itoa(vol.Account.ID)+"/remove", url.Values{}); code != http.StatusOK {
		t.Errorf("remove: %d", code)
	}
	if gs, _ := c.env.Auth.GroupsOf(ctx, vol.Account.ID); len(gs) != 0 {
		t.Errorf("groups after removal %v", gs)
	}
	for _, kind := range []string{"group.create", "group.rename", "group.add", "group.remove"} {
		if recs, _ := c.env.Audit.List(ctx, audit.Filter{Kind: kind}); len(recs) == 0 || recs[0].Actor != "boss@example.org" {
			t.Errorf("audit %s: %+v", kind, recs)
		}
	}
}

func TestConsoleAudit(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	c.env.User(t, "vol@example.org", auth.RoleMember)
	code, _, body := c.do(t, admin, "GET", "/admin/audit?account=vol%40example.org&kind=invite.&verify=1", nil)
	if code != http.StatusOK || !strings.Contains(body, "Chain intact") || !strings.Contains(body, "invite.create") || strings.Contains(body, "login.password") {
		t.Fatalf("audit page: %d\n%s", code, body)
	}
	code, _, csv := c.do(t, admin, "GET", "/admin/audit.csv?account=vol%40example.org", nil)
	if code != http.StatusOK || !strings.Contains(csv, "invite.create") || strings.Contains(csv, "boss@example.org,,") {
		t.Errorf("csv: %d\n%s", code, csv)
	}
	if code, _, _ := c.do(t, admin, "GET", "/admin/audit?since=yesterday", nil); code != http.StatusBadRequest {
		t.Errorf("bad date: %d", code)
	}
	recs, _ := c.env.Audit.List(ctx, audit.Filter{Kind: "invite.create", Account: "vol@example.org"})
	if _, err := c.env.DB.ExecContext(ctx, `UPDATE audit_log SET detail = 'nothing to see' WHERE id = ?`, recs[0].ID); err != nil {
		t.Fatal(err)
	}
	code, _, body = c.do(t, admin, "GET", "/admin/audit?verify=1", nil)
	if code != http.StatusOK || !strings.Contains(body, "The chain is broken at record "+itoa(recs[0].ID)) {
		t.Errorf("edited record not named: %d\n%s", code, body)
	}
}

func TestConsoleDNS(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	code, _, body := c.do(t, admin, "GET", "/admin/dns", nil)
	if code != http.StatusOK {
		t.Fatalf("dns page: %d", code)
	}
	// The mock resolver has the MX and nothing else.
	if !strings.Contains(body, "MX example.org. <span>✓</span>") || !strings.Contains(body, "Publish _dmarc.example.org. TXT") {
		t.Errorf("dns page:\n%s", body)
	}
}

// TestPhoneSetup: the page a new member lands on makes an app password for
// the phone, shown with a QR code, and it works for mail.
func TestPhoneSetup(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	if code, loc, _ := c.do(t, nil, "GET", "/setup/phone", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("signed out: %d %q", code, loc)
	}
	code, _, body := c.do(t, member, "GET", "/setup/phone", nil)
	if code != http.StatusOK || !strings.Contains(body, `action="/account/mail.mobileconfig"`) {
		t.Fatalf("page: %d\n%s", code, body)
	}
	// Back from the step-up the Apple profile form asked for, the device
	// name typed before it is filled in again, and the form says where
	// it is so that the next step-up comes back here.
	code, _, body = c.do(t, member, "GET", "/setup/phone?device="+url.QueryEscape("Vol's <iPad>"), nil)
	if code != http.StatusOK || !strings.Contains(body, `id="mcname" name="name" maxlength="64" value="Vol&#39;s &lt;iPad&gt;"`) || !strings.Contains(body, `name="back" value="/setup/phone"`) {
		t.Fatalf("page after step-up: %d\n%s", code, body)
	}
	if code, _, _ := c.do(t, member, "POST", "/setup/phone", url.Values{"name": {"phone"}}); code != http.StatusForbidden {
		t.Errorf("no csrf: %d", code)
	}
	code, _, body = c.do(t, member, "POST", "/setup/phone", url.Values{"csrf": {c.csrf(t, member)}, "name": {"Vol's phone"}})
	m := regexp.MustCompile(`id="apsecret">([^<]+)<`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, `id="apqr" src="data:image/png;base64,`) {
		t.Fatalf("app password: %d\n%s", code, body)
	}
	if _, err := c.env.Auth.AppPassword(t.Context(), member.Account.Login, m[1], auth.ScopeMail, auth.Client{}); err != nil {
		t.Errorf("the new app password: %v", err)
	}
	// Long after sign-in, a step-up comes first.
	c.env.Clock.Advance(10 * time.Minute)
	if code, loc, _ := c.do(t, member, "POST", "/setup/phone", url.Values{"csrf": {c.csrf(t, member)}, "name": {"x"}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Errorf("stale session: %d %q", code, loc)
	}
}

func TestConsoleDashboard(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	if _, err := c.ops.Invite(ctx, adminops.Actor{Login: "test"}, adminops.InviteRequest{Login: "temp@example.org", Name: "Temporary Tom", Expires: c.env.Clock.Now().Add(5 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ops.Invite(ctx, adminops.Actor{Login: "test"}, adminops.InviteRequest{Login: "later@example.org", Name: "Later Lou", Expires: c.env.Clock.Now().Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code, _, body := c.do(t, admin, "GET", "/admin", nil)
	if code != http.StatusOK {
		t.Fatalf("dashboard: %d", code)
	}
	_, attention, _ := strings.Cut(body, `id="attention-expiring"`)
	attention, _, _ = strings.Cut(attention, `<h3`)
	if !strings.Contains(attention, "Temporary Tom") || strings.Contains(attention, "Later Lou") {
		t.Errorf("expiring within 14 days:\n%s", attention)
	}
	for _, want := range []string{"0 waiting", "(10 days)", "renew now", "The web certificate ends in 10 days", "Invited, not yet enrolled: 2", "Last backup: <span class=\"warn\">none yet"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// TestConsoleExports: the admin sees the mbox exports and downloads one
// after a fresh security key proof; the download is in the audit log and a
// name outside the export directory is not found.
func TestConsoleExports(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	admin := c.admin(t, "boss@example.org")
	if code, _, body := c.do(t, admin, "GET", "/admin/exports", nil); code != http.StatusOK || !strings.Contains(body, "No exports yet") {
		t.Fatalf("empty exports page: %d\n%s", code, body)
	}
	const name = "alice@example.org-20261124T033000Z.mbox"
	mbox := "From MAILER-DAEMON Tue Nov 24 03:30:00 2026\r\nSubject: minutes\r\n\r\nthe minutes\r\n"
	if err := os.MkdirAll(c.exports, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.exports, name), []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(c.exports), "other.mbox"), []byte("not an export"), 0o600)
	code, _, body := c.do(t, admin, "GET", "/admin/exports", nil)
	if code != http.StatusOK || !strings.Contains(body, name) || !strings.Contains(body, `action="/admin/exports/`+name+`"`) {
		t.Fatalf("exports page: %d\n%s", code, body)
	}

	c.env.Clock.Advance(6 * time.Minute) // the security key proof is stale
	if code, loc, _ := c.do(t, admin, "POST", "/admin/exports/"+name, url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/reauth") {
		t.Fatalf("download with a stale proof: %d %q, want a redirect to /reauth", code, loc)
	}
	c.stepUp(t, admin)
	if code, _, _ := c.do(t, admin, "POST", "/admin/exports/"+name, url.Values{}); code != http.StatusForbidden {
		t.Errorf("download without CSRF token: %d, want 403", code)
	}
	code, _, body = c.do(t, admin, "POST", "/admin/exports/"+name, url.Values{"csrf": {c.csrf(t, admin)}})
	if code != http.StatusOK || body != mbox {
		t.Fatalf("download: %d %q", code, body)
	}
	recs, err := c.env.Audit.List(t.Context(), audit.Filter{Kind: "mail.export.download"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "boss@example.org" || recs[0].Subject != "alice@example.org" {
		t.Errorf("audit of the download: %+v, %v", recs, err)
	}
	for _, bad := range []string{"..%2Fother.mbox", "missing.mbox", ".mbox"} {
		if code, _, _ := c.do(t, admin, "POST", "/admin/exports/"+bad, url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusNotFound {
			t.Errorf("download of %q: %d, want 404", bad, code)
		}
	}
}
