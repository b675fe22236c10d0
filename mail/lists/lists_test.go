package lists

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// TestModeratedPostDelivered: an outside post waits, sends nothing until
// a moderator approves it, then every member gets a copy of their own
// with the list's header fields (parsed from the delivered copy).
func TestModeratedPostDelivered(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	if err := f.svc.Subscribe(ctx, "admin@example-party.org", f.list, "Supporter@Outside.example", SourceAdmin, "met at the rally"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "eve@elsewhere.example", Msg: post("Eve <eve@elsewhere.example>", "Hello")}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.SendPending(ctx); err != nil || n != 0 {
		t.Fatalf("SendPending before approval = %d, %v; want nothing sent", n, err)
	}
	waiting, err := f.svc.Posts(ctx, f.list, PostWaiting, 10)
	if err != nil || len(waiting) != 1 || waiting[0].Subject != "Hello" {
		t.Fatalf("waiting = %+v, %v", waiting, err)
	}
	if got := f.sender.take(); len(got) != 0 {
		t.Fatalf("sent before approval: %d", len(got))
	}
	if err := f.svc.Approve(ctx, "anna@example-party.org", waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Approve(ctx, "anna@example-party.org", waiting[0].ID); !errors.Is(err, ErrNoPost) {
		t.Errorf("second approval: %v, want ErrNoPost", err)
	}
	if n, err := f.svc.SendPending(ctx); err != nil || n != 3 {
		t.Fatalf("SendPending = %d, %v; want 3", n, err)
	}
	copies := byRcpt(t, f.sender.take())
	for _, rcpt := range []string{"anna@example-party.org", "bob@example-party.org", "supporter@outside.example"} {
		c, ok := copies[rcpt]
		if !ok {
			t.Fatalf("no copy for %s (got %v)", rcpt, copies)
		}
		if !c.bulk {
			t.Errorf("%s: copy not sent on the bulk path", rcpt)
		}
		checkHeaders(t, f, rcpt, c)
	}
	if c := copies["supporter@outside.example"]; !regexp.MustCompile(`^news\+b-\d+-[0-9a-f]{16}@example-party\.org$`).MatchString(c.from) {
		t.Errorf("remote copy's return path %q is no VERP address", c.from)
	}
	sentPosts, _ := f.svc.Posts(ctx, f.list, PostSent, 10)
	if len(sentPosts) != 1 {
		t.Errorf("sent posts = %d, want 1", len(sentPosts))
	}
}

// TestListHelpOpenOnly: only an open list's posts link to its help
// page, which is public for open lists only (listweb).
func TestListHelpOpenOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	for _, open := range []bool{true, false} {
		var b bytes.Buffer
		f.svc.listFields(&b, List{ID: 7, Address: "news@example-party.org", Name: "News", Open: open})
		has := strings.Contains(b.String(), "List-Help: <https://mail.example-party.org/mail/lists/7/help>\r\n")
		if has != open {
			t.Errorf("open %v: List-Help given %v:\n%s", open, has, b.String())
		}
	}
}

// TestListFieldsLineLength: a long list name and address make List-Id
// lines within RFC 5322's 78 characters (76 with an encoded-word, RFC
// 2047 section 2), and the name reads back as typed.
func TestListFieldsLineLength(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	for _, l := range []List{
		{ID: 7, Address: "umwelt-klima-energie@kv-nordwestmecklenburg.example-party.org", Name: "Arbeitskreis Umwelt und Energie"},
		{ID: 8, Address: "umwelt-klima-energie@kv-nordwestmecklenburg.example-party.org", Name: "Arbeitskreis Umwelt, Klima & Energie im Kreisverband Nordwestmecklenburg"},
		{ID: 9, Address: "news@example-party.org", Name: "Arbeitskreis Umwelt, Klima und Energie für Nordwestmecklenburg"},
	} {
		var b bytes.Buffer
		f.svc.listFields(&b, l)
		for line := range strings.SplitSeq(strings.TrimSuffix(b.String(), "\r\n"), "\r\n") {
			limit := 78
			if strings.Contains(line, "=?") {
				limit = 76
			}
			if len(line) > limit {
				t.Errorf("%q: a line of %d characters (limit %d): %q", l.Name, len(line), limit, line)
			}
		}
		h := parse(t, []byte(b.String()+"\r\n")).Header
		// The phrase read as a display name (a list-id has no "@").
		id := h.Get("List-Id")
		phrase, rest, _ := strings.Cut(id, " <"+l.ListID()+">")
		a, err := mail.ParseAddress(phrase + " <x@example.org>")
		if err != nil || a.Name != l.Name || rest != "" {
			t.Errorf("%q: List-Id %q reads %+v (%v)", l.Name, id, a, err)
		}
	}
}

