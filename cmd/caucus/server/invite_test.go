package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/msgview"
)

// TestInvitationsByMail: in the real server, alice (a member) stores an
// event over CalDAV inviting bob (a member) and carol (outside). Bob's
// calendar gets it and his INBOX the iMIP mail, DKIM-signed; his accept
// reaches alice's copy; carol's invitation is queued from alice. Carol
// answers over SMTP to the MX on 127.0.0.1 (fake DNS: outside.test
// authorises 127.0.0.1 by SPF, DMARC p=none): a forged reply first (From
// mallory, naming carol) and one failing DMARC (sent from 127.0.0.2)
// change nothing; her own ACCEPTED reaches alice's event. Last, an
// invitation from outside in alice's name lands in bob's calendar marked
// as webmail marks the mail: forged.
func TestInvitationsByMail(t *testing.T) {
	t.Parallel()
	srv, dir := startInviteServer(t)
	const alice, bob = "alice@party.test", "bob@party.test"
	aliceID, aliceSecret := enrolWithAppPassword(t, srv, alice, "Motion-Quorum-7731-Seconded", auth.ScopeAll)
	bobAcct := newMailAccount(t, srv, bob)
	if err := srv.mail.EnsureAccount(t.Context(), aliceID); err != nil {
		t.Fatal(err)
	}

	_, port, _ := net.SplitHostPort(srv.addrs["https"])
	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:press-2026\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260610T180000Z\r\nDTEND:20260610T200000Z\r\nSUMMARY:Press conference\r\n" +
		"ORGANIZER;CN=Alice:mailto:" + alice + "\r\n" +
		"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" + bob + "\r\n" +
		"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@outside.test\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", "https://localhost:"+port+"/caldav/"+alice+"/calendars/personal/press.ics", strings.NewReader(ev))
	req.SetBasicAuth(alice, aliceSecret)
	req.Header.Set("Content-Type", "text/calendar")
	resp, err := devClient(t, dir).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}

	// Bob: the event in his calendar, the invitation in his INBOX.
	bobM := calendar.Member{ID: bobAcct.id, Login: bob}
	inv, err := srv.cals.Invitations(t.Context(), bobM)
	if err != nil || len(inv) != 1 || inv[0].PartStat != calendar.PartStatNeedsAction || inv[0].Summary != "Press conference" {
		t.Fatalf("bob's invitations: %+v, %v", inv, err)
	}
	mail := waitInbox(t, srv, bobAcct.id, 1)[0]
	if !strings.Contains(mail, "method=REQUEST") || !strings.Contains(mail, "Subject: Invitation: Press conference") || !strings.Contains(mail, "DKIM-Signature:") {
		t.Errorf("bob's iMIP mail:\n%s", mail)
	}
	// Bob accepts (the invitations page's call): alice's copy has it.
	if err := srv.cals.Respond(t.Context(), bobM, inv[0].Slug, inv[0].Name, inv[0].ETag, calendar.PartStatAccepted); err != nil {
		t.Fatal(err)
	}
	// Carol's: queued to the outside, from alice, signed.
	items, err := srv.queue.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].From != alice || len(items[0].Rcpts) != 1 || items[0].Rcpts[0] != "carol@outside.test" {
		t.Fatalf("queue: %+v", items)
	}

	reply := func(from, attendee, partstat string) string {
		return "From: <" + from + ">\r\nTo: <" + alice + ">\r\nSubject: Accepted: Press conference\r\n" +
			"Date: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <" + partstat + "." + from + ">\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n" +
			"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//outside//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:press-2026\r\n" +
			"DTSTAMP:20260601T100000Z\r\nDTSTART:20260610T180000Z\r\nSEQUENCE:0\r\nORGANIZER:mailto:" + alice + "\r\n" +
			"ATTENDEE;PARTSTAT=" + partstat + ":mailto:" + attendee + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	}
	stat := func(addr string) string {
		t.Helper()
		r, err := srv.cals.Get(t.Context(), calendar.Member{ID: aliceID, Login: alice}, calendar.PersonalSlug, "press.ics")
		if err != nil {
			t.Fatal(err)
		}
		cal, err := calendar.Decode(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		p, err := calendar.ReadParties(calendar.MasterEvent(cal))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := p.Attendee(addr)
		return a.PartStat
	}
	if got := stat(bob); got != calendar.PartStatAccepted {
		t.Fatalf("alice's copy after bob's accept: %s", got)
	}
	carolStat := func() string { return stat("carol@outside.test") }
	inbox := 0
	sendMX := func(localIP, from, msg string, to ...string) {
		t.Helper()
		if len(to) == 0 {
			to = []string{alice}
		}
		sendToMX(t, srv, localIP, from, msg, to...)
		if to[0] == alice {
			inbox++
			waitInbox(t, srv, aliceID, inbox)
		}
	}
	sendMX("127.0.0.1", "mallory@outside.test", reply("mallory@outside.test", "carol@outside.test", "DECLINED"))
	if got := carolStat(); got != calendar.PartStatNeedsAction {
		t.Fatalf("a reply From mallory naming carol set carol's PARTSTAT to %s", got)
	}
	sendMX("127.0.0.2", "carol@outside.test", reply("carol@outside.test", "carol@outside.test", "DECLINED"))
	if got := carolStat(); got != calendar.PartStatNeedsAction {
		t.Fatalf("a reply failing SPF and DMARC set carol's PARTSTAT to %s", got)
	}
	msgs := waitInbox(t, srv, aliceID, inbox)
	if !bytes.Contains([]byte(msgs[len(msgs)-1]), []byte("dmarc=fail")) {
		t.Errorf("the forged reply did not fail DMARC:\n%s", msgs[len(msgs)-1])
	}
	sendMX("127.0.0.1", "carol@outside.test", reply("carol@outside.test", "carol@outside.test", "ACCEPTED"))
	if got := carolStat(); got != calendar.PartStatAccepted {
		t.Fatalf("carol's authenticated reply: PARTSTAT %s, want ACCEPTED", got)
	}

	// An invitation from outside in alice's name: bob's calendar shows
	// it with the MX's findings, as webmail shows the mail.
	fake := strings.NewReplacer("METHOD:REPLY", "METHOD:REQUEST", "method=REPLY", "method=REQUEST", "UID:press-2026", "UID:fake-donors",
		"Subject: Accepted: Press conference", "Subject: Donors", "From: <carol@outside.test>", "From: Alice <"+alice+">", "To: <"+alice+">", "To: <"+bob+">",
		"ATTENDEE;PARTSTAT=TENTATIVE:mailto:carol@outside.test", "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:"+bob).
		Replace(reply("carol@outside.test", "carol@outside.test", "TENTATIVE"))
	sendMX("127.0.0.1", "carol@outside.test", fake, bob)
	waitInbox(t, srv, bobAcct.id, 2)
	inv, err = srv.cals.Invitations(t.Context(), bobM)
	if err != nil {
		t.Fatal(err)
	}
	var forged *calendar.Invitation
	for i := range inv {
		if inv[i].UID == "fake-donors" {
			forged = &inv[i]
		}
	}
	if forged == nil || forged.Received == nil || forged.Received.Findings.Level != msgview.LevelDanger || !forged.Received.Findings.Forged {
		t.Fatalf("the forged invitation in bob's calendar: %+v", forged)
	}
}

