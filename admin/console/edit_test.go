package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestEditPerson: an admin changes a person's name, role, last day and
// groups from their page; taking away the last admin's role is refused
// with words and changes nothing.
func TestEditPerson(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	if err := c.env.Auth.AddToGroup(ctx, "test", "press", vol.Account.ID); err != nil {
		t.Fatal(err)
	}
	path := "/admin/people/" + itoa(vol.Account.ID)
	code, body := c.act(t, admin, path+"/edit", url.Values{"name": {"Vol Renamed"}, "role": {"member"}, "expires": {"2027-06-30"}, "groups": {"campaign, Media"}})
	if code != http.StatusOK || !strings.Contains(body, "Changes saved") || !strings.Contains(body, "30 Jun 2027") {
		t.Fatalf("edit: %d\n%s", code, body)
	}
	a, _ := c.env.Auth.Account(ctx, vol.Account.ID)
	if a.DisplayName != "Vol Renamed" || !adminops.LastDay(a.ExpiresAt, nil).Equal(time.Date(2027, 6, 30, 23, 59, 59, 0, time.Local)) {
		t.Errorf("after the edit: %+v", a)
	}
	if gs, _ := c.env.Auth.GroupsOf(ctx, a.ID); !slices.Equal(gs, []string{"campaign", "media"}) {
		t.Errorf("groups %v, want campaign, media", gs)
	}
	// No last day any more.
	c.act(t, admin, path+"/edit", url.Values{"name": {"Vol Renamed"}, "role": {"member"}, "expires": {""}, "groups": {""}})
	if a, _ := c.env.Auth.Account(ctx, vol.Account.ID); !a.ExpiresAt.IsZero() {
		t.Errorf("last day not removed: %v", a.ExpiresAt)
	}
	// The last admin stays one.
	code, body = c.act(t, admin, "/admin/people/"+itoa(admin.Account.ID)+"/edit", url.Values{"name": {"Boss"}, "role": {"member"}})
	if a, _ := c.env.Auth.Account(ctx, admin.Account.ID); a.Role != auth.RoleAdmin || !strings.Contains(body, `class="error"`) {
		t.Errorf("demoting the last admin: %d, role %s", code, a.Role)
	}
	recs, _ := c.env.Audit.List(ctx, audit.Filter{Kind: "account.", Account: vol.Account.Login})
	if len(recs) < 3 {
		t.Errorf("audit of the edit: %d records, want name, expiry …", len(recs))
	}
}

// TestResendWithdrawInvite: an invited person gets a new link (the old one
// stops working), or the invite is withdrawn (no link works).
func TestResendWithdrawInvite(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	res, err := c.ops.Invite(ctx, adminops.Actor{Login: "test"}, adminops.InviteRequest{Login: "anna@example.org", Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	old := linkRE.FindStringSubmatch(res.Link)[1]
	path := "/admin/people/" + itoa(res.Account.ID)
	if _, _, body := c.do(t, admin, "GET", path, nil); !strings.Contains(body, `id="resendinvite"`) || !strings.Contains(body, `id="withdrawinvite"`) {
		t.Fatal("the invited person's page lacks the invite buttons")
	}
	code, body := c.act(t, admin, path+"/invite/resend", url.Values{})
	m := linkRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || m[1] == old {
		t.Fatalf("resend: %d, no new link", code)
	}
	if _, err := c.env.Auth.PeekInvite(ctx, old); err == nil {
		t.Error("the old link still works")
	}
	if code, body := c.act(t, admin, path+"/invite/withdraw", url.Values{}); code != http.StatusOK || !strings.Contains(body, "Invite withdrawn") {
		t.Fatalf("withdraw: %d\n%s", code, body)
	}
	if _, err := c.env.Auth.PeekInvite(ctx, m[1]); err == nil {
		t.Error("the link works after the invite was withdrawn")
	}
	if a, _ := c.env.Auth.Account(ctx, res.Account.ID); a.State != auth.StateOffboarded {
		t.Errorf("state %s after withdrawal", a.State)
	}
}

// TestPeoplesWords: the console shows factor kinds and audit records in
// people's words, not the code's.
func TestPeoplesWords(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	if err := c.env.Auth.AddToGroup(t.Context(), "boss@example.org", "press", vol.Account.ID); err != nil {
		t.Fatal(err)
	}
	_, _, body := c.do(t, admin, "GET", "/admin/people/"+itoa(vol.Account.ID), nil)
	if !strings.Contains(body, "(authenticator app)") || strings.Contains(body, "(totp)") || !strings.Contains(body, "Signed in on 1 browser<") {
		t.Errorf("person page: factor kinds or sessions in the code's words")
	}
	_, _, body = c.do(t, admin, "GET", "/admin/people", nil)
	if strings.Contains(body, ">totp<") || !strings.Contains(body, "authenticator app") {
		t.Errorf("people list: factor kinds in the code's words")
	}
	_, _, body = c.do(t, admin, "GET", "/admin/audit", nil)
	if !strings.Contains(body, "added to a group") {
		t.Errorf("audit log: group.add not in words")
	}
	_, body = c.act(t, admin, "/admin/incident", url.Values{"on": {"1"}})
	admin.Session = c.env.SignIn(t, admin)
	c.stepUp(t, admin)
	_, body = c.act(t, admin, "/admin/incident", url.Values{"on": {"0"}})
	if !strings.Contains(body, "<h1>Incident mode lifted") || strings.Contains(body, "incident.off report") {
		t.Errorf("the report's title is in the code's words:\n%s", body)
	}
}

// TestLastDayInPartyZone: a last day of access is a day in the party's
// time zone, not the server's: a party in Europe/Berlin on a server in
// UTC (run with TZ=UTC) gives 2027-06-30, and access ends at midnight in
// Berlin, the page and the edit form showing 30 June again. Before, the
// day was parsed in the server's zone: access ended at 02:00 on 1 July in
// Berlin, and the page said 1 July.
func TestLastDayInPartyZone(t *testing.T) {
	t.Parallel()
	party, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	if _, off := time.Date(2027, 7, 1, 0, 0, 0, 0, time.Local).Zone(); off == 2*3600 {
		// The server's zone is Berlin's offset on that day: take a
		// party far from it.
		if party, err = time.LoadLocation("Pacific/Kiritimati"); err != nil {
			t.Skip("no tz database:", err)
		}
	}
	c := newConsoleParty(t, false, nil, ui.Party{TimeZone: party})
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	path := "/admin/people/" + itoa(vol.Account.ID)
	if code, body := c.act(t, admin, path+"/edit", url.Values{"name": {"Vol"}, "role": {"member"}, "expires": {"2027-06-30"}}); code != http.StatusOK {
		t.Fatalf("edit: %d\n%s", code, body)
	}
	a, _ := c.env.Auth.Account(t.Context(), vol.Account.ID)
	if want := time.Date(2027, 7, 1, 0, 0, 0, 0, party); !a.ExpiresAt.Equal(want) {
		t.Errorf("access ends %v, want %v", a.ExpiresAt.In(party), want)
	}
	body := c.get(t, admin, path)
	if !strings.Contains(body, "30 Jun 2027") || strings.Contains(body, "1 Jul 2027") || !strings.Contains(body, `value="2027-06-30"`) {
		t.Errorf("the person's page does not show the last day 30 June 2027:\n%s", body)
	}
}