// checkHeaders checks a delivered copy's list fields (RFC 2919, 2369, 8058).
func checkHeaders(t *testing.T, f *fixture, rcpt string, c sent) {
	t.Helper()
	m := parse(t, c.msg)
	h := m.Header
	want := map[string]string{
		"List-Id":               `Party News <news.example-party.org>`,
		"List-Post":             "<mailto:news@example-party.org>",
		"List-Archive":          "<https://mail.example-party.org/mail/lists/1/>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Precedence":            "list",
		"Reply-To":              "<eve@elsewhere.example>",
		"From":                  `Eve via Party News <news@example-party.org>`,
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want one %q", rcpt, k, got, v)
		}
	}
	if got := h["Dkim-Signature"]; len(got) != 0 {
		t.Errorf("%s: the post's old signature kept: %q", rcpt, got)
	}
	// The list is closed: its help page is not public (listweb).
	if got := h["List-Help"]; len(got) != 0 {
		t.Errorf("%s: a closed list's post has List-Help %q", rcpt, got)
	}
	unsub := h.Get("List-Unsubscribe")
	u, err := url.Parse(strings.Trim(unsub, "<>"))
	if err != nil || u.Scheme != "https" || u.Query().Get("a") != rcpt || u.Host != "mail.example-party.org" {
		t.Errorf("%s: List-Unsubscribe %q", rcpt, unsub)
	}
}

// TestModeratorPostsDirectly: a moderator who signed in to send posts at
// once; the same From from outside waits.
func TestModeratorPostsDirectly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	msg := post("Anna <anna@example-party.org>", "Direct")
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Msg: msg}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "bob@example-party.org", Msg: msg}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.svc.SendPending(ctx); n != 0 {
		t.Fatalf("a forged or non-moderator post went out to %d", n)
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: msg}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.SendPending(ctx); err != nil || n != 2 {
		t.Fatalf("moderator's post: sent %d, %v; want 2", n, err)
	}
	c := byRcpt(t, f.sender.take())["bob@example-party.org"]
	if got := parse(t, c.msg).Header.Get("From"); got != "Anna <anna@example-party.org>" {
		t.Errorf("a party From was rewritten: %q", got)
	}
	waiting, _ := f.svc.Posts(ctx, f.list, PostWaiting, 10)
	if len(waiting) != 2 {
		t.Errorf("waiting = %d, want 2", len(waiting))
	}
}

// TestUnsubscribe: the one-click token of one address unsubscribes it and
// no other, a wrong token nothing; an unsubscribed group member and
// subscriber get no more copies.
func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	f.svc.Subscribe(ctx, "admin", f.list, "sup@outside.example", SourceImport, "supporters.csv")
	tokBob := f.svc.unsubToken(f.list, "bob@example-party.org")
	for _, tc := range []struct{ addr, tok string }{
		{"anna@example-party.org", tokBob},
		{"bob@example-party.org", tokBob[:len(tokBob)-1] + "A"},
		{"bob@example-party.org", ""},
	} {
		if err := f.svc.Unsubscribe(ctx, f.list, tc.addr, tc.tok, "192.0.2.1"); !errors.Is(err, ErrBadToken) {
			t.Errorf("Unsubscribe(%s, %q) = %v, want ErrBadToken", tc.addr, tc.tok, err)
		}
	}
	for _, a := range []string{"bob@example-party.org", "sup@outside.example"} {
		if err := f.svc.Unsubscribe(ctx, f.list, a, f.svc.unsubToken(f.list, a), "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: post("anna@example-party.org", "After")}); err != nil {
		t.Fatal(err)
	}
	f.svc.SendPending(ctx)
	got := byRcpt(t, f.sender.take())
	if len(got) != 1 || got["anna@example-party.org"].msg == nil {
		t.Errorf("after unsubscribing: copies to %v, want anna only", slices.Collect(mapKeys(got)))
	}
}

