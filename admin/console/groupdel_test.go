package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// An admin deletes a group from the groups page, after a confirmation and
// with a fresh security key, choosing who gets its files.
func TestConsoleDeleteGroup(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	vol := c.env.User(t, "vol@example.org", auth.RoleMember)
	for _, g := range []string{"press", "board"} {
		if err := c.env.Auth.AddToGroup(ctx, "", g, vol.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	press, _ := c.env.Auth.GroupID(ctx, "press")
	board, _ := c.env.Auth.GroupID(ctx, "board")
	code, _, page := c.do(t, admin, "GET", "/admin/groups", nil)
	if code != http.StatusOK || !strings.Contains(page, `action="/admin/groups/press/delete" data-confirm="Delete the group press?`) {
		t.Fatalf("groups page has no delete form with a confirmation: %d\n%s", code, page)
	}
	if !strings.Contains(page, `list="people"`) || !strings.Contains(page, `<datalist id="people"><option value="boss@example.org">`) ||
		!strings.Contains(page, `<option value="vol@example.org">`) {
		t.Errorf("the recipients are not offered:\n%s", page)
	}
	// A bare login is the party's address.
	code, body := c.act(t, admin, "/admin/groups/press/delete", url.Values{"to": {"vol"}})
	if code != http.StatusOK || !strings.Contains(body, "Group press deleted") || !strings.Contains(body, "Group files handed over") {
		t.Fatalf("delete: %d\n%s", code, body)
	}
	if _, ok, _ := c.env.Auth.GroupMembers(ctx, "press"); ok {
		t.Error("press still exists")
	}
	// Without a recipient, the files go to the admin.
	if code, _ := c.act(t, admin, "/admin/groups/board/delete", url.Values{"to": {""}}); code != http.StatusOK {
		t.Errorf("delete board: %d", code)
	}
	want := []string{
		"hand-over-group boss@example.org " + itoa(press) + " press->" + itoa(vol.Account.ID),
		"hand-over-group boss@example.org " + itoa(press) + " press->" + itoa(vol.Account.ID),
		"hand-over-group boss@example.org " + itoa(board) + " board->" + itoa(admin.Account.ID),
		"hand-over-group boss@example.org " + itoa(board) + " board->" + itoa(admin.Account.ID),
	}
	if calls := c.files.Calls(); !slices.Equal(calls, want) {
		t.Errorf("files calls %q, want %q", calls, want)
	}
	if recs, _ := c.env.Audit.List(ctx, audit.Filter{Kind: "group.delete"}); len(recs) != 2 || recs[1].Actor != "boss@example.org" {
		t.Errorf("audit %+v", recs)
	}
	// A missing group or a recipient who cannot have files: the page says so.
	if code, body := c.act(t, admin, "/admin/groups/nosuch/delete", url.Values{"to": {""}}); code != http.StatusBadRequest || !strings.Contains(body, "nosuch") {
		t.Errorf("missing group: %d", code)
	}
	if err := c.env.Auth.CreateGroup(ctx, "", "media"); err != nil {
		t.Fatal(err)
	}
	if code, body := c.act(t, admin, "/admin/groups/media/delete", url.Values{"to": {"nobody@example.org"}}); code != http.StatusBadRequest ||
		!strings.Contains(body, "only go to someone who is active or invited") {
		t.Errorf("unknown recipient: %d\n%s", code, body)
	}
	// After the step-up window, the action waits for the key, described.
	c.env.Clock.Advance(10 * time.Minute)
	code, loc, _ := c.do(t, admin, "POST", "/admin/groups/media/delete", url.Values{"csrf": {c.csrf(t, admin)}, "to": {""}})
	next, err := url.QueryUnescape(strings.TrimPrefix(loc, "/reauth?next="))
	if code != http.StatusSeeOther || err != nil || !strings.HasPrefix(next, "/admin/pending/") {
		t.Fatalf("stale session: %d %q, want to confirm, then the pending action", code, loc)
	}
	c.stepUp(t, admin)
	if code, _, body := c.do(t, admin, "GET", next, nil); code != http.StatusOK || !strings.Contains(body, "Delete the group media") {
		t.Errorf("pending page: %d\n%s", code, body)
	}
	if _, ok, _ := c.env.Auth.GroupMembers(ctx, "media"); !ok {
		t.Error("media deleted without a step-up")
	}
}

// TestGroupsPageListsPeopleOnce: the groups page offers the people to add
// once for all its groups (a datalist), not once per group: with 5,000
// members and ten groups it was 50,000 options. Adding a member by
// address (or by the part before the @) still works.
func TestGroupsPageListsPeopleOnce(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true) // the party's domain: example.org
	ctx := t.Context()
	admin := c.admin(t, "boss@example.org")
	party(t, c.env, 20)
	for _, g := range []string{"board", "campaign"} { // party made "press"
		if err := c.env.Auth.CreateGroup(ctx, "test", g); err != nil {
			t.Fatal(err)
		}
	}
	code, _, body := c.do(t, admin, "GET", "/admin/groups", nil)
	if code != http.StatusOK {
		t.Fatalf("groups page: %d", code)
	}
	if n := strings.Count(body, `<option value="p0010@example.org"`); n != 1 {
		t.Errorf("p0010 is offered %d times, want once for all three groups", n)
	}
	if n := strings.Count(body, `name="login" list="people"`); n != 3 {
		t.Errorf("%d fields use the list of people, want one per group", n)
	}
	if code, _ := c.act(t, admin, "/admin/groups/board/members", url.Values{"login": {"p0010"}}); code != http.StatusOK {
		t.Fatalf("add p0010 to board: %d", code)
	}
	a, err := c.env.Auth.AccountByLogin(ctx, "p0010@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if gs, err := c.env.Auth.GroupsOf(ctx, a.ID); err != nil || !slices.Contains(gs, "board") {
		t.Errorf("p0010's groups: %v, %v", gs, err)
	}
}
