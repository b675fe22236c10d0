package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/lists"
)

// TestListPostAcrossParties: a member who is no moderator posts to a list
// of alpha-party.test over SMTP submission; the post waits; once a
// moderator approves it, a group member gets it at once and an outside
// subscriber at beta-party.test through alpha's queue, DKIM-signed with
// the list's header fields (List-Unsubscribe signed too, RFC 8058 section
// 4), which beta's checks pass; the subscriber's one-click link, POSTed
// to alpha's HTTPS listener over net/http, takes them off; a subscriber
// beta refuses bounces back to the list's return path, three times, and
// is suspended.
func TestListPostAcrossParties(t *testing.T) {
	t.Parallel()
	resolver := &dns.Mock{
		MX: map[string][]*net.MX{"alpha-party.test": {{Host: "mx.alpha-party.test.", Pref: 10}}, "beta-party.test": {{Host: "mx.beta-party.test.", Pref: 10}}},
		IP: map[string][]net.IPAddr{"mx.alpha-party.test": {{IP: net.ParseIP("127.0.0.1")}}, "mx.beta-party.test": {{IP: net.ParseIP("127.0.0.2")}}},
		TXT: map[string][]string{
			"alpha-party.test": {"v=spf1 ip4:127.0.0.1 -all"}, "_dmarc.alpha-party.test": {"v=DMARC1; p=reject; adkim=s; aspf=s"},
			"beta-party.test": {"v=spf1 ip4:127.0.0.2 -all"}, "_dmarc.beta-party.test": {"v=DMARC1; p=reject; adkim=s; aspf=s"},
		},
	}
	startPeer := peerStarter(t, resolver)
	a := startPeer("alpha-party.test", "127.0.0.1")
	b := startPeer("beta-party.test", "127.0.0.2")
	ctx := t.Context()
	alice := newMailAccount(t, a.srv, "alice@alpha-party.test")
	carol := newMailAccount(t, a.srv, "carol@alpha-party.test")
	bob := newMailAccount(t, b.srv, "bob@beta-party.test")
	for _, m := range []mailAccount{alice, carol} {
		if err := a.srv.auth.AddToGroup(ctx, "", "members", m.id); err != nil {
			t.Fatal(err)
		}
	}
	list, err := a.srv.lists.Create(ctx, "admin", lists.List{Address: "news@alpha-party.test", Name: "Alpha News", Group: "members", Moderators: []string{alice.login}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{bob.login, "gone@beta-party.test"} {
		if err := a.srv.lists.Subscribe(ctx, "admin", list, sub, lists.SourceAdmin, "test"); err != nil {
			t.Fatal(err)
		}
	}

	c, err := gosmtp.DialStartTLS(a.srv.addrs["submission"], devTLS(t, a.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", carol.login, carol.secret)); err != nil {
		t.Fatal(err)
	}
	post := "From: Carol <carol@alpha-party.test>\r\nTo: news@alpha-party.test\r\nSubject: Canvassing on Sunday\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <c1@alpha-party.test>\r\n\r\nMeet at the square at ten.\r\n"
	if err := c.SendMail(carol.login, []string{"news@alpha-party.test"}, strings.NewReader(post)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	waiting, err := a.srv.lists.Posts(ctx, list, lists.PostWaiting, 10)
	if err != nil || len(waiting) != 1 {
		t.Fatalf("waiting posts: %+v, %v", waiting, err)
	}
	if n, err := a.srv.lists.SendPending(ctx); err != nil || n != 0 {
		t.Fatalf("copies sent before approval: %d, %v", n, err)
	}
	if err := a.srv.lists.Approve(ctx, alice.login, waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := waitInbox(t, a.srv, alice.id, 1)[0]; !strings.Contains(got, "List-Id: Alpha News <news.alpha-party.test>") {
		t.Errorf("group member's copy:\n%s", got)
	}
	copyBob := waitInbox(t, b.srv, bob.id, 1)[0]
	checkListCopy(t, copyBob, bob.login)
	verifyWithDKIMPy(t, []byte(copyBob), resolver)

	m, _ := mail.ReadMessage(strings.NewReader(copyBob))
	u, err := url.Parse(strings.Trim(m.Header.Get("List-Unsubscribe"), "<>"))
	if err != nil {
		t.Fatal(err)
	}
	oneClick(t, a, u)
	if st := subscriberState(t, a.srv, list, bob.login); st != lists.StateUnsubscribed {
		t.Errorf("after the one-click POST bob is %q", st)
	}

	// gone@beta-party.test was refused at RCPT; the queue's bounce went
	// to the copy's return path. Two more posts make three.
	waitState(t, a.srv, list, "gone@beta-party.test", 1, "")
	for i := range 2 {
		msg := strings.Replace(post, "c1@", "c"+string(rune('2'+i))+"@", 1)
		if err := a.srv.lists.Receive(ctx, "news@alpha-party.test", alice.login, alice.login, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		waitState(t, a.srv, list, "gone@beta-party.test", 2+i, "")
	}
	waitState(t, a.srv, list, "gone@beta-party.test", 3, lists.StateSuspended)
}

// checkListCopy checks the list fields of a delivered copy and beta's
// verdict on it.
func checkListCopy(t *testing.T, msg, rcpt string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatalf("copy does not parse: %v", err)
	}
	h := m.Header
	for k, v := range map[string]string{
		"List-Id":               `Alpha News <news.alpha-party.test>`,
		"List-Post":             "<mailto:news@alpha-party.test>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"From":                  "Carol <carol@alpha-party.test>",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := h.Get("List-Help"); got != "" { // a closed list: its help page is not public
		t.Errorf("List-Help = %q", got)
	}
	for _, k := range []string{"List-Archive", "List-Unsubscribe"} {
		if !strings.HasPrefix(h.Get(k), "<https://mx.alpha-party.test:") {
			t.Errorf("%s = %q", k, h.Get(k))
		}
	}
	if !strings.Contains(h.Get("List-Unsubscribe"), "a="+url.QueryEscape(rcpt)) {
		t.Errorf("List-Unsubscribe %q is not the recipient's", h.Get("List-Unsubscribe"))
	}
	for _, want := range []string{"dkim=pass", "dmarc=pass", "spf=pass"} {
		if !strings.Contains(msg, want) {
			t.Errorf("beta's verdict lacks %q:\n%s", want, msg)
		}
	}
	sigs := h["Dkim-Signature"]
	hTag := regexp.MustCompile(`(?:^|;)\s*h=([^;]+)`)
	for _, sig := range sigs {
		m := hTag.FindStringSubmatch(sig)
		if m == nil || !strings.Contains(strings.ToLower(strings.Join(strings.Fields(m[1]), "")), "list-unsubscribe:list-unsubscribe-post") {
			t.Errorf("List-Unsubscribe and List-Unsubscribe-Post are not signed: %s", sig)
		}
	}
	if len(sigs) != 2 {
		t.Errorf("%d DKIM signatures, want 2 (ed25519 and RSA)", len(sigs))
	}
}

// oneClick POSTs List-Unsubscribe=One-Click to the link as a receiving
// mail system does (RFC 8058 section 3.2): no cookie, no sign-in.
func oneClick(t *testing.T, p *peer, u *url.URL) {
	t.Helper()
	cl := devClient(t, p.dir)
	tr := cl.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "localhost"}
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, p.srv.addrs["https"])
	}
	res, err := cl.Post(u.String(), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("one-click POST: %s", res.Status)
	}
}

func subscriberState(t *testing.T, srv *Server, list int64, addr string) string {
	t.Helper()
	st, _ := subscriber(t, srv, list, addr)
	return st
}

func subscriber(t *testing.T, srv *Server, list int64, addr string) (string, int) {
	t.Helper()
	subs, err := srv.lists.Subscribers(t.Context(), list)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Address == addr {
			return s.State, s.HardBounces
		}
	}
	return "", 0
}

// waitState waits up to 20 s for the subscriber's permanent failures to
// reach n, and its state, if given.
func waitState(t *testing.T, srv *Server, list int64, addr string, n int, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, got := subscriber(t, srv, list, addr)
		if got >= n && (state == "" || st == state) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d permanent failures, state %q; want %d, %q", addr, got, st, n, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
