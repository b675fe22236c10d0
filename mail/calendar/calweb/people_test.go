package calweb

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
)

// TestPeopleCompletion: the attendee field completes from the member's
// own contacts and the party directory (every word typed, in any case,
// in the name or the address), at most maxPeople, each address once; a
// volunteer is not offered the directory; an address typed in "Add an
// attendee" without the script joins the attendees when the form is
// saved.
func TestPeopleCompletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.member(t, "alice")
	e.member(t, "bruno.rossi")
	vol := &member{e: e, u: e.a.User(t, "vera@example.org", auth.RoleVolunteer)}
	card := vcard.Card{}
	card.SetValue(vcard.FieldFormattedName, "Giulia Rossi, La Stampa")
	card.SetValue(vcard.FieldEmail, "giulia@lastampa.example")
	card.SetValue(vcard.FieldUID, "giulia")
	vcard.ToV4(card)
	if _, _, err := e.books.Put(t.Context(), contacts.MemberOf(alice.u.Account), contacts.SlugPersonal, "giulia.vcf", card, contacts.Cond{}); err != nil {
		t.Fatal(err)
	}
	ask := func(m *member, q string) []string {
		t.Helper()
		res := m.get(t, "/mail/calendar/people?q="+url.QueryEscape(q))
		var got []person
		if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &got) != nil {
			t.Fatalf("people %q: %d %s", q, res.code, res.body)
		}
		var out []string
		for _, p := range got {
			out = append(out, p.Value)
		}
		return out
	}
	if got := ask(alice, "ROSSI"); len(got) != 2 || got[0] != `"Giulia Rossi, La Stampa" <giulia@lastampa.example>` || !strings.Contains(got[1], "<bruno.rossi@example.org>") {
		t.Errorf("alice asks rossi: %q", got)
	}
	if got := ask(alice, "rossi stampa"); len(got) != 1 {
		t.Errorf("alice asks rossi stampa: %q", got)
	}
	if got := ask(alice, ""); len(got) != 0 {
		t.Errorf("an empty question: %q", got)
	}
	if got := ask(alice, strings.Repeat("r", maxTypedLen+1)); len(got) != 0 {
		t.Errorf("a question too long: %q", got)
	}
	if got := ask(vol, "rossi"); len(got) != 0 {
		t.Errorf("the volunteer is offered the directory: %q", got)
	}
	for i := range maxPeople + 3 {
		e.member(t, "staff"+string(rune('a'+i)))
	}
	if got := ask(alice, "staff"); len(got) != maxPeople {
		t.Errorf("%d suggestions for staff, want %d", len(got), maxPeople)
	}

	f := eventForm(calendar.PersonalSlug, "Interview")
	f.Set("attendees", "bruno.rossi@example.org")
	f.Set("addattendee", `"Giulia Rossi, La Stampa" <giulia@lastampa.example>`)
	if res := alice.post(t, "/mail/calendar/new", f); res.code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.code, res.body)
	}
	_, data := alice.stored(t)
	wantLines(t, data, "mailto:bruno.rossi@example.org", `CN="Giulia Rossi, La Stampa"`, "mailto:giulia@lastampa.example")
	if page := alice.get(t, "/mail/calendar/new"); !strings.Contains(page.body, `<script src="/mail/calendar/static/calendar.js" defer></script>`) || !strings.Contains(page.body, `list="suggest-attendee"`) {
		t.Errorf("the form has no completion")
	}
}

// TestMayHold: the prefilter never drops a card that holds the words:
// in any case, across a folded line (RFC 6350 section 3.2), or with a
// character vCard escapes (section 3.4) in the word.
func TestMayHold(t *testing.T) {
	t.Parallel()
	card := []byte("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Giulia Rossi\\, La Sta\r\n mpa\r\nEMAIL:giulia@lastampa.example\r\nEND:VCARD\r\n")
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"giulia", true}, {"rossi stampa", true}, {"stampa", true}, {"rossi,", true}, {"lastampa.example", true},
		{"bruno", false}, {"giulia bruno", false},
	} {
		if got := mayHold(card, tc.q); got != tc.want {
			t.Errorf("mayHold(%q) = %v, want %v", tc.q, got, tc.want)
		}
		if tc.want {
			c, err := contacts.Parse(card)
			if err == nil && !hasWords(tc.q, c.PreferredValue(vcard.FieldFormattedName)+" "+c.PreferredValue(vcard.FieldEmail)) && tc.q != "rossi," {
				t.Errorf("%q: the parsed card does not hold it either", tc.q)
			}
		}
	}
}
