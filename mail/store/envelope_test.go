package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestEnvelopeGroupsAndRoutes: the ENVELOPE keeps address groups as start
// and end markers and route-form addresses (issue 13 item 7; RFC 9051
// section 7.5.2), and shows the From that the MX's checks read.
func TestEnvelopeGroupsAndRoutes(t *testing.T) {
	t.Parallel()
	raw := strings.ReplaceAll(`From : "Party Leader" <leader@example.org>
Sender: <@relay.example,@other.example:user@domain.example>
To: undisclosed-recipients:;
Cc: Board: anna@example.org, "Bo B." <bo@example.org>;, carl@example.org
Reply-To: team (the team) : ;
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
Message-ID: <m1@example.org>

body
`, "\n", "\r\n")
	p, err := parseMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	e := p.envelope
	for _, c := range []struct {
		field string
		got   []imap.Address
		want  []imap.Address
	}{
		{"From", e.From, []imap.Address{{Name: "Party Leader", Mailbox: "leader", Host: "example.org"}}},
		{"Sender", e.Sender, []imap.Address{{AtDomainList: "@relay.example,@other.example", Mailbox: "user", Host: "domain.example"}}},
		{"To", e.To, []imap.Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{"Cc", e.Cc, []imap.Address{{Mailbox: "Board"}, {Mailbox: "anna", Host: "example.org"}, {Name: "Bo B.", Mailbox: "bo", Host: "example.org"}, {}, {Mailbox: "carl", Host: "example.org"}}},
		{"Reply-To", e.ReplyTo, []imap.Address{{Mailbox: "team"}, {}}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.field, c.got, c.want)
		}
	}
	if e.Subject != "Grüße" || e.MessageID != "m1@example.org" {
		t.Errorf("subject %q message id %q", e.Subject, e.MessageID)
	}
	// Stored and read back, the markers stay what they are.
	s, err := encodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeEnvelope(s)
	if err != nil || !slices.Equal(back.Cc, e.Cc) || !slices.Equal(back.Sender, e.Sender) || len(back.To) != 2 || !back.To[0].IsGroupStart() || !back.To[1].IsGroupEnd() {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	// An envelope stored before the adl was kept reads as it did.
	old, err := decodeEnvelope(`{"f":[{"n":"Party Leader","m":"leader","h":"example.org"}],"se":[{"m":"user","h":"domain.example"}],"r":null,"t":null,"c":null,"b":null,"i":null}`)
	if err != nil || !slices.Equal(old.Sender, []imap.Address{{Mailbox: "user", Host: "domain.example"}}) || old.From[0].Name != "Party Leader" {
		t.Errorf("old stored envelope: %+v, %v", old, err)
	}
	// No Sender or Reply-To: both are the From (RFC 9051 section 7.5.2).
	raw = "From: anna@example.org\r\n\r\n"
	if p, err = parseMessage(strings.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.envelope.Sender, p.envelope.From) || !slices.Equal(p.envelope.ReplyTo, p.envelope.From) || len(p.envelope.From) != 1 {
		t.Errorf("defaults: %+v", p.envelope)
	}
}