// startInviteServer starts a server of the domain party.test (which gets
// DKIM keys) with a fake resolver: outside.test authorises 127.0.0.1 by
// SPF and publishes DMARC p=none; its MX, 127.0.0.9, does not answer, so
// mail to it waits in the queue.
func startInviteServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	resolver := &dns.Mock{
		TXT: map[string][]string{"outside.test": {"v=spf1 ip4:127.0.0.1 -all"}, "_dmarc.outside.test": {"v=DMARC1; p=none"}},
		MX:  map[string][]*net.MX{"outside.test": {{Host: "mx.outside.test.", Pref: 10}}},
		IP:  map[string][]net.IPAddr{"mx.outside.test": {{IP: net.ParseIP("127.0.0.9")}}},
	}
	cfg := config.Dev(dir)
	cfg.MailDomains = []string{"party.test"}
	cfg.Listen = FreeListen(cfg.Listen)
	refuse := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: io.ErrClosedPipe}
	}
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: io.Discard,
		Resolver: resolver, QueueDial: refuse, NoNotices: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, dir
}

// sendToMX sends msg from the reverse-path from to the addresses to over
// SMTP to srv's MX, connecting from the address localIP (SPF judges it).
func sendToMX(t *testing.T, srv *Server, localIP, from, msg string, to ...string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 10 * time.Second}
	conn, err := d.DialContext(t.Context(), "tcp", srv.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("mx.outside.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		t.Fatalf("MX: %v", err)
	}
}