func mapKeys(m map[string]sent) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestDoubleOptIn: a subscription request mails a link; only that link
// activates the address, with consent recorded as web; a second request
// within a day mails nothing; a closed list takes no requests.
func TestDoubleOptIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := t.Context()
	if err := f.svc.RequestSubscription(ctx, f.list, "new@outside.example", "198.51.100.7", "it"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequestSubscription(ctx, f.list, "new@outside.example", "198.51.100.7", "it"); !errors.Is(err, ErrTooSoon) {
		t.Errorf("second request: %v, want ErrTooSoon", err)
	}
	mails := f.sender.take()
	if len(mails) != 1 || mails[0].to[0] != "new@outside.example" || mails[0].bulk {
		t.Fatalf("confirmation mails = %+v", mails)
	}
	m := parse(t, mails[0].msg)
	if m.Header.Get("Content-Language") != "it" || !strings.Contains(m.Header.Get("Subject"), "Conferma") {
		t.Errorf("confirmation not in the form's language: %q %q", m.Header.Get("Content-Language"), m.Header.Get("Subject"))
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	link := regexp.MustCompile(`https://\S+/mail/lists/confirm\?\S+`).Find(body)
	u, err := url.Parse(string(link))
	if err != nil || link == nil {
		t.Fatalf("no link in %s", body)
	}
	q := u.Query()
	if err := f.svc.Confirm(ctx, f.list, q.Get("a"), q.Get("t")+"x", "198.51.100.7"); !errors.Is(err, ErrBadToken) {
		t.Errorf("wrong token: %v", err)
	}
	if err := f.svc.Confirm(ctx, f.list, "other@outside.example", q.Get("t"), "198.51.100.7"); !errors.Is(err, ErrBadToken) {
		t.Errorf("token of another address: %v", err)
	}
	subs, _ := f.svc.Subscribers(ctx, f.list)
	if len(subs) != 1 || subs[0].State != StatePending {
		t.Fatalf("before confirming: %+v", subs)
	}
	if err := f.svc.Confirm(ctx, f.list, q.Get("a"), q.Get("t"), "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	subs, _ = f.svc.Subscribers(ctx, f.list)
	if len(subs) != 1 || subs[0].State != StateActive || subs[0].ConsentSource != SourceWeb || subs[0].ConsentAt.IsZero() {
		t.Fatalf("after confirming: %+v", subs)
	}
	closed, err := f.svc.Create(ctx, "admin", List{Address: "board@example-party.org", Name: "Board"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequestSubscription(ctx, closed, "new@outside.example", "198.51.100.7", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("closed list: %v", err)
	}
	for _, addr := range []string{"board@example-party.org", "News+x@example-party.org", "not an address", "a@b@c"} {
		if err := f.svc.Subscribe(ctx, "admin", f.list, addr, SourceAdmin, ""); !errors.Is(err, ErrBadList) {
			t.Errorf("Subscribe(%q) = %v, want ErrBadList", addr, err)
		}
	}
}

// TestCreateRefuses: list addresses outside the party, too long for
// VERP, taken (by a person, a group, a role mailbox), or of a missing
// group are refused.
func TestCreateRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	dir := route.New(f.env.DB, f.env.Auth, []string{"example-party.org"}, f.env.Clock.Now)
	dir.SetLists(f.svc)
	dir.SetRoles(pressRole{})
	f.svc.deps.Dir = dir
	for _, l := range []List{
		{Address: "press@example-party.org", Name: "A role mailbox's"},
		{Address: "news@elsewhere.example", Name: "X"},
		{Address: "news@example-party.org", Name: "Again"},
		{Address: strings.Repeat("a", 31) + "@example-party.org", Name: "Long"},
		{Address: "a+b@example-party.org", Name: "Sub"},
		{Address: "x@example-party.org", Name: "No group", Group: "nobody"},
		{Address: "y@example-party.org", Name: "bad\r\nname"},
		{Address: "anna@example-party.org", Name: "An account's"},
		{Address: "members@example-party.org", Name: "A group's"},
		{Address: "postmaster@example-party.org", Name: "The postmaster"},
	} {
		if _, err := f.svc.Create(t.Context(), "admin", l); !errors.Is(err, ErrBadList) {
			t.Errorf("Create(%+v) = %v, want ErrBadList", l, err)
		}
	}
}

// pressRole has one role mailbox, press@example-party.org.
type pressRole struct{}

func (pressRole) RoleByAddress(_ context.Context, address string) (store.Role, error) {
	if strings.EqualFold(address, "press@example-party.org") {
		return store.Role{ID: 1, Address: "press@example-party.org"}, nil
	}
	return store.Role{}, store.ErrNoRole
}

// TestArchiveMembersOnly: group members and moderators read the archive,
// others do not.
func TestArchiveMembersOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	eve := f.env.User(t, "eve@example-party.org", "member")
	l, _ := f.svc.Get(ctx, f.list)
	for _, tc := range []struct {
		login string
		id    int64
		want  bool
	}{{"anna", f.anna.Account.ID, true}, {"bob", f.bob.Account.ID, true}, {"eve", eve.Account.ID, false}} {
		a, _ := f.env.Auth.Account(ctx, tc.id)
		if ok, err := f.svc.IsMember(ctx, l, a); err != nil || ok != tc.want {
			t.Errorf("IsMember(%s) = %v, %v; want %v", tc.login, ok, err, tc.want)
		}
	}
}

// TestSendFailures: a copy to an address that takes no mail, or to a full
// mailbox, is dropped and the others go; a copy the queue could not take now stays in the
// outbox and goes at the next turn.
func TestSendFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	f.svc.Subscribe(ctx, "admin", f.list, "sup@outside.example", SourceAdmin, "")
	cy := f.env.User(t, "cy@example-party.org", "member")
	if err := f.env.Auth.AddToGroup(ctx, "", "members", cy.Account.ID); err != nil {
		t.Fatal(err)
	}
	full := true
	f.sender.fail = func(to string) error {
		switch {
		case to == "bob@example-party.org":
			return fmt.Errorf("submit: %w: bob has left", route.ErrUnknown)
		case to == "cy@example-party.org":
			return fmt.Errorf("submit: deliver: %w: 1.2 GB of 1 GB used", store.ErrQuota)
		case to == "sup@outside.example" && full:
			return errors.New("queue: enqueue: no space left on device")
		}
		return nil
	}
	f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: post("anna@example-party.org", "x")})
	if _, err := f.svc.SendPending(ctx); err == nil {
		t.Fatal("a copy the queue refused for now was reported sent")
	}
	full = false
	if _, err := f.svc.SendPending(ctx); err != nil {
		t.Fatal(err)
	}
	got := byRcpt(t, f.sender.take())
	if len(got) != 2 || got["anna@example-party.org"].msg == nil || got["sup@outside.example"].msg == nil {
		t.Errorf("copies to %v, want anna and sup once each", slices.Collect(mapKeys(got)))
	}
	if n, _ := f.svc.SendPending(ctx); n != 0 {
		t.Errorf("%d copies left in the outbox", n)
	}
	if sent, _ := f.svc.Posts(ctx, f.list, PostSent, 10); len(sent) != 1 {
		t.Errorf("post not marked sent")
	}
}

