package calweb

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/calendar"
)

type nullMailer struct{}

func (nullMailer) SendAs(context.Context, auth.Account, []string, []byte) error { return nil }

type partyDir struct{}

func (partyDir) MemberNames() []string { return []string{"Test member"} }
func (partyDir) OwnDomains() []string  { return []string{"example.org"} }

// schedule turns scheduling on in e's store.
func (e *env) schedule() {
	e.store.SetScheduling(calendar.Scheduling{Accounts: e.a.Auth, Mailer: nullMailer{}, Party: ui.Party{Name: "Test"},
		Hostname: "mx.example.org", Directory: partyDir{}})
}

// TestInvitationsPage: bob sees alice's invitation and accepts it with
// the page's button; alice's event says so. A stale answer, one without
// the CSRF token and one on an event of someone else change nothing.
func TestInvitationsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.schedule()
	alice, bob, carol := e.member(t, "alice"), e.member(t, "bob"), e.member(t, "carol")
	alice.putEvent(t, calendar.PersonalSlug, "rally", "20260610T160000Z", "20260610T180000Z",
		"LOCATION:Piazza del Popolo\r\nORGANIZER;CN=Alice:mailto:alice@example.org\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\n")

	if month := bob.get(t, "/mail/calendar"); !strings.Contains(month.body, `href="/mail/calendar/invitations"`) {
		t.Errorf("the month page does not link the invitations:\n%s", month.body)
	}
	page := bob.get(t, "/mail/calendar/invitations")
	if page.code != http.StatusOK || !strings.Contains(page.body, "rally") || !strings.Contains(page.body, "Piazza del Popolo") ||
		!strings.Contains(page.body, "Alice &lt;alice@example.org&gt;") || !strings.Contains(page.body, "Not answered yet") {
		t.Fatalf("bob's invitations page: %d\n%s", page.code, page.body)
	}
	inv, err := e.store.Invitations(t.Context(), bob.cal())
	if err != nil || len(inv) != 1 {
		t.Fatalf("invitations: %v %v", inv, err)
	}
	action := "/mail/calendar/invitations/" + inv[0].Slug + "/" + inv[0].Name
	if !strings.Contains(page.body, `action="`+action+`"`) {
		t.Fatalf("no answer form for %s:\n%s", action, page.body)
	}
	partStat := func() string {
		r := alice.only(t, calendar.PersonalSlug)
		cal, _ := calendar.Decode(r.Data)
		p, _ := calendar.ReadParties(calendar.MasterEvent(cal))
		a, _ := p.Attendee("bob@example.org")
		return a.PartStat
	}
	// Without the CSRF token; by carol, whom it does not name; with an
	// old version's tag: nothing changes.
	if res := bob.post(t, action, url.Values{"csrf": {"x"}, "answer": {"accept"}, "etag": {inv[0].ETag}}); res.code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", res.code)
	}
	if res := carol.post(t, action, url.Values{"answer": {"accept"}, "etag": {inv[0].ETag}}); res.code != http.StatusNotFound {
		t.Errorf("carol answering bob's invitation: %d, want 404", res.code)
	}
	if res := bob.post(t, action, url.Values{"answer": {"accept"}, "etag": {strings.Repeat("0", 64)}}); res.code != http.StatusSeeOther || !strings.Contains(res.loc, "n=conflict") {
		t.Errorf("a stale answer: %d %s", res.code, res.loc)
	}
	if got := partStat(); got != calendar.PartStatNeedsAction {
		t.Fatalf("after refused answers alice's copy says %s", got)
	}
	res := bob.post(t, action, url.Values{"answer": {"accept"}, "etag": {inv[0].ETag}})
	if res.code != http.StatusSeeOther || res.loc != "/mail/calendar/invitations?n=answered" {
		t.Fatalf("accept: %d %s\n%s", res.code, res.loc, res.body)
	}
	if got := partStat(); got != calendar.PartStatAccepted {
		t.Errorf("after bob's accept alice's copy says %s", got)
	}
	if page := bob.get(t, res.loc); !strings.Contains(page.body, "You accept") || !strings.Contains(page.body, "Your answer is saved") {
		t.Errorf("after the answer:\n%s", page.body)
	}
}

// TestInvitationByMailWarns: an invitation by mail that claims a
// member's address without passing DMARC shows webmail's danger banner.
func TestInvitationByMailWarns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.schedule()
	bob := e.member(t, "bob")
	cal := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:fake\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260610T090000Z\r\nSUMMARY:Urgent donors meeting\r\nORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:bob@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	msg := "Authentication-Results: mx.example.org;\r\n\tspf=fail smtp.mailfrom=example.org;\r\n\tdkim=none;\r\n\tdmarc=fail (p=none) header.from=example.org\r\n" +
		"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Invitation\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n" + cal
	e.store.Delivered(t.Context(), []int64{bob.u.Account.ID}, []byte(msg))
	page := bob.get(t, "/mail/calendar/invitations")
	for _, want := range []string{"Urgent donors meeting", `class="banner danger"`, "claims to come from the party&#39;s own domain", "This invitation came by mail from alice@example.org"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page lacks %q:\n%s", want, page.body)
		}
	}
	// The event itself, opened from the month or the agenda, carries the
	// same warning: it was shown there like any other event.
	invs, err := e.store.Invitations(t.Context(), bob.cal())
	if err != nil || len(invs) != 1 {
		t.Fatalf("invitations: %v %+v", err, invs)
	}
	ev := bob.get(t, eventURL(invs[0].Slug, invs[0].Name))
	for _, want := range []string{"Urgent donors meeting", `class="banner danger"`, "claims to come from the party&#39;s own domain"} {
		if !strings.Contains(ev.body, want) {
			t.Errorf("the event page lacks %q:\n%s", want, ev.body)
		}
	}
}
