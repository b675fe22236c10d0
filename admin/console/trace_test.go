package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestTrace: "Who had this?" answers for a message by its Message-ID
// (every mailbox holding it) and for a file by its name (its reads,
// downloads through a public link and shares from the audit log, not
// unrelated records), to admins only.
func TestTrace(t *testing.T) {
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
	}
	msg := "From: Chair <chair@example.org>\r\nTo: board@example.org\r\nSubject: Strategy\r\nMessage-ID: <strat-1@example.org>\r\n\r\nsecret\r\n"
	if _, err := c.store.Deliver(ctx, ids, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	for _, e := range []audit.Event{
		{Actor: "bo@example.org", Subject: "anna@example.org", Kind: "files.read", Addr: "192.0.2.9", Detail: "file=7 space=home:anna@example.org path=/Shared/anna@example.org/budget.ods size=10 member"},
		{Kind: "files.read", Addr: "198.51.100.1", Detail: "file=7 space=home:anna@example.org path=/Home/budget.ods size=10 link=3"},
		{Actor: "anna@example.org", Kind: "files.share", Detail: "/Home/budget.ods with bo@example.org"},
		{Actor: "anna@example.org", Kind: "login.password", Detail: "budget.ods-not-an-access"}, // left out
	} {
		if err := c.env.Audit.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	member := c.env.User(t, "cy@example.org", auth.RoleMember)
	if code, _, _ := c.do(t, member, "GET", "/admin/trace?q=budget.ods", nil); code == http.StatusOK {
		t.Error("a member reached the trace page")
	}
	code, _, body := c.do(t, admin, "GET", "/admin/trace?q="+url.QueryEscape("<strat-1@example.org>"), nil)
	if code != http.StatusOK || !strings.Contains(body, "The message is in 2 mailboxes of 2 members") || !strings.Contains(body, "bo@example.org") {
		t.Fatalf("message trace: %d\n%s", code, body)
	}
	_, _, body = c.do(t, admin, "GET", "/admin/trace?q=budget.ods", nil)
	events := body[strings.Index(body, `id="trace-events"`):]
	if strings.Count(events, "file opened or downloaded") != 2 || !strings.Contains(events, "someone with the public link") ||
		!strings.Contains(events, "198.51.100.1") || strings.Contains(events, "not-an-access") || strings.Contains(body, "The message is in") {
		t.Errorf("file trace:\n%s", events)
	}
}
