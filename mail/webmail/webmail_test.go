package webmail

import (
	"bufio"
	"context"
	"errors"
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
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/submit"
)

// TestSignInRequired: without a session every page sends the browser to
// sign in, and no action runs.
func TestSignInRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	uid := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "hello", "hi"))
	cl := e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	msg := msgHref(in.ID, uid)
	for _, path := range []string{"/mail/", fmt.Sprintf("/mail/box/%d", in.ID), "/mail/compose", "/mail/search?q=hello", "/mail/events", "/mail/complete?q=ann",
		msg, msg + "/frame", msg + "/part/1", msg + "/preview/1", "/mail/settings"} {
		res, err := cl.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("GET %s without a session: %d %s", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res, err := cl.PostForm(e.ts.URL+"/mail/act", url.Values{"sel": {ref2(in, uid)}, "do": {"trash"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(anna.messages(t, "INBOX")) != 1 {
		t.Fatal("an action without a session ran")
	}
}

// TestList: the mailbox list shows unread counts; a mailbox's pages go
// down by UID, 50 at a time, with a link to the next.
func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	for i := range 120 {
		anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, fmt.Sprintf("note %03d", i), "hi"))
	}
	anna.put(t, "Archive", mail("x@outside.example", "anna@"+domain, "old", "hi"), imap.FlagSeen)
	in := anna.box(t, "INBOX")
	res := anna.get(t, "/mail/")
	if res.code != http.StatusSeeOther || res.loc != fmt.Sprintf("/mail/box/%d", in.ID) {
		t.Fatalf("/mail/: %d %s", res.code, res.loc)
	}
	res = anna.get(t, res.loc)
	if res.code != 200 {
		t.Fatalf("INBOX: %d", res.code)
	}
	if !strings.Contains(res.body, fmt.Sprintf(`data-unseen="%d">120<`, in.ID)) {
		t.Error("the side bar does not show INBOX's 120 unread")
	}
	if !strings.Contains(res.body, "note 119") || !strings.Contains(res.body, "note 070") || strings.Contains(res.body, "note 069") {
		t.Error("the first page is not the 50 newest")
	}
	older := fmt.Sprintf("/mail/box/%d?before=71", in.ID)
	if !strings.Contains(res.body, `href="`+older+`"`) {
		t.Fatalf("no link to the older page %s", older)
	}
	res = anna.get(t, older)
	if !strings.Contains(res.body, "note 069") || !strings.Contains(res.body, "note 020") || strings.Contains(res.body, "note 070") {
		t.Error("the second page is not the next 50")
	}
	if res := anna.get(t, fmt.Sprintf("/mail/box/%d?before=x", in.ID)); res.code != 404 {
		t.Errorf("a malformed page: %d", res.code)
	}
}

// TestCrossAccount is issue 15's account scoping: every id in every URL
// and form that names another account's mailbox, message or draft
// answers 404 and changes nothing, while the owner gets the page.
func TestCrossAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	in, trash, drafts := anna.box(t, "INBOX"), anna.box(t, "Trash"), anna.box(t, "Drafts")
	uid := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "secret plan", "launch monday"))
	anna.put(t, "Trash", mail("x@outside.example", "anna@"+domain, "binned", "x"))
	duid := anna.put(t, "Drafts", mail("anna@"+domain, "y@outside.example", "my draft", "x"), imap.FlagDraft)
	msg := ref2(in, uid)

	gets := []string{
		fmt.Sprintf("/mail/box/%d", in.ID),
		"/mail/search?q=secret&mb=" + fmt.Sprint(in.ID),
		"/mail/compose?reply=" + msg,
		"/mail/compose?forward=" + msg,
		"/mail/compose?draft=" + ref2(drafts, duid),
	}
	for _, p := range gets {
		if res := anna.get(t, p); res.code != 200 {
			t.Errorf("owner: GET %s: %d", p, res.code)
		}
		if res := ben.get(t, p); res.code != 404 {
			t.Errorf("another account: GET %s: %d, want 404", p, res.code)
		}
	}
	posts := []struct {
		path string
		form url.Values
	}{
		{"/mail/act", url.Values{"sel": {msg}, "do": {"trash"}}},
		{"/mail/act", url.Values{"sel": {msg}, "do": {"read"}}},
		{"/mail/act", url.Values{"sel": {ref2(ben.box(t, "INBOX"), 1), msg}, "do": {"junk"}}},
		{fmt.Sprintf("/mail/box/%d/empty", trash.ID), nil},
		{"/mail/msg/" + msg + "/phish", nil},
	}
	for _, p := range posts {
		if res := ben.post(t, p.path, p.form); res.code != 404 {
			t.Errorf("another account: POST %s %v: %d, want 404", p.path, p.form, res.code)
		}
	}
	// Ben moving his own message into Anna's mailbox by its id.
	buid := ben.put(t, "INBOX", mail("x@outside.example", "ben@"+domain, "bens", "x"))
	if res := ben.post(t, "/mail/act", url.Values{"sel": {ref2(ben.box(t, "INBOX"), buid)}, "do": {"move"}, "dest": {fmt.Sprint(in.ID)}}); res.code != 404 {
		t.Errorf("moving into another account's mailbox: %d, want 404", res.code)
	}
	// Ben's compose form naming Anna's message or draft.
	for _, f := range []url.Values{
		{"do": {"send"}, "from": {"ben@" + domain}, "to": {"ben@" + domain}, "forward": {msg}},
		{"do": {"save"}, "draft": {ref2(drafts, duid)}},
		{"do": {"save"}, "keepfrom": {msg}, "keep": {"1"}},
	} {
		res := ben.postMultipart(t, "/mail/send", f, nil)
		if res.code == http.StatusSeeOther || strings.Contains(res.body, "secret plan") || strings.Contains(res.body, "launch monday") {
			t.Errorf("compose with another account's message %v: %d", f, res.code)
		}
	}
	if got := anna.messages(t, "INBOX"); len(got) != 1 || slices.Contains(got[0].Flags, imap.FlagSeen) {
		t.Errorf("Anna's INBOX changed: %+v", got)
	}
	if len(anna.messages(t, "Trash")) != 1 || len(anna.messages(t, "Drafts")) != 1 {
		t.Error("Anna's Trash or Drafts changed")
	}
	if n := len(ben.messages(t, "Sent")); n != 0 {
		t.Errorf("Ben sent %d messages", n)
	}
}

