package smtpserver

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// rename gives a member the display name others could try to take.
func (e *testEnv) rename(t *testing.T, id int64, name string) {
	t.Helper()
	if _, err := e.auth.DB.ExecContext(t.Context(), `UPDATE accounts SET display_name = ? WHERE id = ?`, name, id); err != nil {
		t.Fatal(err)
	}
}

// withChecks runs the MX with the real inbound checks and a party domain
// that publishes SPF -all and DMARC p=reject, as caucus's DNS page says.
func withChecks(e *testEnv, d *envDeps) {
	mock := &dns.Mock{TXT: map[string][]string{
		"example-party.org":        {"v=spf1 -all"},
		"_dmarc.example-party.org": {"v=DMARC1; p=reject"},
		"outside.example":          {"v=spf1 ip4:127.0.0.0/8 -all"},
	}}
	d.Inbound = Checks{Checker: msgauth.NewChecker(mock, "mx.example-party.org", nil), Dir: e.dir, Hostname: "mx.example-party.org"}
}

// TestMXRefusesAmbiguousFrom: outside mail dressed as the leader (issue 12
// item 1). With one From line DMARC refuses it; every variant that gave
// readers and checks different Froms is refused with 550 too, and nothing
// reaches the mailbox.
func TestMXRefusesAmbiguousFrom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withChecks)
	anna := e.member(t, "anna@example-party.org")
	leader := `"Party Leader" <leader@example-party.org>`
	rest := "To: anna@example-party.org\r\nSubject: urgent\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000\r\n\r\nPay this invoice.\r\n"
	pad := "X-Pad: " + strings.Repeat("p", 900) + "\r\n"
	for _, tc := range []struct{ name, header string }{
		{"one From", "From: " + leader + "\r\n"},
		{"second From line", "From: " + leader + "\r\nFrom: x@outside.example\r\n"},
		{"second From line first", "From: x@outside.example\r\nFrom: " + leader + "\r\n"},
		{"space before colon", "From : " + leader + "\r\nFrom: x@outside.example\r\n"},
		{"space before colon alone", "From : " + leader + "\r\n"},
		{"two addresses in one From", "From: " + leader + ", x@outside.example\r\n"},
		{"From after 1 MiB of header", "From: x@outside.example\r\n" + strings.Repeat(pad, (1<<20)/len(pad)+1) + "From: " + leader + "\r\n"},
		{"only Sender", "Sender: " + leader + "\r\n"},
		{"line without colon", "From: x@outside.example\r\nFrom leader\r\nFrom: " + leader + "\r\n"},
		{"From that does not parse", "From: Party Leader leader@example-party.org\r\n"},
		{"two Sender", "From: x@outside.example\r\nSender: x@outside.example\r\nSender: " + leader + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, e.mx, true)
			err := send(c, "x@outside.example", []string{"anna@example-party.org"}, tc.header+rest)
			if code(err) != 550 {
				t.Errorf("got %v, want 550", err)
			}
		})
	}
	if got := e.inbox(t, anna.Account.ID); len(got) != 0 {
		t.Errorf("%d messages delivered, want none; first:\n%.600s", len(got), got[0])
	}
	// A plain outside message still arrives.
	c := e.dial(t, e.mx, true)
	if err := send(c, "x@outside.example", []string{"anna@example-party.org"}, "From: X <x@outside.example>\r\n"+rest); err != nil {
		t.Fatalf("plain message: %v", err)
	}
}

// TestSubmissionFromChecked: a member cannot send as the leader by adding
// a From the send-as check does not read (issue 12 item 2), nor by a
// Sender or Resent-From (item 10).
func TestSubmissionFromChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	bob := e.member(t, "bob@example-party.org")
	e.member(t, "leader@example-party.org")
	body := "To: a@outside.example\r\nSubject: s\r\n\r\nhi\r\n"
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"own From", "From: Bob <bob@example-party.org>\r\n", 0},
		{"leader with space before colon, then own", "From : \"Party Leader\" <leader@example-party.org>\r\nFrom: bob@example-party.org\r\n", 550},
		{"own, then leader", "From: bob@example-party.org\r\nFrom: \"Party Leader\" <leader@example-party.org>\r\n", 550},
		{"own twice", "From: bob@example-party.org\r\nFrom: bob@example-party.org\r\n", 550},
		{"leader and own in one From", "From: leader@example-party.org, bob@example-party.org\r\n", 550},
		{"Sender leader", "From: bob@example-party.org\r\nSender: leader@example-party.org\r\n", 550},
		{"Resent-From leader", "From: bob@example-party.org\r\nResent-From: leader@example-party.org\r\n", 550},
		{"no From", "Sender: bob@example-party.org\r\n", 550},
		{"line without colon", "From: bob@example-party.org\r\nleader\r\n", 550},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, e.sub, true)
			if err := c.Auth(sasl.NewPlainClient("", bob.Account.Login, bob.secret)); err != nil {
				t.Fatal(err)
			}
			err := send(c, "bob@example-party.org", []string{"a@outside.example"}, tc.header+body)
			if code(err) != tc.want {
				t.Errorf("got %v, want %d", err, tc.want)
			}
		})
	}
	if n := len(e.queue.all()); n != 1 {
		t.Errorf("%d messages queued, want 1", n)
	}
}

