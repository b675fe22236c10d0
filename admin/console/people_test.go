package console

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
)

// party invites n people named "Person 000" … at example.org; every third
// is in the group press, the first five are suspended and the next five
// active without a second factor (fixtures written to the database).
func party(t testing.TB, env *authtest.Env, n int) {
	t.Helper()
	ctx := t.Context()
	if err := env.Auth.CreateGroup(ctx, "test", "press"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		na := auth.NewAccount{Login: fmt.Sprintf("p%04d@example.org", i), DisplayName: fmt.Sprintf("Person %04d", i), Role: auth.RoleMember}
		if i%3 == 0 {
			na.Groups = []string{"press"}
		}
		if _, err := env.Auth.CreateInvite(ctx, "test", na, auth.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []struct {
		q    string
		args []any
	}{ // in this order
		// The secret is a parameter: x'00' is a bit string on PostgreSQL.
		{`UPDATE accounts SET state = 'active', totp_secret = ? WHERE login LIKE 'p%' AND id % 4 != 0`, []any{[]byte{0}}},
		{`UPDATE accounts SET state = 'suspended' WHERE login IN ('p0000@example.org','p0001@example.org','p0002@example.org','p0003@example.org','p0004@example.org')`, nil},
		{`UPDATE accounts SET state = 'active', totp_secret = NULL WHERE login IN ('p0005@example.org','p0006@example.org','p0007@example.org','p0008@example.org','p0009@example.org')`, nil},
	} {
		if _, err := env.DB.ExecContext(ctx, u.q, u.args...); err != nil {
			t.Fatal(err)
		}
	}
}

var rangeRE = regexp.MustCompile(`<h2>(\d+)–(\d+) of (\d+)</h2>`)

// shown returns the "from–to of total" of a people page and its names.
func shown(t *testing.T, body string) (string, []string) {
	t.Helper()
	m := rangeRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no range on the page:\n%s", body)
	}
	var names []string
	for _, n := range regexp.MustCompile(`>(Person \d{4})</a>`).FindAllStringSubmatch(body, -1) {
		names = append(names, n[1])
	}
	return m[1] + "-" + m[2] + "/" + m[3], names
}

// TestPeopleList: the people list pages both ways, searches by name,
// address and group, filters by state, expiry and missing factors, and
// sorts; every link keeps the rest of the query.
func TestPeopleList(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	party(t, c.env, 120)
	get := func(path string) string {
		t.Helper()
		code, _, body := c.do(t, admin, "GET", path, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		return body
	}
	body := get("/admin/people")
	if r, names := shown(t, body); r != "1-50/121" || names[0] != "Person 0000" {
		t.Errorf("first page: %s, %v", r, names)
	}
	body = get(href(t, body, "next"))
	if r, names := shown(t, body); r != "51-100/121" || names[0] != "Person 0050" {
		t.Errorf("next page: %s, first %v", r, names[:1])
	}
	body = get(href(t, body, "prev"))
	if r, _ := shown(t, body); r != "1-50/121" {
		t.Errorf("previous page: %s", r)
	}
	for _, tc := range []struct{ path, want, first string }{
		{"/admin/people?q=person+0042", "1-1/1", "Person 0042"},
		{"/admin/people?q=P0042%40EXAMPLE", "1-1/1", "Person 0042"},
		{"/admin/people?q=press", "1-40/40", "Person 0000"},
		{"/admin/people?filter=suspended", "1-5/5", "Person 0000"},
		{"/admin/people?filter=nofactor", "1-5/5", "Person 0005"},
		{"/admin/people?filter=invited&q=press", "1-9/9", "Person 0018"}, // invited: i ≡ 2 mod 4; press: i ≡ 0 mod 3; 0006 made active
		{"/admin/people?sort=name&desc=1", "1-50/121", "Person 0119"},
	} {
		if r, names := shown(t, get(tc.path)); r != tc.want || len(names) == 0 || names[0] != tc.first {
			t.Errorf("%s: %s starting %v, want %s starting %s", tc.path, r, names[:min(1, len(names))], tc.want, tc.first)
		}
	}
	// Links keep the search and the filter.
	body = get("/admin/people?q=person&filter=active&per=10")
	next := href(t, body, "next")
	if !strings.Contains(next, "q=person") || !strings.Contains(next, "filter=active") || !strings.Contains(next, "page=2") {
		t.Errorf("next link %q loses the query", next)
	}
	if tab := href(t, body, "filter-suspended"); !strings.Contains(tab, "q=person") || strings.Contains(tab, "page=") {
		t.Errorf("filter link %q", tab)
	}
	if !strings.Contains(body, "Suspended (5)") || !strings.Contains(body, "No second factor (5)") {
		t.Errorf("filter counts missing")
	}
}