// TestActions: each action changes the store as it says and redirects
// back with a notice (Post/Redirect/Get); several messages at once.
func TestActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	u1 := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "one", "x"))
	u2 := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "two", "x"))
	both := url.Values{"sel": {ref2(in, u1), ref2(in, u2)}}
	act := func(do string, extra ...string) response {
		t.Helper()
		f := url.Values{"sel": both["sel"], "do": {do}, "back": {fmt.Sprintf("/mail/box/%d", in.ID)}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		res := anna.post(t, "/mail/act", f)
		if res.code != http.StatusSeeOther || !strings.Contains(res.loc, "n=") {
			t.Fatalf("%s: %d %s %s", do, res.code, res.loc, res.body)
		}
		return res
	}
	hasFlag := func(name string, f imap.Flag) int {
		n := 0
		for _, m := range anna.messages(t, name) {
			if slices.Contains(m.Flags, f) {
				n++
			}
		}
		return n
	}
	act("read")
	if hasFlag("INBOX", imap.FlagSeen) != 2 {
		t.Error("read")
	}
	act("unread")
	if hasFlag("INBOX", imap.FlagSeen) != 0 {
		t.Error("unread")
	}
	act("flag")
	if hasFlag("INBOX", imap.FlagFlagged) != 2 {
		t.Error("flag")
	}
	act("unflag")
	if hasFlag("INBOX", imap.FlagFlagged) != 0 {
		t.Error("unflag")
	}
	res := anna.get(t, act("unread").loc)
	if !strings.Contains(res.body, "Marked as unread.") {
		t.Error("no notice after the redirect")
	}
	act("junk")
	if len(anna.messages(t, "INBOX")) != 0 || len(anna.messages(t, "Junk")) != 2 {
		t.Fatal("junk")
	}
	junk := anna.box(t, "Junk")
	sel := func(name string) []string {
		var out []string
		for _, m := range anna.messages(t, name) {
			out = append(out, ref2(anna.box(t, name), m.UID))
		}
		return out
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel("Junk"), "do": {"notjunk"}})
	if len(anna.messages(t, "INBOX")) != 2 || len(anna.messages(t, "Junk")) != 0 {
		t.Fatal("not junk")
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel("INBOX")[:1], "do": {"archive"}})
	if len(anna.messages(t, "Archive")) != 1 {
		t.Fatal("archive")
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel("Archive"), "do": {"move"}, "dest": {fmt.Sprint(junk.ID)}})
	if len(anna.messages(t, "Junk")) != 1 || len(anna.messages(t, "Archive")) != 0 {
		t.Fatal("move")
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel("INBOX"), "do": {"trash"}})
	if len(anna.messages(t, "Trash")) != 1 || len(anna.messages(t, "INBOX")) != 0 {
		t.Fatal("trash")
	}
	anna.post(t, "/mail/act", url.Values{"sel": sel("Trash"), "do": {"trash"}}) // in Trash: for good
	if len(anna.messages(t, "Trash")) != 0 {
		t.Fatal("delete for good in Trash")
	}
	if res := anna.post(t, fmt.Sprintf("/mail/box/%d/empty", in.ID), nil); res.code != 400 {
		t.Errorf("emptying INBOX: %d, want 400", res.code)
	}
	if res := anna.post(t, fmt.Sprintf("/mail/box/%d/empty", junk.ID), nil); res.code != http.StatusSeeOther {
		t.Errorf("emptying Junk: %d", res.code)
	}
	if len(anna.messages(t, "Junk")) != 0 {
		t.Error("Junk not emptied")
	}
	for _, bad := range []url.Values{
		{"do": {"read"}},
		{"sel": {"x/y"}, "do": {"read"}},
		{"sel": {ref2(in, 1)}, "do": {"explode"}},
	} {
		if res := anna.post(t, "/mail/act", bad); res.code != 400 {
			t.Errorf("%v: %d, want 400", bad, res.code)
		}
	}
	if res := anna.post(t, "/mail/act", url.Values{"sel": {ref2(in, 1)}, "do": {"read"}, "back": {"https://evil.example/"}}); res.code != http.StatusSeeOther || !strings.HasPrefix(res.loc, "/mail/") {
		t.Errorf("back to another site: %d %s", res.code, res.loc)
	}
}

