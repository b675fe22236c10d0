package console

import (
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExpiryShownAsGiven: an access end date given as 2027-06-30 (in a CSV
// import or the invite form) is shown as 30 Jun 2027 everywhere, and access
// lasts through that day (issue 16 bug 5: pages said "until 1 Jul 2027").
func TestExpiryShownAsGiven(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	csvText := "anna@example.org,Anna,member,,2027-06-30\n"
	body, ctype := multipartCSV(t, c.csrf(t, admin), csvText)
	code, page := c.post(t, admin, "/admin/invites/csv", body, ctype)
	if code != http.StatusOK || !strings.Contains(page, "30 Jun 2027") || strings.Contains(page, "1 Jul 2027") {
		t.Errorf("CSV preview: %d, want the date 30 Jun 2027 (and not 1 Jul):\n%s", code, page)
	}
	c.do(t, admin, "POST", "/admin/invites/csv", url.Values{"csrf": {c.csrf(t, admin)}, "commit": {"1"}, "csv": {csvText}})
	c.do(t, admin, "POST", "/admin/invites", url.Values{"csrf": {c.csrf(t, admin)}, "login": {"ben@example.org"}, "name": {"Ben"}, "role": {"member"}, "expires": {"2027-06-30"}})
	for _, login := range []string{"anna@example.org", "ben@example.org"} {
		a, err := c.env.Auth.AccountByLogin(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		lastSecond := time.Date(2027, 6, 30, 23, 59, 59, 0, time.Local)
		if !a.ExpiresAt.After(lastSecond) || a.ExpiresAt.After(lastSecond.Add(time.Second)) {
			t.Errorf("%s: access ends %v, want at the end of 30 Jun 2027", login, a.ExpiresAt)
		}
		_, _, page := c.do(t, admin, "GET", "/admin/people/"+itoa(a.ID), nil)
		if !strings.Contains(page, "30 Jun 2027") || strings.Contains(page, "1 Jul 2027") {
			t.Errorf("person page of %s: want 30 Jun 2027, not 1 Jul", login)
		}
	}
	for _, path := range []string{"/admin/people", "/admin"} {
		_, _, page = c.do(t, admin, "GET", path, nil)
		if strings.Count(page, "30 Jun 2027") < 2 || strings.Contains(page, "1 Jul 2027") {
			t.Errorf("%s: want 30 Jun 2027 twice, never 1 Jul 2027:\n%s", path, page)
		}
	}
}

// TestCSVSample: the people page offers a sample file, which imports
// without errors; every error of a row is shown (issue 16 bug 4).
func TestCSVSample(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	_, _, page := c.do(t, admin, "GET", "/admin/people", nil)
	code, _, sample := c.do(t, admin, "GET", href(t, page, "csvsample"), nil)
	if code != http.StatusOK || !strings.HasPrefix(sample, "address,name,") {
		t.Fatalf("sample: %d %q", code, sample)
	}
	body, ctype := multipartCSV(t, c.csrf(t, admin), sample)
	code, page = c.post(t, admin, "/admin/invites/csv", body, ctype)
	if code != http.StatusOK || !strings.Contains(page, `id="importcommit"`) {
		t.Errorf("the sample previews: %d\n%s", code, page)
	}
	body, ctype = multipartCSV(t, c.csrf(t, admin), "not-an-address,,boss\n")
	_, page = c.post(t, admin, "/admin/invites/csv", body, ctype)
	if strings.Count(page, "<li>") < 3 {
		t.Errorf("a row with three errors shows fewer:\n%s", page)
	}
}

// TestInviteLinksCSV: after a bulk invite, every link downloads as one CSV
// file, a formula in a name defused.
func TestInviteLinksCSV(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	file := "address,name\nanna@example.org,Anna\nben@example.org,\"=HYPERLINK(\"\"x\"\")\"\n"
	code, page := c.act(t, admin, "/admin/invites/csv", url.Values{"commit": {"1"}, "csv": {file}})
	links := linkRE.FindAllString(page, -1) // shown, then in the download form
	links = links[:len(links)/2]
	if code != http.StatusOK || len(links) != 2 || !strings.Contains(page, `id="linkscsv"`) {
		t.Fatalf("commit: %d, %d links\n%s", code, len(links), page)
	}
	m := regexp.MustCompile(`(?s)<textarea name="links" hidden>(.*?)</textarea>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no links in the download form")
	}
	code, _, text := c.do(t, admin, "POST", "/admin/invites/links.csv", url.Values{"csrf": {c.csrf(t, admin)}, "links": {html.UnescapeString(m[1])}})
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if code != http.StatusOK || err != nil || len(recs) != 3 {
		t.Fatalf("links.csv: %d, %v\n%s", code, err, text)
	}
	for i, l := range links {
		if recs[i+1][2] != l {
			t.Errorf("row %d: link %q, want %q", i+1, recs[i+1][2], l)
		}
	}
	if recs[2][1] != `'=HYPERLINK("x")` {
		t.Errorf("a formula in a name: %q, want it defused", recs[2][1])
	}
	if code, _, _ := c.do(t, admin, "POST", "/admin/invites/links.csv", url.Values{"links": {"a,b"}}); code != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", code)
	}
}
