package webmail

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// moveMenu returns the mailbox ids a page's Move menu offers, and
// whether it has one.
func moveMenu(body string) ([]string, bool) {
	sel := regexp.MustCompile(`(?s)<select name="dest" id="dest">(.*?)</select>`).FindStringSubmatch(body)
	if sel == nil {
		return nil, false
	}
	var ids []string
	for _, m := range regexp.MustCompile(`<option value="(\d+)"`).FindAllStringSubmatch(sel[1], -1) {
		ids = append(ids, m[1])
	}
	return ids, true
}

// TestMoveMenuOwnOnly: the Move menu offers the member's own mailboxes,
// never a role mailbox's (moving there is refused, issue 19), and a role
// mailbox's pages offer no Move menu at all (moving out is refused too).
func TestMoveMenuOwnOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	ro, err := e.st.CreateRole(ctx, "press@"+domain, "Press")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateMailbox(ctx, ro.Owner(), "Interviews"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetGrant(ctx, "admin", ro.ID, anna.u.Account.ID, true); err != nil {
		t.Fatal(err)
	}
	roleUIDs, err := e.st.DeliverTo(ctx, []int64{ro.Owner()}, "INBOX", strings.NewReader(mail("journalist@news.example", "press@"+domain, "interview request", "Can we talk?")))
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.st.DeliverTo(ctx, []int64{anna.u.Account.ID}, "INBOX", strings.NewReader(mail("carol@"+domain, "anna@"+domain, "agenda", "Tuesday.")))
	if err != nil {
		t.Fatal(err)
	}
	roleIn, err := e.st.Mailbox(ctx, ro.Owner(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	roleBoxes, err := e.st.Mailboxes(ctx, ro.Owner())
	if err != nil || len(roleBoxes) < 2 {
		t.Fatalf("role mailboxes %v, %v", roleBoxes, err)
	}
	in := anna.box(t, "INBOX")
	archive := anna.box(t, "Archive")
	for _, path := range []string{boxHref(in.ID), msgHref(in.ID, uids[anna.u.Account.ID])} {
		res := anna.get(t, path)
		ids, ok := moveMenu(res.body)
		if res.code != http.StatusOK || !ok || !slices.Contains(ids, fmt.Sprint(archive.ID)) {
			t.Fatalf("GET %s: %d, Move menu %v (%v)", path, res.code, ids, ok)
		}
		for _, mb := range roleBoxes {
			if slices.Contains(ids, fmt.Sprint(mb.ID)) {
				t.Errorf("GET %s: the Move menu offers the role's %s (%d)", path, mb.Name, mb.ID)
			}
		}
	}
	for _, path := range []string{boxHref(roleIn.ID), msgHref(roleIn.ID, roleUIDs[ro.Owner()])} {
		res := anna.get(t, path)
		if ids, ok := moveMenu(res.body); res.code != http.StatusOK || ok {
			t.Errorf("GET %s: %d, Move menu %v in a role mailbox", path, res.code, ids)
		}
	}
	// Moving there by hand is still refused.
	f := url.Values{"sel": {ref2(in, uids[anna.u.Account.ID])}, "back": {boxHref(in.ID)}, "do": {"move"}, "dest": {fmt.Sprint(roleIn.ID)}}
	if res := anna.post(t, "/mail/act", f); res.code != http.StatusNotFound {
		t.Errorf("move into the role's INBOX: %d, want 404", res.code)
	}
}