// TestCSRF: every action without the session's token is refused and
// changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in, trash := anna.box(t, "INBOX"), anna.box(t, "Trash")
	uid := anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "one", "x"))
	anna.put(t, "Trash", mail("x@outside.example", "anna@"+domain, "two", "x"))
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/mail/act", url.Values{"sel": {ref2(in, uid)}, "do": {"trash"}}},
		{fmt.Sprintf("/mail/box/%d/empty", trash.ID), url.Values{}},
		{"/mail/msg/" + ref2(in, uid) + "/phish", url.Values{}},
		{"/mail/settings", url.Values{"signature": {"pwned"}}},
	} {
		for _, tok := range []string{"", "wrong"} {
			p.form.Set("csrf", tok)
			if res := anna.post(t, p.path, p.form); res.code != http.StatusForbidden {
				t.Errorf("POST %s with CSRF %q: %d, want 403", p.path, tok, res.code)
			}
		}
	}
	res := anna.postMultipart(t, "/mail/send", url.Values{"csrf": {""}, "do": {"send"}, "from": {"anna@" + domain}, "to": {"anna@" + domain}, "subject": {"x"}}, nil)
	if res.code != http.StatusForbidden {
		t.Errorf("send without CSRF: %d", res.code)
	}
	if len(anna.messages(t, "INBOX")) != 1 || len(anna.messages(t, "Trash")) != 1 || len(anna.messages(t, "Sent")) != 0 {
		t.Error("a refused action changed the store")
	}
	if sig, _ := e.st.Signature(t.Context(), anna.u.Account.ID); sig != "" {
		t.Error("the signature changed")
	}
}

