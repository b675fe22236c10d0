package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/phish"
)

// TestPhishReports: members reported a message; the admin sees one case,
// opens it to see whose mailboxes hold it, removes it from all of them
// and blocks the sender with one step-up action, and finds the sender on
// the block list; a member cannot reach the pages.
func TestPhishReports(t *testing.T) {
	t.Parallel()
	c := newConsoleMail(t, true)
	ctx := t.Context()
	admin := c.admin(t, "admin@example.org")
	var ids []int64
	for _, login := range []string{"anna@example.org", "bo@example.org"} {
		u := c.env.User(t, login, auth.RoleMember)
		if err := c.store.EnsureAccount(ctx, u.Account.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.Account.ID)
		if err := c.phish.Record(ctx, phish.Report{Reporter: login, MessageID: "x1@evil.example", Sender: "boss@evil.example", SenderName: "The Boss", Subject: "Wire money"}); err != nil {
			t.Fatal(err)
		}
	}
	msg := "From: The Boss <boss@evil.example>\r\nTo: all@example.org\r\nSubject: Wire money\r\nMessage-ID: <x1@evil.example>\r\n\r\nnow\r\n"
	if _, err := c.store.Deliver(ctx, ids, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	member := c.env.User(t, "cy@example.org", auth.RoleMember)
	if code, _, _ := c.do(t, member, "GET", "/admin/phish", nil); code == http.StatusOK {
		t.Error("a member reached the phishing reports")
	}
	code, _, body := c.do(t, admin, "GET", "/admin/phish", nil)
	if code != http.StatusOK || !strings.Contains(body, "Wire money") || !strings.Contains(body, "2 members") {
		t.Fatalf("reports page: %d\n%s", code, body)
	}
	cases, err := c.phish.Open(ctx, 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases %+v %v", cases, err)
	}
	casePath := "/admin/phish/" + itoa(cases[0].ID)
	code, _, body = c.do(t, admin, "GET", casePath, nil)
	if code != http.StatusOK || !strings.Contains(body, "In 2 mailboxes of 2 members") || !strings.Contains(body, "bo@example.org") {
		t.Fatalf("case page: %d\n%s", code, body)
	}
	code, loc, _ := c.do(t, admin, "POST", casePath+"/remove", url.Values{"csrf": {c.csrf(t, admin)}})
	if code != http.StatusSeeOther || loc != "/admin/phish" {
		t.Fatalf("remove: %d %s", code, loc)
	}
	_, _, body = c.do(t, admin, "GET", "/admin/phish", nil)
	if !strings.Contains(body, "Removed 2 copies from 2 members") || !strings.Contains(body, "boss@evil.example") || !strings.Contains(body, "No open reports") {
		t.Errorf("after removal:\n%s", body)
	}
	for _, id := range ids {
		if mb, err := c.store.Mailbox(ctx, id, "INBOX"); err != nil || mb.Messages != 0 {
			t.Errorf("account %d INBOX %+v %v", id, mb, err)
		}
	}
	if code, _, _ := c.do(t, admin, "GET", casePath, nil); code != http.StatusNotFound {
		t.Errorf("a closed case: %d, want 404", code)
	}
	// The block list: add a domain, refuse nonsense, remove.
	code, _, _ = c.do(t, admin, "POST", "/admin/phish/blocks", url.Values{"csrf": {c.csrf(t, admin)}, "sender": {"@Spam.example"}})
	if code != http.StatusSeeOther {
		t.Fatalf("block: %d", code)
	}
	if _, blocked, _ := c.phish.Blocked(ctx, "x@spam.example"); !blocked {
		t.Error("domain not blocked")
	}
	c.do(t, admin, "POST", "/admin/phish/blocks", url.Values{"csrf": {c.csrf(t, admin)}, "sender": {"not an address"}})
	if _, _, body = c.do(t, admin, "GET", "/admin/phish", nil); !strings.Contains(body, "is not an address or @domain") {
		t.Errorf("a bad entry was not explained:\n%s", body)
	}
	c.do(t, admin, "POST", "/admin/phish/blocks/remove", url.Values{"csrf": {c.csrf(t, admin)}, "sender": {"@spam.example"}})
	if _, blocked, _ := c.phish.Blocked(ctx, "x@spam.example"); blocked {
		t.Error("domain still blocked")
	}
}
