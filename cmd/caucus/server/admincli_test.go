package server

import (
	"bytes"
	"net/http"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
)

// runCLI runs a caucus command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestAdminAuditOverSocket: `caucus admin audit` reads the running
// server's audit log through the control socket.
func TestAdminAuditOverSocket(t *testing.T) {
	t.Parallel()
	_, dir := startMailDev(t)
	code, out, errOut := runCLI(t, "admin", "audit", "--data", dir, "--kind", "invite.")
	if code != 0 || !strings.Contains(out, "invite.create") || !strings.Contains(out, "admin@") {
		t.Fatalf("admin audit: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "admin", "audit", "--data", dir, "--kind", "nothing.like.this"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("admin audit with no match: exit %d\n%s", code, out)
	}
}

// TestAdminOverSocket drives `caucus admin` against a running dev server
// through the real control socket: invite prints a working link, suspend
// closes a live IMAP IDLE connection at once, list and audit show what
// happened with the actor cli:<unix user>, resume undoes the suspension,
// and offboard hands the mail over: forwarding, an auto-reply, and the
// successor's copy of the mailbox.
func TestAdminOverSocket(t *testing.T) {
	t.Parallel()
	srv, dir := startMailDev(t)
	ctx := t.Context()
	domain := srv.cfg.MailDomains[0]
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"admin"}, args...), "--data", dir)...)
		if code != want {
			t.Fatalf("caucus admin %q: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out + errOut
	}

	// Invite: a link that opens the enrolment page.
	out := cli(0, "invite", "newbie@"+domain, "--name", "New Volunteer", "--groups", "press", "--mail-to", "newbie.private@elsewhere.example")
	link := regexp.MustCompile(`https://\S+/enrol/[A-Za-z0-9_-]{43}`).FindString(out)
	if link == "" || !strings.Contains(out, "mailed to newbie.private@elsewhere.example") {
		t.Fatalf("invite printed no link, or did not mail it:\n%s", out)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.Replace(link, "https://localhost:", "https://127.0.0.1:", 1), nil)
	req.Host = "localhost"
	res, err := devClient(t, dir).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("enrolment link: status %d", res.StatusCode)
	}
	cli(1, "invite", "newbie@"+domain, "--name", "Twice") // exists already

	// Suspend closes a live IDLE connection.
	anna := newMailAccount(t, srv, "anna@"+domain)
	bob := newMailAccount(t, srv, "bob@"+domain)
	c, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(anna.login, anna.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if n := srv.auth.Hub().Live(anna.id); n != 1 {
		t.Fatalf("%d live connections before the suspension, want 1", n)
	}
	start := time.Now()
	out = cli(0, "suspend", anna.login)
	if !strings.Contains(out, "access revoked") || !strings.Contains(out, "cli:"+me.Username) {
		t.Errorf("suspend report:\n%s", out)
	}
	// The server cancels the connection before the command returns: an
	// ordering, not a race against a clock.
	if n := srv.auth.Hub().Live(anna.id); n != 0 {
		t.Errorf("%d live connections when `caucus admin suspend` returned, want none", n)
	}
	select {
	case <-c.Closed():
		t.Logf("IDLE connection closed %v after `caucus admin suspend` started", time.Since(start))
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("IDLE connection never closed after `caucus admin suspend` returned")
	}
	cli(1, "suspend", anna.login) // not active any more
	cli(1, "suspend", "nobody@"+domain)

	out = cli(0, "list")
	for _, want := range []string{"newbie@" + domain + "  New Volunteer", "invited", anna.login, "suspended", "admin@" + domain} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out = cli(0, "audit", "--account", anna.login, "--kind", "admin.")
	if !strings.Contains(out, "cli:"+me.Username) || !strings.Contains(out, "admin.suspend") {
		t.Errorf("audit:\n%s", out)
	}
	cli(0, "resume", anna.login)

	offboardOverSocket(t, srv, dir, cli, anna, bob)
}