// TestSend: a message written in the browser goes through mail/submit to
// the recipients, Bcc hidden from them, with a copy in Sent; refusals
// come back as sentences with what was written still in the form.
func TestSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben, cleo := e.member(t, "anna"), e.member(t, "ben"), e.member(t, "cleo")
	form := url.Values{
		"do": {"send"}, "from": {"anna@" + domain}, "to": {"Ben <ben@" + domain + ">"}, "bcc": {"cleo@" + domain},
		"subject": {"Budget 2027 ✓"}, "body": {"Dear Ben,\nsee attached.\n"},
	}
	res := anna.postMultipart(t, "/mail/send", form, []file{{"plan ü.txt", "text/plain", "the plan"}})
	if res.code != http.StatusSeeOther || !strings.Contains(res.loc, "n=sent") {
		t.Fatalf("send: %d %s\n%s", res.code, res.loc, res.body)
	}
	got := ben.messages(t, "INBOX")
	if len(got) != 1 || got[0].Envelope.Subject != "Budget 2027 ✓" {
		t.Fatalf("Ben's INBOX: %+v", got)
	}
	raw := ben.raw(t, got[0])
	if strings.Contains(strings.ToLower(raw), "bcc:") || strings.Contains(raw, "cleo@") {
		t.Error("the recipients see the Bcc")
	}
	if !strings.Contains(raw, "Received: from webmail") || !hasAttachment(got[0].BodyStructure) {
		t.Errorf("not through submission, or the attachment is missing:\n%s", raw)
	}
	if len(cleo.messages(t, "INBOX")) != 1 {
		t.Error("Bcc recipient got nothing")
	}
	sent := anna.messages(t, "Sent")
	if len(sent) != 1 || !slices.Contains(sent[0].Flags, imap.FlagSeen) || !strings.Contains(anna.raw(t, sent[0]), "Bcc: cleo@") {
		t.Errorf("Sent copy: %+v", sent)
	}

	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"send-as", url.Values{"from": {"ben@" + domain}, "to": {"ben@" + domain}}, "You may not send as that address"},
		{"no such member", url.Values{"from": {"anna@" + domain}, "to": {"nobody@" + domain}}, "does not exist"},
		{"outside, no queue", url.Values{"from": {"anna@" + domain}, "to": {"someone@outside.example"}}, "does not send mail outside the party"},
		{"bad address", url.Values{"from": {"anna@" + domain}, "to": {"ben@@" + domain}}, "not valid"},
		{"no recipient", url.Values{"from": {"anna@" + domain}}, "Add at least one recipient"},
		{"header injection", url.Values{"from": {"anna@" + domain}, "to": {"ben@" + domain}, "subject": {"x\r\nBcc: eve@outside.example"}}, ""},
	} {
		c.form.Set("do", "send")
		c.form.Set("body", "text kept "+c.name)
		res := anna.postMultipart(t, "/mail/send", c.form, nil)
		if c.want == "" {
			if res.code != http.StatusSeeOther {
				t.Errorf("%s: %d", c.name, res.code)
			}
			continue
		}
		if res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, c.want) || !strings.Contains(res.body, "text kept "+c.name) {
			t.Errorf("%s: %d, want 422 saying %q with the text kept:\n%s", c.name, res.code, c.want, res.body)
		}
	}
	last := ben.messages(t, "INBOX")
	if raw := ben.raw(t, last[len(last)-1]); strings.Contains(raw, "eve@") && strings.Contains(raw, "\r\nBcc:") {
		t.Errorf("a subject made a header field:\n%s", raw)
	}
}