// TestLimits: a post over MaxPost is refused, and so is one more post
// when the list has maxWaiting waiting.
func TestLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	big := append(post("eve@elsewhere.example", "big"), strings.Repeat("x", MaxPost)...)
	err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "eve@elsewhere.example", Msg: big})
	var se *submit.Error
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("a post of %d bytes: %v, want ErrTooLarge answered 552", len(big), err)
	}
	f.svc.maxWaiting = 3
	for i := range 4 {
		err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "eve@elsewhere.example", Msg: post("eve@elsewhere.example", "spam")})
		if want := i == 3; errors.Is(err, ErrTooMany) != want || want && (!errors.As(err, &se) || se.Code != 452) {
			t.Errorf("post %d: %v", i+1, err)
		}
	}
	if waiting, _ := f.svc.Posts(ctx, f.list, PostWaiting, 10); len(waiting) != 3 {
		t.Errorf("%d waiting, want 3", len(waiting))
	}
}

// TestForget: an address forgotten leaves no row (consent, bounces) and
// gets no more copies; forgetting an address not on the list fails.
func TestForget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	f.svc.Subscribe(ctx, "admin", f.list, "sup@outside.example", SourceAdmin, "met at the rally")
	if err := f.svc.Forget(ctx, "admin", f.list, "Sup@Outside.example"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := f.svc.Subscribers(ctx, f.list); len(subs) != 0 {
		t.Errorf("rows left: %+v", subs)
	}
	if err := f.svc.Forget(ctx, "admin", f.list, "sup@outside.example"); !errors.Is(err, ErrBadList) {
		t.Errorf("second Forget: %v", err)
	}
	f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: post("anna@example-party.org", "x")})
	f.svc.SendPending(ctx)
	if _, ok := byRcpt(t, f.sender.take())["sup@outside.example"]; ok {
		t.Error("a forgotten address got a copy")
	}
}