// TestSubmissionMemberName: a member's display name may not be another
// member's name or a one-letter variant of it (issue 12 item 10); their
// own name is fine, however close to another's.
func TestSubmissionMemberName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	bob := e.member(t, "bob@example-party.org")
	leader := e.auth.User(t, "leader@example-party.org", auth.RoleMember)
	e.rename(t, leader.Account.ID, "Maria Lindqvist")
	e.rename(t, bob.Account.ID, "Bob Berg")
	body := "To: a@outside.example\r\nSubject: s\r\n\r\nhi\r\n"
	for _, tc := range []struct {
		from string
		want int
	}{
		{`"Bob Berg" <bob@example-party.org>`, 0},
		{`"Maria Lindqvist" <bob@example-party.org>`, 550},
		{`"Lindqvist, Maria" <bob@example-party.org>`, 550},
		{`"Maria Lindquist" <bob@example-party.org>`, 550},
		{`"Maria Lindqvist (Office)" <bob@example-party.org>`, 550},
		{`=?utf-8?q?Mar=C3=ADa_Lindqvist?= <bob@example-party.org>`, 550},
		{`"Maria Svensson" <bob@example-party.org>`, 0},
		{`"leader@example-party.org" <bob@example-party.org>`, 550},
		{`"Bob (bob@example-party.org)" <bob@example-party.org>`, 0},
	} {
		t.Run(tc.from, func(t *testing.T) {
			c := e.dial(t, e.sub, true)
			if err := c.Auth(sasl.NewPlainClient("", bob.Account.Login, bob.secret)); err != nil {
				t.Fatal(err)
			}
			if err := send(c, "bob@example-party.org", []string{"a@outside.example"}, "From: "+tc.from+"\r\n"+body); code(err) != tc.want {
				t.Errorf("got %v, want %d", err, tc.want)
			}
		})
	}
}

// TestMXOnBehalfTagged: outside mail whose Sender or Resent-From shows a
// party address or a member's name (mail clients show "X on behalf of
// Y") is tagged like an impersonating From (issue 12 item 10).
func TestMXOnBehalfTagged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withChecks)
	anna := e.member(t, "anna@example-party.org")
	leader := e.auth.User(t, "leader@example-party.org", auth.RoleMember)
	e.rename(t, leader.Account.ID, "Maria Lindqvist")
	rest := "To: anna@example-party.org\r\nSubject: urgent\r\n\r\nPay this invoice.\r\n"
	for _, h := range []string{
		"From: x@outside.example\r\nSender: leader@example-party.org\r\n",
		"From: x@outside.example\r\nResent-From: leader@example-party.org\r\n",
		"From: x@outside.example\r\nSender: \"Maria Lindqvist\" <m@outside.example>\r\n",
		"From: x@outside.example\r\nResent-Sender: \"Lindqvist, Maria\" <m@outside.example>\r\n",
	} {
		c := e.dial(t, e.mx, true)
		if err := send(c, "x@outside.example", []string{"anna@example-party.org"}, h+rest); err != nil {
			t.Fatalf("%q: %v", h, err)
		}
	}
	got := e.inbox(t, anna.Account.ID)
	if len(got) != 4 {
		t.Fatalf("%d messages, want 4", len(got))
	}
	for i, m := range got {
		if !strings.Contains(m, "Subject: [External] urgent") || !strings.Contains(m, "X-Caucus-Warning:") {
			t.Errorf("message %d not tagged:\n%.700s", i, m)
		}
	}
}