// TestDrafts: a draft is an IMAP draft (\Draft in Drafts); saving again
// replaces it; sending it removes it.
func TestDrafts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	form := url.Values{"do": {"save"}, "from": {"anna@" + domain}, "to": {"ben@" + domain}, "subject": {"draft one"}, "body": {"first words"}}
	res := anna.postMultipart(t, "/mail/send", form, nil)
	if res.code != http.StatusSeeOther || !strings.HasPrefix(res.loc, "/mail/compose?draft=") {
		t.Fatalf("save: %d %s", res.code, res.loc)
	}
	d := anna.messages(t, "Drafts")
	if len(d) != 1 || !slices.Contains(d[0].Flags, imap.FlagDraft) || d[0].Envelope.Subject != "draft one" {
		t.Fatalf("Drafts: %+v", d)
	}
	page := anna.get(t, res.loc)
	if page.code != 200 || !strings.Contains(page.body, `value="draft one"`) || !strings.Contains(page.body, "ben@"+domain) {
		t.Errorf("the draft does not come back in the form:\n%s", page.body)
	}
	draftRef := strings.TrimPrefix(strings.Split(res.loc, "&")[0], "/mail/compose?draft=")
	form.Set("draft", draftRef)
	form.Set("subject", "draft two")
	res = anna.postMultipart(t, "/mail/send", form, nil, "Accept", "application/json")
	if res.code != 200 || !strings.Contains(res.body, `"draft":`) {
		t.Fatalf("autosave: %d %s", res.code, res.body)
	}
	d = anna.messages(t, "Drafts")
	if len(d) != 1 || d[0].Envelope.Subject != "draft two" {
		t.Fatalf("Drafts after saving again: %d, %+v", len(d), d)
	}
	form.Set("draft", ref2(anna.box(t, "Drafts"), d[0].UID))
	form.Set("do", "send")
	if res = anna.postMultipart(t, "/mail/send", form, nil); res.code != http.StatusSeeOther {
		t.Fatalf("send the draft: %d %s", res.code, res.body)
	}
	if len(anna.messages(t, "Drafts")) != 0 || len(ben.messages(t, "INBOX")) != 1 {
		t.Error("the sent draft stayed, or nothing arrived")
	}
}