// TestConfirmExpires: a confirmation link older than confirmValid does
// nothing; a day after a request the address may ask again, and only the
// newest link counts.
func TestConfirmExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := t.Context()
	ask := func() string {
		t.Helper()
		if err := f.svc.RequestSubscription(ctx, f.list, "new@outside.example", "198.51.100.7", ""); err != nil {
			t.Fatal(err)
		}
		var requested int64
		if err := f.env.DB.QueryRowContext(ctx, `SELECT requested_at FROM list_subscribers WHERE address = 'new@outside.example'`).Scan(&requested); err != nil {
			t.Fatal(err)
		}
		return f.svc.confirmToken(f.list, "new@outside.example", requested)
	}
	old := ask()
	f.env.Clock.Advance(confirmEvery + time.Minute)
	newer := ask()
	if err := f.svc.Confirm(ctx, f.list, "new@outside.example", old, "x"); !errors.Is(err, ErrBadToken) {
		t.Errorf("the replaced link: %v", err)
	}
	f.env.Clock.Advance(confirmValid + time.Minute)
	if err := f.svc.Confirm(ctx, f.list, "new@outside.example", newer, "x"); !errors.Is(err, ErrBadToken) {
		t.Errorf("the expired link: %v", err)
	}
	if err := f.svc.Confirm(ctx, f.list, "new@outside.example", ask(), "x"); err != nil {
		t.Errorf("a fresh link: %v", err)
	}
}

// TestPostBlobs: a post's text is a blob of its own (two equal posts, two
// blobs); rejecting one deletes its blob, and the other's stays and is
// what the archive reads.
func TestPostBlobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	count := func() int {
		n := 0
		f.blobs.Walk(func(blob.Ref, fs.FileInfo) error { n++; return nil })
		return n
	}
	msg := post("Eve <eve@elsewhere.example>", "Same")
	for range 2 {
		if err := f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "eve@elsewhere.example", Msg: msg}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("%d blobs for two posts, want 2", n)
	}
	waiting, _ := f.svc.Posts(ctx, f.list, PostWaiting, 10)
	if err := f.svc.Reject(ctx, "anna@example-party.org", waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Approve(ctx, "anna@example-party.org", waiting[1].ID); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d blobs after rejecting one post, want 1", n)
	}
	if p, err := f.svc.Post(ctx, f.list, waiting[0].ID); err != nil || p.Raw != nil || p.State != PostRejected {
		t.Errorf("rejected post: %+v, %v", p, err)
	}
	if p, err := f.svc.Post(ctx, f.list, waiting[1].ID); err != nil || !bytes.Equal(p.Raw, msg) {
		t.Errorf("approved post's text: %q, %v", p.Raw, err)
	}
}

// TestFromFieldName: the author's name in a rewritten From is one display
// name whatever it holds; it was a "Q" encoded-word, which leaves '"',
// ',' and '<' as they are, so a comma split the name into two addresses.
func TestFromFieldName(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{Domains: []string{"example-party.org"}}}
	l := List{Address: "news@example-party.org", Name: "Party News"}
	for _, name := range []string{"Zoë, the \"Boss\"", "=?utf-8?q?Boss?=", "Zoë <boss@example-party.org>"} {
		fields, _, _ := message.Split([]byte("From: " + headertext.Phrase(name) + " <zoe@elsewhere.example>\r\n\r\n"))
		raw := s.fromField(l, fields[0])
		h, err := message.Parse(append(raw, "\r\n"...))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		list, err := message.ParseAddressList(h.First("From"))
		if mb := message.Mailboxes(list); err != nil || len(mb) != 1 || mb[0].Name != name+" via Party News" || mb[0].Addr() != l.Address {
			t.Errorf("author %q: From %q reads %+v (%v)", name, raw, list, err)
		}
	}
}
