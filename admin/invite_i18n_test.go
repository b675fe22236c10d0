package admin

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// TestInviteMailLanguage: the invite is written in the party's language
// (the invitee has chosen none yet), says the party's name, comes from it,
// and gives the link's end in the party's time zone.
func TestInviteMailLanguage(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	d := e.ops.Deps()
	d.PartyName, d.Language, d.TimeZone = "Partito Esempio", "it", rome
	ops := NewOps(d)
	res, err := ops.Invite(t.Context(), e.actor, InviteRequest{Login: "anna@" + domain, Name: "Anna Ünal", MailTo: "anna@home.example"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(e.mailer.msgs[len(e.mailer.msgs)-1]))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	until := res.ExpiresAt.In(rome)
	wantUntil := until.Format("2") + " " + []string{"gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"}[until.Month()-1] + " " + until.Format("2006, 15:04 MST")
	if subject != "Il tuo invito a Partito Esempio" || from.Name != "Partito Esempio" || m.Header.Get("Content-Language") != "it" {
		t.Errorf("subject %q, from %q, Content-Language %q", subject, from, m.Header.Get("Content-Language"))
	}
	for _, want := range []string{"Ciao Anna Ünal,", "sei stata/o invitata/o a Partito Esempio con l'indirizzo anna@" + domain, res.Link, "fino al " + wantUntil, "\r\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "\n\n") { // every line ends in CRLF (RFC 5322 section 2.1)
		t.Errorf("bare LF in body:\n%q", body)
	}
}