// TestSearch: the search box's operators reach the store's full-text
// search, scoped to the account.
func TestSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	anna.put(t, "INBOX", mail("Treasurer <treasurer@outside.example>", "anna@"+domain, "Quarterly budget", "numbers inside"))
	anna.put(t, "INBOX", mail("press@outside.example", "anna@"+domain, "Interview request", "about the budget"))
	anna.put(t, "Archive", mail("press@outside.example", "anna@"+domain, "Archived budget talk", "old"))
	ben.put(t, "INBOX", mail("press@outside.example", "ben@"+domain, "Ben's budget secret", "x"))
	for _, c := range []struct {
		q         string
		want, not []string
	}{
		{"budget", []string{"Quarterly budget", "Interview request"}, []string{"Archived", "Ben's"}},
		{"from:treasurer", []string{"Quarterly budget"}, []string{"Interview request"}},
		{"subject:interview", []string{"Interview request"}, []string{"Quarterly"}},
		{"budget in:all", []string{"Quarterly budget", "Archived budget talk"}, []string{"Ben's"}},
		{"budget in:Archive", []string{"Archived budget talk"}, []string{"Quarterly"}},
		{"budget is:unread after:2000-01-01", []string{"Quarterly budget"}, nil},
		{"budget has:attachment", nil, []string{"Quarterly budget"}},
	} {
		res := anna.get(t, "/mail/search?q="+url.QueryEscape(c.q))
		if res.code != 200 {
			t.Errorf("%q: %d", c.q, res.code)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(res.body, w) {
				t.Errorf("%q does not find %q", c.q, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(res.body, n) {
				t.Errorf("%q finds %q", c.q, n)
			}
		}
	}
	if res := anna.get(t, "/mail/search?q=ab"); !strings.Contains(res.body, "Not searched for") {
		t.Error("a two-letter word is not said to be ignored")
	}
	if res := anna.get(t, "/mail/search?q=x+in:Nowhere"); res.code != 404 {
		t.Errorf("in: a mailbox that does not exist: %d", res.code)
	}
}

// TestComplete: address completion offers members, groups and recent
// correspondents.
func TestComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	e.member(t, "bertha")
	if err := e.a.Auth.AddToGroup(t.Context(), "", "board", anna.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	anna.put(t, "Sent", mail("anna@"+domain, "Bernd Outside <bernd@outside.example>", "hi", "x"), imap.FlagSeen)
	res := anna.get(t, "/mail/complete?q="+url.QueryEscape("someone@x.example, be"))
	if res.code != 200 || !strings.Contains(res.body, "bertha@"+domain) || !strings.Contains(res.body, "bernd@outside.example") || strings.Contains(res.body, "anna@") {
		t.Errorf("completing be: %s", res.body)
	}
	if res := anna.get(t, "/mail/complete?q=boa"); !strings.Contains(res.body, "board@"+domain) {
		t.Errorf("completing boa: %s", res.body)
	}
	if res := anna.get(t, "/mail/complete?q=+"); strings.TrimSpace(res.body) != "[]" {
		t.Errorf("completing nothing: %s", res.body)
	}
}

// TestCompleteVolunteer: a volunteer is not offered the member
// directory, only groups and the people they wrote to.
func TestCompleteVolunteer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.a.User(t, "vol@"+domain, auth.RoleVolunteer)
	if err := e.st.EnsureAccount(t.Context(), u.Account.ID); err != nil {
		t.Fatal(err)
	}
	vol := &member{e: e, u: u}
	e.member(t, "bertha")
	if err := e.a.Auth.CreateGroup(t.Context(), "", "beach"); err != nil {
		t.Fatal(err)
	}
	vol.put(t, "Sent", mail("vol@"+domain, "Bernd Outside <bernd@outside.example>", "hi", "x"), imap.FlagSeen)
	res := vol.get(t, "/mail/complete?q=be")
	if res.code != 200 || strings.Contains(res.body, "bertha@") || !strings.Contains(res.body, "bernd@outside.example") || !strings.Contains(res.body, "beach@"+domain) {
		t.Errorf("a volunteer completing be: %s", res.body)
	}
}

// TestSettings: the signature is saved and put under a new message.
func TestSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	if res := anna.post(t, "/mail/settings", url.Values{"signature": {"Anna\nTreasurer"}}); res.code != http.StatusSeeOther {
		t.Fatalf("save: %d", res.code)
	}
	if res := anna.get(t, "/mail/compose"); !strings.Contains(res.body, "-- \nAnna\nTreasurer") {
		t.Errorf("no signature in a new message:\n%s", res.body)
	}
	if res := anna.post(t, "/mail/settings", url.Values{"signature": {strings.Repeat("x", 5000)}}); res.code != 400 {
		t.Errorf("an over-long signature: %d", res.code)
	}
}

// TestEvents: the live-update stream tells of a delivery to the account,
// not of another account's, and ends when the session is revoked, as
// IMAP and WebDAV connections do.
func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/mail/events", nil)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: anna.u.Session})
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() (string, bool) {
		select {
		case l, ok := <-lines:
			return l, ok
		case <-ctx.Done():
			t.Fatal("the stream said nothing")
			return "", false
		}
	}
	if l, _ := next(); !strings.HasPrefix(l, "retry:") {
		t.Fatalf("first line %q", l)
	}
	ben.put(t, "INBOX", mail("x@outside.example", "ben@"+domain, "for ben", "x"))
	anna.put(t, "INBOX", mail("x@outside.example", "anna@"+domain, "for anna", "x"))
	in := anna.box(t, "INBOX")
	for {
		l, ok := next()
		if !ok {
			t.Fatal("the stream ended")
		}
		if strings.HasPrefix(l, "data:") {
			want := fmt.Sprintf(`{"boxes":[{"id":%d,"unseen":1,"messages":1}]}`, in.ID)
			if strings.TrimSpace(strings.TrimPrefix(l, "data:")) != want {
				t.Fatalf("event data %s, want %s", l, want)
			}
			break
		}
	}
	sess, err := e.a.Auth.Session(t.Context(), anna.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Auth.EndSession(t.Context(), anna.u.Account.Login, anna.u.Account.ID, sess.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := next(); !ok {
			break // the stream ended
		}
	}
}

