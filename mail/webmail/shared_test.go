package webmail

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/store"
)

// TestRoleMailbox: a member granted a role mailbox finds it in their
// folder list, reads it (audited; \Seen shared), may not delete, move or
// flag in it, and may send as it only with send-as; a member without a
// grant gets "not found" for its pages and messages.
func TestRoleMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna, bob := e.member(t, "anna"), e.member(t, "bob")
	ro, err := e.st.CreateRole(ctx, "press@"+domain, "Press")
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.st.DeliverTo(ctx, []int64{ro.Owner()}, "INBOX", strings.NewReader(mail("journalist@news.example", "press@"+domain, "interview request", "Can we talk?")))
	if err != nil {
		t.Fatal(err)
	}
	uid := uids[ro.Owner()]
	in, err := e.st.Mailbox(ctx, ro.Owner(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msg := msgHref(in.ID, uid)

	// Without a grant: nothing.
	for _, path := range []string{boxHref(in.ID), msg, msg + "/frame"} {
		if res := anna.get(t, path); res.code != http.StatusNotFound {
			t.Errorf("GET %s without a grant: %d", path, res.code)
		}
	}
	if res := anna.get(t, "/mail/box/"+fmt.Sprint(anna.box(t, "INBOX").ID)); strings.Contains(res.body, "press@"+domain) {
		t.Error("folder list shows a role mailbox without a grant")
	}

	if err := e.st.SetGrant(ctx, "admin", ro.ID, anna.u.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	res := anna.get(t, "/mail/box/"+fmt.Sprint(anna.box(t, "INBOX").ID))
	if !strings.Contains(res.body, "press@"+domain) || !strings.Contains(res.body, boxHref(in.ID)) {
		t.Fatalf("folder list lacks the role mailbox:\n%s", res.body)
	}
	if res := anna.get(t, boxHref(in.ID)); res.code != http.StatusOK || !strings.Contains(res.body, "interview request") {
		t.Fatalf("role INBOX: %d", res.code)
	}
	if res := anna.get(t, msg); res.code != http.StatusOK || !strings.Contains(res.body, "interview request") {
		t.Fatalf("role message: %d", res.code)
	}
	// Read by anna is read for everyone: \Seen is the message's.
	ms, err := e.st.Messages(ctx, in.ID, []imap.UID{uid})
	if err != nil || len(ms) != 1 || !slices.Contains(ms[0].Flags, imap.FlagSeen) {
		t.Fatalf("after reading: %+v, %v", ms, err)
	}
	// The read is audited.
	e.a.Audit.Flush(ctx)
	recs, err := e.a.Audit.List(ctx, audit.Filter{Kind: "role.read"})
	if err != nil || len(recs) != 1 || recs[0].Actor != anna.u.Account.Login || recs[0].Subject != ro.Address {
		t.Fatalf("audit %+v, %v", recs, err)
	}
	// Deleting, moving or flagging in it is refused; marking unread is fine.
	sel := url.Values{"sel": {ref2(in, uid)}, "back": {boxHref(in.ID)}}
	for _, do := range []string{"trash", "archive", "flag", "junk"} {
		f := url.Values{"sel": sel["sel"], "back": sel["back"], "do": {do}}
		if res := anna.post(t, "/mail/act", f); res.code != http.StatusNotFound {
			t.Errorf("%s in a role mailbox: %d, want 404", do, res.code)
		}
	}
	if n, _ := e.st.UIDs(ctx, in.ID); len(n) != 1 {
		t.Fatalf("role INBOX holds %d after refused actions, want 1", len(n))
	}
	ms, _ = e.st.Messages(ctx, in.ID, []imap.UID{uid})
	if slices.Contains(ms[0].Flags, imap.FlagFlagged) || slices.Contains(ms[0].Flags, imap.FlagDeleted) {
		t.Fatalf("flags changed: %v", ms[0].Flags)
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel["sel"], "back": sel["back"], "do": {"unread"}})
	if ms, _ = e.st.Messages(ctx, in.ID, []imap.UID{uid}); slices.Contains(ms[0].Flags, imap.FlagSeen) {
		t.Fatal("marking unread in the role mailbox did not take")
	}

	// Send-as: offered and allowed only with the grant.
	if res := anna.get(t, "/mail/compose"); strings.Contains(res.body, `>press@`+domain+`</option>`) {
		t.Error("compose offers the role address without send-as")
	}
	send := url.Values{"do": {"send"}, "from": {"press@" + domain}, "to": {"bob@" + domain}, "subject": {"statement"}, "body": {"Our statement."}}
	anna.postMultipart(t, "/mail/send", send, nil)
	if n := len(bob.messages(t, "INBOX")); n != 0 {
		t.Fatalf("sent as the role without send-as: bob has %d messages", n)
	}
	if err := e.st.SetGrant(ctx, "admin", ro.ID, anna.u.Account.ID, true); err != nil {
		t.Fatal(err)
	}
	if res := anna.get(t, "/mail/compose"); !strings.Contains(res.body, `>press@`+domain+`</option>`) {
		t.Error("compose does not offer the role address with send-as")
	}

	if res := anna.postMultipart(t, "/mail/send", send, nil); res.code != http.StatusSeeOther {
		t.Fatalf("send as the role: %d %s", res.code, res.body)
	}
	got := bob.messages(t, "INBOX")
	if len(got) != 1 || len(got[0].Envelope.From) != 1 || got[0].Envelope.From[0].Addr() != "press@"+domain {
		t.Fatalf("bob's INBOX after the send as the role: %+v", got)
	}

	// Bob, with no grant, still sees nothing.
	if res := bob.get(t, msg); res.code != http.StatusNotFound {
		t.Errorf("bob: %d", res.code)
	}
}

// TestRoleEvents: the live-update stream of a member granted a role
// mailbox tells of deliveries to it (not to another role's), and of the
// grant taken away.
func TestRoleEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	press, err := e.st.CreateRole(ctx, "press@"+domain, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.st.CreateRole(ctx, "info@"+domain, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetGrant(ctx, "admin", press.ID, anna.u.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/mail/events", nil)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: anna.u.Session})
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data:") {
				lines <- strings.TrimSpace(strings.TrimPrefix(l, "data:"))
			}
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			return l
		case <-ctx.Done():
			t.Fatal("the stream said nothing")
			return ""
		}
	}
	for _, ro := range []store.Role{info, press} {
		if _, err := e.st.DeliverTo(ctx, []int64{ro.Owner()}, "INBOX", strings.NewReader(mail("x@outside.example", ro.Address, "hi", "x"))); err != nil {
			t.Fatal(err)
		}
	}
	in, err := e.st.Mailbox(ctx, press.Owner(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := next(), fmt.Sprintf(`{"boxes":[{"id":%d,"unseen":1,"messages":1}]}`, in.ID); got != want {
		t.Fatalf("event %s, want %s (the granted role's INBOX only)", got, want)
	}
	if _, err := e.st.RevokeGrant(ctx, press.ID, anna.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	if got := next(); !strings.Contains(got, `"all":true`) {
		t.Fatalf("event after the revoke %s, want all", got)
	}
}

// TestRolePhish: a phishing report from a role mailbox goes to the
// admins and leaves the message where it is (nobody with access may move
// it; an admin removes it everywhere from the console). It answered 500.
func TestRolePhish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	anna := e.member(t, "anna")
	admin := &member{e: e, u: e.a.User(t, "admin@"+domain, auth.RoleAdmin)}
	if err := e.st.EnsureAccount(ctx, admin.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	ro, err := e.st.CreateRole(ctx, "press@"+domain, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetGrant(ctx, "admin", ro.ID, anna.u.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	uids, err := e.st.DeliverTo(ctx, []int64{ro.Owner()}, "INBOX", strings.NewReader(mail("Leader <leader@lookalike.example>", ro.Address, "Urgent", "Pay now.")))
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.st.Mailbox(ctx, ro.Owner(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	res := anna.post(t, "/mail/msg/"+ref2(in, uids[ro.Owner()])+"/phish", nil)
	if res.code != http.StatusSeeOther || !strings.Contains(res.loc, "n=reported") {
		t.Fatalf("report from a role mailbox: %d %s", res.code, res.loc)
	}
	if got := admin.messages(t, "INBOX"); len(got) != 1 {
		t.Fatalf("the admins got %d reports", len(got))
	}
	if n, _ := e.st.UIDs(ctx, in.ID); len(n) != 1 {
		t.Fatalf("role INBOX holds %d, want the message left in place", len(n))
	}
}
