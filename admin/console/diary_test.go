package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// fakeDiaries keeps which groups' calendars and books are read-only.
type fakeDiaries struct {
	mu sync.Mutex
	ro map[int64]bool
}

func (f *fakeDiaries) ReadOnly(_ context.Context, g auth.Group) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ro[g.ID], nil
}

func (f *fakeDiaries) SetReadOnly(_ context.Context, _ string, g auth.Group, readOnly bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ro[g.ID] = readOnly
	return nil
}

// TestGroupDiary: on the groups page an admin makes a group's calendar
// and address book read-only for its members and writable again (a
// step-up action); an unknown group is refused.
func TestGroupDiary(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "admin@example.org")
	if err := c.env.Auth.CreateGroup(ctx, "", "press"); err != nil {
		t.Fatal(err)
	}
	_, _, body := c.do(t, admin, "GET", "/admin/groups", nil)
	if !strings.Contains(body, `id="diary-press"`) || !strings.Contains(body, "its members may change them") {
		t.Fatalf("groups page:\n%s", body)
	}
	code, loc, _ := c.do(t, admin, "POST", "/admin/groups/press/diary", url.Values{"csrf": {c.csrf(t, admin)}, "readonly": {"1"}})
	if code != http.StatusSeeOther || loc != "/admin/groups" {
		t.Fatalf("switch: %d %s", code, loc)
	}
	gs, _ := c.env.Auth.Groups(ctx)
	if ro, _ := c.diaries.ReadOnly(ctx, gs[0]); !ro {
		t.Error("not read-only after the switch")
	}
	if _, _, body = c.do(t, admin, "GET", "/admin/groups", nil); !strings.Contains(body, "read-only for its members now") || !strings.Contains(body, "Let members change them") {
		t.Errorf("after the switch:\n%s", body)
	}
	if code, _, _ := c.do(t, admin, "POST", "/admin/groups/nosuch/diary", url.Values{"csrf": {c.csrf(t, admin)}, "readonly": {"1"}}); code != http.StatusBadRequest {
		t.Errorf("an unknown group: %d", code)
	}
}