// TestPhish: one click forwards the original, whole, as an attachment to
// the party's postmaster (the admins) through mail/submit, and files it
// in Junk.
func TestPhish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	admin := &member{e: e, u: e.a.User(t, "admin@"+domain, auth.RoleAdmin)}
	if err := e.st.EnsureAccount(t.Context(), admin.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	orig := mail("Party Leader <leader@lookalike.example>", "anna@"+domain, "Urgent: wire the money", "Send it now.")
	uid := anna.put(t, "INBOX", orig)
	in := anna.box(t, "INBOX")
	res := anna.post(t, "/mail/msg/"+ref2(in, uid)+"/phish", nil)
	if res.code != http.StatusSeeOther || !strings.Contains(res.loc, "n=reported") {
		t.Fatalf("report: %d %s %s", res.code, res.loc, res.body)
	}
	if len(anna.messages(t, "INBOX")) != 0 || len(anna.messages(t, "Junk")) != 1 {
		t.Error("the message was not moved to Junk")
	}
	got := admin.messages(t, "INBOX")
	if len(got) != 1 || !strings.HasPrefix(got[0].Envelope.Subject, "Phishing report: Urgent") {
		t.Fatalf("the admins got %+v", got)
	}
	raw := admin.raw(t, got[0])
	if !strings.Contains(raw, "Content-Type: message/rfc822") || !strings.Contains(raw, orig) {
		t.Errorf("the original is not attached whole:\n%s", raw)
	}
	recs, err := e.a.Audit.List(t.Context(), audit.Filter{Account: anna.u.Account.Login, Kind: "mail.phish-report"})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, "@outside.example") {
		t.Errorf("audit records of the report: %+v %v", recs, err)
	}
	// The console sees the report, with who made it and whom it names.
	cases, err := e.reports.Open(t.Context(), 10)
	if err != nil || len(cases) != 1 || cases[0].Sender != "leader@lookalike.example" || !slices.Equal(cases[0].Reporters, []string{anna.u.Account.Login}) || !cases[0].Actionable() {
		t.Errorf("phishing cases: %+v %v", cases, err)
	}
	// Reporting again, from Junk, sends again and stays in Junk.
	junk := anna.box(t, "Junk")
	if res := anna.post(t, "/mail/msg/"+ref2(junk, anna.messages(t, "Junk")[0].UID)+"/phish", nil); res.code != http.StatusSeeOther {
		t.Fatalf("report from Junk: %d", res.code)
	}
	if len(anna.messages(t, "Junk")) != 1 || len(admin.messages(t, "INBOX")) != 2 {
		t.Error("report from Junk")
	}
}

// TestSendAs: From offers the member's address, aliases and groups'
// addresses, and a message goes out from each; nobody else's.
func TestSendAs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	ctx := t.Context()
	if err := e.dir.AddAlias(ctx, "", anna.u.Account.ID, "treasurer@"+domain); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Auth.CreateGroup(ctx, "", "press"); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Auth.AddToGroup(ctx, "", "press", anna.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	page := anna.get(t, "/mail/compose")
	for _, a := range []string{"anna@", "treasurer@", "press@"} {
		if !strings.Contains(page.body, "<option>"+a+domain+"</option>") && !strings.Contains(page.body, "<option selected>"+a+domain+"</option>") {
			t.Errorf("From does not offer %s", a+domain)
		}
	}
	if strings.Contains(page.body, "<option>ben@") {
		t.Error("From offers another member's address")
	}
	for _, from := range []string{"treasurer@" + domain, "press@" + domain} {
		res := anna.postMultipart(t, "/mail/send", url.Values{"do": {"send"}, "from": {from}, "to": {"ben@" + domain}, "subject": {"from " + from}}, nil)
		if res.code != http.StatusSeeOther {
			t.Errorf("send as %s: %d %s", from, res.code, res.body)
		}
	}
	if got := ben.messages(t, "INBOX"); len(got) != 2 || got[1].Envelope.From[0].Addr() != "press@"+domain {
		t.Errorf("Ben got %d messages", len(got))
	}
}

