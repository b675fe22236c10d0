package console

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/lists"
)

// listSender records the lists' copies: return path by recipient.
type listSender struct {
	mu   sync.Mutex
	from map[string]string
}

func (s *listSender) SendBulk(_ context.Context, from string, to []string, _ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range to {
		s.from[r] = from
	}
	return nil
}

func (s *listSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return s.SendBulk(ctx, from, to, msg)
}

// newListsConsole is the console with mail and the mailing lists.
func newListsConsole(t *testing.T) (*console, *lists.Service, *listSender) {
	t.Helper()
	c := newConsoleMail(t, true)
	if err := c.env.DB.Migrate(t.Context(), lists.Component()); err != nil {
		t.Fatal(err)
	}
	sent := &listSender{from: map[string]string{}}
	dir := c.ops.Deps().Route
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := lists.New(lists.Config{Domains: []string{"example.org"}, BaseURL: "https://caucus.test", Key: bytes.Repeat([]byte{3}, 32)},
		lists.Deps{DB: c.env.DB, Auth: c.env.Auth, Sender: sent, Blobs: blobs, Dir: dir, Now: c.env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	dir.SetLists(svc)
	c.h.d.Lists = svc
	mux := http.NewServeMux()
	c.h.login.Register(mux)
	c.h.Register(mux)
	c.ts = httptest.NewUnstartedServer(web.Secure(mux, 1<<20))
	c.ts.StartTLS()
	t.Cleanup(c.ts.Close)
	return c, svc, sent
}

// TestListsConsole: an admin creates a list (a taken address refused),
// adds a supporter with the consent's source, approves a waiting post,
// which goes out, and sees the supporter suspended after three bounces;
// a member reaches none of it.
func TestListsConsole(t *testing.T) {
	t.Parallel()
	c, svc, sent := newListsConsole(t)
	ctx := t.Context()
	admin := c.admin(t, "admin@example.org")
	anna := c.env.User(t, "anna@example.org", auth.RoleMember)
	if err := c.env.Auth.AddToGroup(ctx, "", "members", anna.Account.ID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := c.do(t, anna, "GET", "/admin/lists", nil); code == http.StatusOK {
		t.Error("a member reached the lists page")
	}
	form := url.Values{"csrf": {c.csrf(t, admin)}, "address": {"anna@example.org"}, "name": {"Taken"}}
	if code, loc, _ := c.do(t, admin, "POST", "/admin/lists", form); code != http.StatusSeeOther || loc != "/admin/lists" {
		t.Fatalf("create on a taken address: %d %s", code, loc)
	}
	if _, _, body := c.do(t, admin, "GET", "/admin/lists", nil); !strings.Contains(body, "anna@example.org cannot be a mailing list") {
		t.Errorf("refusal not shown:\n%s", body)
	}
	form = url.Values{"csrf": {c.csrf(t, admin)}, "address": {"News@example.org"}, "name": {"Party News"}, "group": {"members"}, "moderators": {"admin@example.org"}}
	code, loc, _ := c.do(t, admin, "POST", "/admin/lists", form)
	if code != http.StatusSeeOther || loc != "/admin/lists/1" {
		t.Fatalf("create: %d %s", code, loc)
	}
	form = url.Values{"csrf": {c.csrf(t, admin)}, "address": {"sup@outside.example"}, "source": {"import"}, "detail": {"rally sign-up sheet"}}
	if code, _, _ := c.do(t, admin, "POST", "/admin/lists/1/subscribers", form); code != http.StatusSeeOther {
		t.Fatalf("subscribe: %d", code)
	}
	post := "From: Eve <eve@outside.example>\r\nSubject: Please share\r\n\r\nhi\r\n"
	if err := svc.Accept(ctx, lists.Inbound{Rcpt: "news@example.org", From: "eve@outside.example", Msg: []byte(post)}); err != nil {
		t.Fatal(err)
	}
	_, _, body := c.do(t, admin, "GET", "/admin/lists/1", nil)
	for _, want := range []string{"Please share", "eve@outside.example", "sup@outside.example", "import (rally sign-up sheet)", `id="approve-1"`} {
		if !strings.Contains(body, want) {
			t.Errorf("list page lacks %q:\n%s", want, body)
		}
	}
	if code, _, _ := c.do(t, admin, "POST", "/admin/lists/2/posts/1/approve", url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusNotFound {
		t.Errorf("approve under another list: %d, want 404", code)
	}
	if code, _, _ := c.do(t, admin, "POST", "/admin/lists/1/posts/1/approve", url.Values{"csrf": {c.csrf(t, admin)}}); code != http.StatusSeeOther {
		t.Fatalf("approve: %d", code)
	}
	if n, err := svc.SendPending(ctx); err != nil || n != 2 {
		t.Fatalf("copies sent: %d, %v; want anna's and the supporter's", n, err)
	}
	verp := sent.from["sup@outside.example"]
	for range lists.MaxHardBounces {
		if err := svc.Accept(ctx, lists.Inbound{Rcpt: verp, Msg: bounceFor("sup@outside.example")}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, body = c.do(t, admin, "GET", "/admin/lists/1", nil)
	form = url.Values{"csrf": {c.csrf(t, admin)}, "moderators": {"anna@example.org, admin@example.org"}}
	if code, _, _ := c.do(t, admin, "POST", "/admin/lists/1/moderators", form); code != http.StatusSeeOther {
		t.Fatalf("moderators: %d", code)
	}
	if l, _ := svc.Get(ctx, 1); strings.Join(l.Moderators, " ") != "admin@example.org anna@example.org" {
		t.Errorf("moderators = %q", l.Moderators)
	}
	_, _, body = c.do(t, admin, "GET", "/admin/lists/1", nil)
	for _, want := range []string{"suspended (bounces)", "0 active, 1 suspended", "5.1.1", "approved by admin@example.org"} {
		if !strings.Contains(body, want) {
			t.Errorf("after the bounces the page lacks %q:\n%s", want, body)
		}
	}
	form = url.Values{"csrf": {c.csrf(t, admin)}, "address": {"sup@outside.example"}}
	if code, _, _ := c.do(t, admin, "POST", "/admin/lists/1/forget", form); code != http.StatusSeeOther {
		t.Fatalf("forget: %d", code)
	}
	if subs, _ := svc.Subscribers(ctx, 1); len(subs) != 0 {
		t.Errorf("after forgetting: %+v", subs)
	}
	_, _, body = c.do(t, admin, "GET", "/admin/audit", nil)
	for _, want := range []string{"mailing list created", "list post approved", "subscribed to a list", "list address suspended (bounces)", "address deleted from a list"} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
}

// bounceFor is a permanent failure notification (RFC 3464) for rcpt.
func bounceFor(rcpt string) []byte {
	return []byte(fmt.Sprintf("From: MAILER-DAEMON@mx.outside.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.outside.example\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n", rcpt))
}