// offboardOverSocket offboards anna through `caucus admin offboard` (cli),
// first as a plan only, then for real with bob as successor: bob gets a
// copy of her mailbox and her mail, and senders get her auto-reply once.
func offboardOverSocket(t *testing.T, srv *Server, dir string, cli func(want int, args ...string) string, anna, bob mailAccount) {
	ctx := t.Context()
	domain := srv.cfg.MailDomains[0]
	// Offboard: first the plan only, then for real.
	if _, err := srv.mail.Deliver(ctx, []int64{anna.id}, strings.NewReader("From: carol@elsewhere.example\r\nTo: "+anna.login+"\r\nSubject: budget\r\n\r\nfigures\r\n")); err != nil {
		t.Fatal(err)
	}
	out := cli(0, "offboard", anna.login, "--successor", bob.login, "--forward", "--auto-reply", "Anna has left; Bob answers.", "--mail-access", "--dry-run")
	if !strings.Contains(out, "planned") {
		t.Errorf("dry run:\n%s", out)
	}
	if a, _ := srv.auth.Account(ctx, anna.id); a.State != auth.StateActive {
		t.Fatalf("dry run changed the state to %s", a.State)
	}
	out = cli(0, "offboard", anna.login, "--successor", bob.login, "--forward", "--auto-reply", "Anna has left; Bob answers.", "--mail-access", "--retain-days", "30", "--export")
	t.Logf("offboard report:\n%s", out)
	copyBox, err := srv.mail.Mailbox(ctx, bob.id, "Offboarded/"+anna.login+"/INBOX")
	if err != nil || copyBox.Messages != 1 {
		t.Errorf("bob's copy of anna's INBOX: %+v, %v", copyBox, err)
	}
	// Bob reads it over IMAP.
	bc, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: devTLS(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if err := bc.Login(bob.login, bob.secret).Wait(); err != nil {
		t.Fatal(err)
	}
	boxes, err := bc.List("", "Offboarded/*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
	}
	if !slices.Contains(names, "Offboarded/"+anna.login+"/INBOX") {
		t.Errorf("bob's LIST Offboarded/*: %v", names)
	}
	if sel, err := bc.Select("Offboarded/"+anna.login+"/INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil || sel.NumMessages != 1 {
		t.Errorf("EXAMINE of the copy: %+v, %v", sel, err)
	}
	// Mail to anna reaches bob, and the sender gets the auto-reply once.
	mx, err := gosmtp.DialStartTLS(srv.addrs["smtp"], devTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	for range 2 {
		if err := mx.SendMail("carol@elsewhere.example", []string{anna.login}, strings.NewReader(
			"From: carol@elsewhere.example\r\nTo: "+anna.login+"\r\nSubject: still there?\r\nMessage-ID: <q1@elsewhere.example>\r\n\r\nHello\r\n")); err != nil {
			t.Fatalf("mail to the departed address: %v", err)
		}
	}
	if mb, _ := srv.mail.Mailbox(ctx, bob.id, "INBOX"); mb.Messages != 2 {
		t.Errorf("bob's INBOX has %d messages, want the 2 forwarded", mb.Messages)
	}
	// The answer went to the queue (which, with the demo's empty DNS,
	// cannot deliver it and drops it, being an auto-reply): one recorded.
	var answered int
	if err := srv.db.QueryRowContext(ctx, `SELECT count(*) FROM autoreply_sent WHERE sender = 'carol@elsewhere.example'`).Scan(&answered); err != nil || answered != 1 {
		t.Errorf("answers recorded for carol: %d, %v", answered, err)
	}
	// A member writing to the departed address gets the answer in her INBOX.
	carla := newMailAccount(t, srv, "carla@"+domain)
	sub, err := gosmtp.DialStartTLS(srv.addrs["submission"], devTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Auth(sasl.NewPlainClient("", carla.login, carla.secret)); err != nil {
		t.Fatal(err)
	}
	if err := sub.SendMail(carla.login, []string{anna.login}, strings.NewReader(
		"From: "+carla.login+"\r\nTo: "+anna.login+"\r\nSubject: lunch\r\nMessage-ID: <l1@localhost>\r\n\r\nLunch?\r\n")); err != nil {
		t.Fatal(err)
	}
	got := waitInbox(t, srv, carla.id, 1)
	if len(got) != 1 || !strings.Contains(got[0], "Auto-Submitted: auto-replied") || !strings.Contains(got[0], "Anna has left; Bob answers.") ||
		!strings.Contains(got[0], "In-Reply-To: <l1@localhost>") {
		t.Errorf("carla's INBOX: %q", got)
	}
}