// TestSentence: every kind of refusal of mail/submit reads as a sentence
// of its own, in every language; an internal failure as none (the page
// says "try again").
func TestSentence(t *testing.T) {
	t.Parallel()
	b := i18n.Builtin()
	for _, lang := range b.Languages() {
		l := b.Localizer(lang, nil)
		seen := map[string]bool{}
		for _, kind := range []error{submit.ErrSendAs, submit.ErrRateLimited, submit.ErrTooManyRcpts, submit.ErrNoSuchUser, submit.ErrBadRecipient,
			submit.ErrBadHeader, submit.ErrMailboxFull, submit.ErrTooLarge, submit.ErrNoRemote, submit.ErrBounceOnly} {
			s := sentence(l, fmt.Errorf("wrapped: %w", &submit.Error{Code: 550, Kind: kind, Message: "smtp text"}))
			if s == "" || seen[s] || strings.Contains(s, "smtp text") || strings.Contains(s, "550") || strings.HasPrefix(s, "webmail.") {
				t.Errorf("%s: %v reads %q", lang, kind, s)
			}
			seen[s] = true
		}
		if s := sentence(l, &submit.Error{Code: 451, Kind: submit.ErrTemporary, Cause: errors.New("disk on fire")}); s != "" {
			t.Errorf("%s: a temporary failure reads %q", lang, s)
		}
		if s := sentence(l, errors.New("database locked")); s != "" {
			t.Errorf("%s: an internal error reads %q", lang, s)
		}
	}
}

// TestSendTypedText: a subject and a display name are sent as the member
// typed them, even when they hold what looks like an RFC 2047
// encoded-word: the recipient's client must not decode typed text.
func TestSendTypedText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, ben := e.member(t, "anna"), e.member(t, "ben")
	const name = "=?utf-8?q?The_Treasurer?="
	if err := e.a.Auth.ChangeAccount(t.Context(), anna.u.Account.Login, anna.u.Account.ID, auth.AccountChange{Name: new(name)}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	for i, subject := range []string{
		"Re: =?utf-8?q?Hi?=",
		"how =?iso-8859-1?q?caf=E9?= is written",
		"Zoë wrote =?utf-8?b?SGk=?= by hand",
		strings.Repeat("a long subject, ", 15) + "=?",
	} {
		form := url.Values{"do": {"send"}, "from": {"anna@" + domain}, "to": {"ben@" + domain}, "subject": {subject}, "body": {"x"}}
		if res := anna.postMultipart(t, "/mail/send", form, nil); res.code != http.StatusSeeOther {
			t.Fatalf("send %q: %d\n%s", subject, res.code, res.body)
		}
		got := ben.messages(t, "INBOX")
		if len(got) != i+1 {
			t.Fatalf("Ben has %d messages, want %d", len(got), i+1)
		}
		env := got[i].Envelope
		if env.Subject != subject {
			t.Errorf("subject typed %q, read %q\n%s", subject, env.Subject, ben.raw(t, got[i]))
		}
		if len(env.From) != 1 || env.From[0].Name != name {
			t.Errorf("display name %q, read %+v", name, env.From)
		}
		// Every line of the header within RFC 5322's 78 characters, or
		// RFC 2047's 76 where it holds an encoded-word.
		head, _, _ := strings.Cut(ben.raw(t, got[i]), "\r\n\r\n")
		for l := range strings.SplitSeq(head, "\r\n") {
			limit := 78
			if strings.Contains(l, "=?") {
				limit = 76
			}
			if len(l) > limit {
				t.Errorf("a header line of %d characters (limit %d): %q", len(l), limit, l)
			}
		}
	}
}
