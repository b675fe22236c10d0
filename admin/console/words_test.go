package console

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/ui"
)

// leaks checks a page: every Italian text is there, no English one is.
func leaks(t *testing.T, what, body string, it, en []string) {
	t.Helper()
	for _, w := range it {
		if !strings.Contains(body, w) {
			t.Errorf("%s in Italian lacks %q", what, w)
		}
	}
	for _, w := range en {
		if strings.Contains(body, w) {
			t.Errorf("%s in Italian still says %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s:\n%s", what, body)
	}
}

// get is a GET of path as u, its body (any status).
func (c *console) get(t *testing.T, u *authtest.User, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	res, err := c.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestNoEnglishLeft: an admin whose language is Italian, of a party an
// hour east of UTC, reads Italian where the console used to show the
// code's English: refusals of an invite (admin's errors), a CSV file's
// row errors, the DNS checks' explanations and fixes, a saved report's
// steps (page and text download), the audit log's outcomes, reasons and
// details, a group's notices, the phone page's refusal; and every time in
// the party's zone, in one format.
func TestNoEnglishLeft(t *testing.T) {
	t.Parallel()
	c := newConsoleParty(t, true, nil, ui.Party{TimeZone: time.FixedZone("CET", 3600)})
	ctx := t.Context()
	boss := c.admin(t, "boss@example.org")
	if err := c.env.Auth.SetLanguage(ctx, boss.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)

	_, body := c.act(t, boss, "/admin/invites", url.Values{"login": {"not-an-address"}, "name": {"X"}})
	leaks(t, "bad address", body, []string{"not-an-address non è un indirizzo semplice"}, []string{"is not a plain address"})
	_, body = c.act(t, boss, "/admin/invites", url.Values{"login": {"Vol@example.org"}, "name": {"Vol"}})
	leaks(t, "invite taken", body, []string{"vol@example.org esiste già."}, []string{"already exists", "Esiste già."})
	_, body = c.act(t, boss, "/admin/invites", url.Values{"login": {"a@example.org"}, "name": {"A"}, "expires": {"30/06/2027"}})
	leaks(t, "bad date", body, []string{"va scritto come 2027-06-30, non 30/06/2027"}, []string{"must look like"})

	csv := "address,name,role,groups,last day\nanna@example.org,Anna,boss,Bad Group!,2027-13-01\n" +
		"ben@example.org,Ben,,,\nben@example.org,Ben,,,\nvol@example.org,Vol,,,\n"
	mp, ctype := multipartCSV(t, c.csrf(t, boss), csv)
	_, body = c.post(t, boss, "/admin/invites/csv", mp, ctype)
	leaks(t, "CSV rows", body,
		[]string{"Il ruolo deve essere member, volunteer, officer o admin, non boss", "Il nome del gruppo Bad Group! può contenere solo", "non 2027-13-01",
			"L&#39;indirizzo compare anche alla riga 3", "vol@example.org esiste già"},
		[]string{"role must be", "may hold only", "must look like", "also on line", "already exists"})

	body = c.get(t, boss, "/admin/dns")
	leaks(t, "DNS page", body, []string{"La posta del partito arriva a questo server.", "Pubblica _dmarc.example.org. TXT"},
		[]string{"mail for the party goes to this server", "Publish ", "only this server sends"})

	form := url.Values{"successor": {itoa(boss.Account.ID)}, "links": {"move"}, "forward": {"1"}, "retain": {"30"}, "export": {"1"}}
	_, body = c.act(t, boss, "/admin/people/"+itoa(vol.Account.ID)+"/offboard", form)
	leaks(t, "report page", body,
		[]string{"sessioni: 1, password per app: 0", "uscito: non può accedere", "a boss@example.org", "esportata come mbox", " CET<"},
		[]string{"sessions,", "state offboarded", "offboarded: cannot", "factors and the recovery codes", "until ", "exported as mbox", "UTC"})
	id, err := c.ops.LastReport(ctx, "offboard")
	if err != nil || id == 0 {
		t.Fatalf("no offboarding report: %d, %v", id, err)
	}
	text := c.get(t, boss, "/admin/reports/"+itoa(id)+"?format=text")
	leaks(t, "report text", text, []string{"Uscita: resoconto", "Account: vol@example.org", "Iniziato: ", " CET", "sessioni: 1", "saltato  tolto dai gruppi"},
		[]string{"caucus offboard report", "Started:", "By:", "sessions,", "skipped", "UTC", "state offboarded"})

	if err := c.env.Audit.Record(ctx, audit.Event{Subject: "vol@example.org", Kind: "login.password", Outcome: audit.Fail, Reason: "bad-credentials",
		Detail: "count=3 first=2026-06-30T10:00:00Z last=2026-06-30T10:05:00Z (repeated failures, aggregated)"}); err != nil {
		t.Fatal(err)
	}
	body = c.get(t, boss, "/admin/audit")
	leaks(t, "audit log", body,
		[]string{"non riuscito", "password o chiave sbagliata", "3 volte, dal 30 giu 2026, 11:00 CET al 30 giu 2026, 11:05 CET", "resoconto " + itoa(id) + ", ",
			`title="bad-credentials"`, " CET<", ">sessioni: 1, password per app: 0, connessioni aperte chiuse: 0<", ">attivo → uscito<",
			">chiave di sicurezza test key<"},
		[]string{">fail<", "(bad-credentials)", ">count=", ">report=", "UTC", ">sessions=", "-&gt; offboarded<", ">security-key "})

	if _, err := c.env.DB.ExecContext(ctx, `UPDATE audit_log SET detail = 'edited' WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	body = c.get(t, boss, "/admin/audit?verify=1")
	leaks(t, "audit chain", body, []string{"La catena è interrotta al record 3:", `title="hash does not match contents (record edited)"`},
		[]string{">record 3", "at record", "is broken"})

	if err := c.env.Auth.CreateGroup(ctx, "boss@example.org", "press"); err != nil {
		t.Fatal(err)
	}
	_, body = c.act(t, boss, "/admin/groups/press/members", url.Values{"login": {"boss@example.org"}})
	leaks(t, "group notice", body, []string{"aggiunto a press"}, []string{"added to"})
	_, body = c.act(t, boss, "/admin/groups", url.Values{"name": {"Press"}})
	leaks(t, "group refusal", body, []string{"Esiste già un gruppo di nome press"}, []string{"already exists"})

	c.h.d.CertExpiry = func() (time.Time, error) {
		return time.Time{}, errors.New("open /etc/caucus/cert.pem: no such file or directory")
	}
	body = c.get(t, boss, "/admin")
	leaks(t, "dashboard", body, []string{"Non è stato possibile leggere il certificato"}, []string{"no such file"})

	code, _, body := c.do(t, boss, "POST", "/setup/phone", url.Values{"csrf": {c.csrf(t, boss)}, "name": {strings.Repeat("x", 65)}})
	if code != http.StatusBadRequest {
		t.Errorf("phone: a 65-character name: %d", code)
	}
	leaks(t, "phone", body, []string{"Dai al dispositivo un nome"}, []string{"a name of 1 to 64"})
}

// TestPhoneStepUpKeepsName: a member who names their phone long after
// signing in is asked to confirm it is them first; afterwards the phone
// page shows the name they typed, kept on the server for their session
// only, one press from the app password (it was lost: the page came back
// empty).
func TestPhoneStepUpKeepsName(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	member := c.env.User(t, "vol@example.org", auth.RoleMember)
	other := c.env.User(t, "other@example.org", auth.RoleMember)
	c.env.Clock.Advance(10 * time.Minute)
	const device = "Anna's Pixel 8"
	code, loc, _ := c.do(t, member, "POST", "/setup/phone", url.Values{"csrf": {c.csrf(t, member)}, "name": {device}})
	u, err := url.Parse(loc)
	if code != http.StatusSeeOther || err != nil || u.Path != "/reauth" {
		t.Fatalf("stale session: %d %q", code, loc)
	}
	next := u.Query().Get("next")
	if !strings.HasPrefix(next, "/setup/phone?") || strings.Contains(next, "Pixel") {
		t.Fatalf("after the step-up: %q, want the phone page with a token for the kept name (and not the name itself)", next)
	}
	code, loc, _ = c.do(t, member, "POST", "/login/totp", url.Values{"csrf": {c.csrf(t, member)}, "code": {c.env.Code(t, member)}, "next": {next}})
	if code != http.StatusSeeOther || loc != next {
		t.Fatalf("step-up: %d %q", code, loc)
	}
	body := c.get(t, member, next)
	if !strings.Contains(body, `id="apname" name="name" maxlength="64" value="Anna&#39;s Pixel 8"`) {
		t.Fatalf("the phone page lost the name typed:\n%s", body)
	}
	if strings.Contains(c.get(t, other, next), "Pixel") {
		t.Error("another member's session sees the kept name")
	}
	code, _, body = c.do(t, member, "POST", "/setup/phone", url.Values{"csrf": {c.csrf(t, member)}, "name": {device}})
	if code != http.StatusOK || !strings.Contains(body, `id="apsecret"`) {
		t.Fatalf("app password after the step-up: %d", code)
	}
	aps, err := c.env.Auth.AppPasswords(t.Context(), member.Account.ID)
	if err != nil || len(aps) != 1 || aps[0].Name != device {
		t.Errorf("app passwords %+v, %v", aps, err)
	}
}
