package calendar_test

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/msgview"
)

// sent is one message the fake mailer took.
type sent struct {
	from string
	to   []string
	msg  string
}

type fakeMailer struct {
	mu   sync.Mutex
	msgs []sent
}

func (f *fakeMailer) SendAs(_ context.Context, from auth.Account, to []string, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, sent{from.Login, to, string(msg)})
	return nil
}

// take returns the messages sent since the last call.
func (f *fakeMailer) take() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.msgs
	f.msgs = nil
	return out
}

type partyDir struct{}

func (partyDir) MemberNames() []string { return []string{"Party Leader"} }
func (partyDir) OwnDomains() []string  { return []string{"example.org"} }

// scheduling returns a store of e with scheduling on, mailing to m.
func (e *env) scheduling(m *fakeMailer) *calendar.Store {
	e.store.SetScheduling(calendar.Scheduling{Accounts: e.Auth, Mailer: m, Party: ui.Party{Name: "Test Party"},
		PageURL: "https://mx.example.org/mail/calendar/invitations", Hostname: "mx.example.org", Directory: partyDir{}})
	return e.store
}

// meeting is an event organised by alice with bob (a member) and carol
// (outside) invited.
func meeting(seq int, start, extra string) string {
	return event("m1", start, strings.Replace(start, "T09", "T10", 1),
		"ORGANIZER;CN=Alice:mailto:alice@example.org\r\n"+
			"ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"+
			"ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org\r\n"+
			extra+"SEQUENCE:"+string(rune('0'+seq))+"\r\n")
}

const carol = "ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@outside.test\r\n"

// partStat returns the PARTSTAT of addr in the event m holds under uid.
func partStat(t *testing.T, s *calendar.Store, m calendar.Member, uid, addr string) string {
	t.Helper()
	rs, err := s.List(t.Context(), m, calendar.PersonalSlug)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.UID != uid {
			continue
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
	return ""
}

// itipOf returns the method and the text/calendar part of an iMIP mail.
func itipOf(t *testing.T, msg string) (*calendar.ITIP, string) {
	t.Helper()
	v, err := msgview.ParseBytes([]byte(msg), msgview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, p := range v.Parts {
		var b strings.Builder
		if _, err := v.WritePart(&b, p.ID); err != nil {
			t.Fatal(err)
		}
		switch p.Type {
		case "text/plain":
			text = b.String()
		case "text/calendar":
			it, err := calendar.ParseITIP([]byte(b.String()))
			if err != nil {
				t.Fatalf("the iMIP part does not parse: %v\n%s", err, b.String())
			}
			return it, text
		}
	}
	t.Fatalf("no text/calendar part in:\n%s", msg)
	return nil, ""
}

// TestInvitationBetweenMembers: alice invites bob (a member) and carol
// (outside); bob's calendar gets the event and both get an iMIP
// REQUEST; bob accepts from his client and alice's copy says so at
// once; alice moves the event, both hear of it and bob keeps his answer;
// alice drops carol, who gets a CANCEL; alice deletes it, bob's copy is
// cancelled.
func TestInvitationBetweenMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	mailer := &fakeMailer{}
	s := e.scheduling(mailer)

	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", carol)), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got := partStat(t, s, bob, "m1", "bob@example.org"); got != calendar.PartStatNeedsAction {
		t.Fatalf("bob's copy: PARTSTAT %q, want NEEDS-ACTION", got)
	}
	msgs := mailer.take()
	if len(msgs) != 2 {
		t.Fatalf("%d mails sent, want 2 (bob, carol)", len(msgs))
	}
	for _, m := range msgs {
		it, text := itipOf(t, m.msg)
		if it.Method != calendar.MethodRequest || m.from != "alice@example.org" || it.UID != "m1" {
			t.Errorf("mail to %v: %s from %s uid %s", m.to, it.Method, m.from, it.UID)
		}
		if !strings.Contains(m.msg, "Subject: Invitation: Canvassing") || !strings.Contains(text, "invites you to") {
			t.Errorf("mail to %v has no readable invitation:\n%s", m.to, m.msg)
		}
		if m.to[0] == "bob@example.org" && !strings.Contains(text, "/mail/calendar/invitations") {
			t.Errorf("the member's mail does not name the invitations page:\n%s", text)
		}
	}

	// Bob accepts from his client: he writes his copy with his PARTSTAT.
	inv, err := s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 {
		t.Fatalf("bob's invitations: %v, %v", inv, err)
	}
	if err := s.Respond(ctx, bob, inv[0].Slug, inv[0].Name, inv[0].ETag, calendar.PartStatAccepted); err != nil {
		t.Fatal(err)
	}
	if got := partStat(t, s, alice, "m1", "bob@example.org"); got != calendar.PartStatAccepted {
		t.Fatalf("alice's copy: bob's PARTSTAT %q, want ACCEPTED", got)
	}
	if msgs := mailer.take(); len(msgs) != 0 {
		t.Errorf("a member's answer to a member was mailed: %v", msgs)
	}

	// Alice moves it an hour (from her copy, which has bob's answer).
	r, err := s.Get(ctx, alice, calendar.PersonalSlug, "m1.ics")
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.ReplaceAll(strings.ReplaceAll(string(r.Data), "T100000Z", "T110000Z"), "T090000Z", "T100000Z")
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, moved), calendar.Cond{IfMatch: r.ETag}); err != nil {
		t.Fatal(err)
	}
	msgs = mailer.take()
	if len(msgs) != 2 || !strings.Contains(msgs[0].msg, "Updated invitation") {
		t.Fatalf("after a move, %d mails, want 2 updates", len(msgs))
	}
	// The client did not raise SEQUENCE: the server did (RFC 5546
	// section 2.1.4), in the mail and in the copies.
	if it, _ := itipOf(t, msgs[0].msg); it.Sequence != 1 {
		t.Errorf("the update's SEQUENCE is %d, want 1", it.Sequence)
	}
	if r, _ := s.Get(ctx, alice, calendar.PersonalSlug, "m1.ics"); !strings.Contains(string(r.Data), "SEQUENCE:1") {
		t.Errorf("alice's copy after the move:\n%s", r.Data)
	}
	if got := partStat(t, s, bob, "m1", "bob@example.org"); got != calendar.PartStatAccepted {
		t.Errorf("bob's copy after the move: %q, want his ACCEPTED kept", got)
	}
	if r, _ := s.Get(ctx, bob, calendar.PersonalSlug, inv[0].Name); !strings.Contains(string(r.Data), "T100000Z") {
		t.Errorf("bob's copy was not moved:\n%s", r.Data)
	}

	// Alice drops carol: carol gets a CANCEL, bob nothing.
	r, _ = s.Get(ctx, alice, calendar.PersonalSlug, "m1.ics")
	noCarol := strings.Replace(string(r.Data), "ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@outside.test\r\n", "", 1)
	if noCarol == string(r.Data) {
		t.Fatalf("carol not found in:\n%s", r.Data)
	}
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, noCarol), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	msgs = mailer.take()
	if len(msgs) != 1 || msgs[0].to[0] != "carol@outside.test" {
		t.Fatalf("after dropping carol: %v", msgs)
	}
	if it, _ := itipOf(t, msgs[0].msg); it.Method != calendar.MethodCancel {
		t.Errorf("carol got %s, want CANCEL", it.Method)
	}

	// Alice deletes it: bob's copy is cancelled, and he is told.
	if err := s.Delete(ctx, alice, calendar.PersonalSlug, "m1.ics", calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	inv, err = s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 || !inv[0].Cancelled {
		t.Errorf("bob's invitation after the deletion: %+v, %v", inv, err)
	}
	if msgs := mailer.take(); len(msgs) != 1 || msgs[0].to[0] != "bob@example.org" {
		t.Errorf("after the deletion: %v", msgs)
	}
}

// TestAttendeeAnswerToOutsideOrganiser: a member invited by mail from
// outside answers on the page; the organiser gets a REPLY mail.
func TestAttendeeAnswerToOutsideOrganiser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	bob := e.member(t, "bob")
	mailer := &fakeMailer{}
	s := e.scheduling(mailer)
	s.Delivered(ctx, []int64{bob.ID}, []byte(imipMail("carol@outside.test", "pass", "REQUEST", "o1", "ORGANIZER:mailto:carol@outside.test\r\n"+
		"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\n")))
	inv, err := s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 || inv[0].Received == nil || inv[0].Received.Sender != "carol@outside.test" {
		t.Fatalf("bob's invitations: %+v, %v", inv, err)
	}
	if err := s.Respond(ctx, bob, inv[0].Slug, inv[0].Name, inv[0].ETag, calendar.PartStatDeclined); err != nil {
		t.Fatal(err)
	}
	msgs := mailer.take()
	if len(msgs) != 1 || msgs[0].to[0] != "carol@outside.test" || msgs[0].from != "bob@example.org" {
		t.Fatalf("mails: %v", msgs)
	}
	it, _ := itipOf(t, msgs[0].msg)
	if it.Method != calendar.MethodReply || len(it.Attendees) != 1 || it.Attendees[0].PartStat != calendar.PartStatDeclined {
		t.Errorf("reply: %+v", it)
	}
	if !strings.Contains(msgs[0].msg, "Subject: Declined: Canvassing") {
		t.Errorf("reply subject:\n%s", msgs[0].msg)
	}
	// A stale ETag is refused.
	if err := s.Respond(ctx, bob, inv[0].Slug, inv[0].Name, inv[0].ETag, calendar.PartStatAccepted); err == nil {
		t.Error("an answer to an old version was taken")
	}
	// A CANCEL from someone else changes nothing; carol's own cancels.
	cancel := func(from string) string {
		return imipMail(from, "pass", "CANCEL", "o1", "ORGANIZER:mailto:"+from+"\r\nATTENDEE:mailto:bob@example.org\r\nSEQUENCE:1\r\n")
	}
	s.Delivered(ctx, []int64{bob.ID}, []byte(cancel("mallory@outside.test")))
	if inv, _ := s.Invitations(ctx, bob); len(inv) != 1 || inv[0].Cancelled {
		t.Errorf("after mallory's CANCEL: %+v", inv)
	}
	s.Delivered(ctx, []int64{bob.ID}, []byte(cancel("carol@outside.test")))
	if inv, _ := s.Invitations(ctx, bob); len(inv) != 1 || !inv[0].Cancelled {
		t.Errorf("after carol's CANCEL: %+v", inv)
	}
}

// imipMail is an iMIP message as caucus's MX stores it: its
// Authentication-Results on top, with the given DMARC result for the
// From domain.
func imipMail(from, dmarc, method, uid, parties string) string {
	domain := from[strings.IndexByte(from, '@')+1:]
	cal := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:" + method + "\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260610T090000Z\r\nDTEND:20260610T100000Z\r\nSUMMARY:Canvassing\r\n" + parties +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	return "Received: from x by mx.example.org\r\n" +
		"Authentication-Results: mx.example.org;\r\n\tspf=" + dmarc + " smtp.mailfrom=" + domain + ";\r\n\tdkim=none;\r\n\tdmarc=" + dmarc + " (p=reject) header.from=" + domain + "\r\n" +
		"From: <" + from + ">\r\nTo: <alice@example.org>\r\nSubject: Answer\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAnswer\r\n--b\r\n" +
		"Content-Type: text/calendar; charset=utf-8; method=" + method + "\r\n\r\n" + cal + "--b--\r\n"
}

// TestReplyByMail: an outside attendee's REPLY updates the organiser's
// event only when its From is the attendee and DMARC passed; a reply
// from someone else, or failing DMARC, or not checked by the MX, or to
// an event the recipient does not organise, changes nothing.
func TestReplyByMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	s := e.scheduling(&fakeMailer{})
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", carol)), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	reply := func(partstat string) string {
		return "ORGANIZER:mailto:alice@example.org\r\nATTENDEE;PARTSTAT=" + partstat + ":mailto:carol@outside.test\r\nSEQUENCE:0\r\n"
	}
	forged := []struct{ name, msg string }{
		{"another sender", imipMail("mallory@outside.test", "pass", "REPLY", "m1", reply("DECLINED"))},
		{"DMARC fails", imipMail("carol@outside.test", "fail", "REPLY", "m1", reply("DECLINED"))},
		{"not checked by the MX", strings.Replace(imipMail("carol@outside.test", "pass", "REPLY", "m1", reply("DECLINED")), "mx.example.org;", "mx.outside.test;", 1)},
		{"another organiser", imipMail("carol@outside.test", "pass", "REPLY", "m1", strings.Replace(reply("DECLINED"), "alice@", "bob@", 1))},
	}
	for _, f := range forged {
		s.Delivered(ctx, []int64{alice.ID, bob.ID}, []byte(f.msg))
		if got := partStat(t, s, alice, "m1", "carol@outside.test"); got != calendar.PartStatNeedsAction {
			t.Errorf("%s: carol's PARTSTAT is %q, want it unchanged", f.name, got)
		}
	}
	s.Delivered(ctx, []int64{alice.ID}, []byte(imipMail("carol@outside.test", "pass", "REPLY", "m1", reply("ACCEPTED"))))
	if got := partStat(t, s, alice, "m1", "carol@outside.test"); got != calendar.PartStatAccepted {
		t.Errorf("carol's authenticated reply: PARTSTAT %q, want ACCEPTED", got)
	}
	// A domain without DMARC: SPF passing is not enough, a DKIM
	// signature of the From domain is.
	noDMARC := strings.Replace(imipMail("carol@outside.test", "pass", "REPLY", "m1", reply("TENTATIVE")), "dmarc=pass (p=reject)", "dmarc=none", 1)
	s.Delivered(ctx, []int64{alice.ID}, []byte(noDMARC))
	if got := partStat(t, s, alice, "m1", "carol@outside.test"); got != calendar.PartStatAccepted {
		t.Errorf("a reply from a domain without DMARC, SPF only: PARTSTAT %q, want it unchanged", got)
	}
	for _, c := range []struct{ d, want string }{{"elsewhere.test", calendar.PartStatAccepted}, {"outside.test", calendar.PartStatTentative}} {
		signed := strings.Replace(noDMARC, "dkim=none", "dkim=pass header.d="+c.d+" header.s=s1", 1)
		s.Delivered(ctx, []int64{alice.ID}, []byte(signed))
		if got := partStat(t, s, alice, "m1", "carol@outside.test"); got != c.want {
			t.Errorf("no DMARC, DKIM of %s: PARTSTAT %q, want %q", c.d, got, c.want)
		}
	}
}

// TestInvitationFromImpersonator: an invitation by mail whose From is a
// member's address without authentication lands in the calendar with
// the findings webmail shows (forged, danger), and it cannot replace an
// event that did not come by mail from the same sender.
func TestInvitationFromImpersonator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	s := e.scheduling(&fakeMailer{})
	fake := imipMail("alice@example.org", "fail", "REQUEST", "f1", "ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:bob@example.org\r\n")
	s.Delivered(ctx, []int64{bob.ID}, []byte(fake))
	inv, err := s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 || inv[0].Received == nil {
		t.Fatalf("bob's invitations: %+v, %v", inv, err)
	}
	if f := inv[0].Received.Findings; f.Level != msgview.LevelDanger || !f.Forged {
		t.Errorf("the forged invitation's findings: %+v", f)
	}
	// A real invitation from alice, then a mail trying to replace it.
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	evil := imipMail("mallory@outside.test", "pass", "REQUEST", "m1", "ORGANIZER:mailto:mallory@outside.test\r\nATTENDEE:mailto:bob@example.org\r\nSEQUENCE:9\r\nLOCATION:Somewhere else\r\n")
	s.Delivered(ctx, []int64{bob.ID}, []byte(evil))
	rs, _ := s.List(ctx, bob, calendar.PersonalSlug)
	for _, r := range rs {
		if r.UID == "m1" && strings.Contains(string(r.Data), "Somewhere else") {
			t.Errorf("a mail from outside replaced alice's invitation:\n%s", r.Data)
		}
	}
}

// TestInvitationToManyAttendees: an event naming 120 outside attendees
// is mailed as 3 messages of at most MaxRcptsPerMail recipients (each
// counted against the organiser's sending limit by the Mailer), and one
// naming more than MaxAttendees is stored but not scheduled.
func TestInvitationToManyAttendees(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice")
	mailer := &fakeMailer{}
	s := e.scheduling(mailer)
	attendees := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "ATTENDEE:mailto:v%d@outside.test\r\n", i)
		}
		return b.String()
	}
	o := mustParse(t, event("many", "20260610T090000Z", "20260610T100000Z", "ORGANIZER:mailto:alice@example.org\r\n"+attendees(120)))
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "many.ics", o, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	msgs := mailer.take()
	if len(msgs) != 3 || len(msgs[0].to) != calendar.MaxRcptsPerMail || len(msgs[2].to) != 20 {
		t.Fatalf("%d messages for 120 attendees", len(msgs))
	}
	o = mustParse(t, event("more", "20260610T090000Z", "20260610T100000Z", "ORGANIZER:mailto:alice@example.org\r\n"+attendees(calendar.MaxAttendees+1)))
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "more.ics", o, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if msgs := mailer.take(); len(msgs) != 0 {
		t.Errorf("an event of %d attendees was mailed: %d messages", calendar.MaxAttendees+1, len(msgs))
	}
}

// TestInvitationCannotOverwriteOwnEvent: a member who names another
// member as attendee of an event with the UID of one of that member's
// own events (or of an invitation from someone else) does not replace
// it, nor cancel it.
func TestInvitationCannotOverwriteOwnEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob, mallory := e.member(t, "alice"), e.member(t, "bob"), e.member(t, "mallory")
	s := e.scheduling(&fakeMailer{})
	own := mustParse(t, event("bobs", "20260610T090000Z", "20260610T100000Z", "DESCRIPTION:private\r\n"))
	if _, _, err := s.Put(ctx, bob, calendar.PersonalSlug, "bobs.ics", own, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{"bobs", "m1"} {
		evil := mustParse(t, event(uid, "20260611T090000Z", "20260611T100000Z", "LOCATION:Hijacked\r\nORGANIZER:mailto:mallory@example.org\r\nATTENDEE:mailto:bob@example.org\r\n"))
		if _, _, err := s.Put(ctx, mallory, calendar.PersonalSlug, uid+".ics", evil, calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, mallory, calendar.PersonalSlug, uid+".ics", calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.List(ctx, bob, calendar.PersonalSlug)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if strings.Contains(string(r.Data), "Hijacked") || strings.Contains(string(r.Data), "CANCELLED") || strings.Contains(string(r.Data), "mallory") {
			t.Errorf("mallory changed bob's %s:\n%s", r.UID, r.Data)
		}
	}
	if len(rs) != 2 {
		t.Errorf("bob has %d events, want his own and alice's invitation", len(rs))
	}
}

// TestAttendeeDeletesInvitation: a member who deletes an invitation
// declines it (RFC 6638 section 3.2.2.3): the organiser's copy says so.
func TestAttendeeDeletesInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	s := e.scheduling(&fakeMailer{})
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	inv, err := s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 {
		t.Fatalf("bob's invitations: %v, %v", inv, err)
	}
	if err := s.Delete(ctx, bob, inv[0].Slug, inv[0].Name, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got := partStat(t, s, alice, "m1", "bob@example.org"); got != calendar.PartStatDeclined {
		t.Errorf("alice's copy after bob deleted his: %q, want DECLINED", got)
	}
}

// TestInvitationFromGroupCalendar: an event alice organises in her
// group's calendar invites bob; his answer reaches the group's copy.
func TestInvitationFromGroupCalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	if err := e.Auth.CreateGroup(ctx, "admin", "press"); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.AddToGroup(ctx, "admin", "press", alice.ID); err != nil {
		t.Fatal(err)
	}
	gid, err := e.Auth.GroupID(ctx, "press")
	if err != nil {
		t.Fatal(err)
	}
	slug := fmt.Sprintf("group-%d", gid)
	s := e.scheduling(&fakeMailer{})
	if _, _, err := s.Put(ctx, alice, slug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	inv, err := s.Invitations(ctx, bob)
	if err != nil || len(inv) != 1 {
		t.Fatalf("bob's invitations: %v, %v", inv, err)
	}
	if err := s.Respond(ctx, bob, inv[0].Slug, inv[0].Name, inv[0].ETag, calendar.PartStatTentative); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, alice, slug, "m1.ics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Data), "PARTSTAT=TENTATIVE:mailto:bob@example.org") {
		t.Errorf("the group's copy after bob's answer:\n%s", r.Data)
	}
}

// TestScheduleAgentClient: an attendee whose SCHEDULE-AGENT is CLIENT
// (RFC 6638 section 7.1) is left to the client: no copy, no mail.
func TestScheduleAgentClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	mailer := &fakeMailer{}
	s := e.scheduling(mailer)
	ev := strings.Replace(meeting(0, "20260610T090000Z", carol), "ATTENDEE;CN=Bob;", "ATTENDEE;CN=Bob;SCHEDULE-AGENT=CLIENT;", 1)
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, ev), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if inv, err := s.Invitations(ctx, bob); err != nil || len(inv) != 0 {
		t.Errorf("bob's invitations: %v, %v; want none", inv, err)
	}
	msgs := mailer.take()
	if len(msgs) != 1 || len(msgs[0].to) != 1 || msgs[0].to[0] != "carol@outside.test" {
		t.Errorf("mailed: %v; want carol only", msgs)
	}
}

// TestCancelledByStatus: an organiser whose client cancels by setting
// STATUS:CANCELLED (not deleting) sends a CANCEL, and the member's copy
// shows it cancelled.
func TestCancelledByStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	mailer := &fakeMailer{}
	s := e.scheduling(mailer)
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", carol)), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	mailer.take()
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(1, "20260610T090000Z", carol+"STATUS:CANCELLED\r\n")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	msgs := mailer.take()
	if len(msgs) != 2 {
		t.Fatalf("%d mails, want a CANCEL to bob and one to carol", len(msgs))
	}
	for _, m := range msgs {
		if it, _ := itipOf(t, m.msg); it.Method != calendar.MethodCancel {
			t.Errorf("mail to %v: %s, want CANCEL", m.to, it.Method)
		}
	}
	if inv, err := s.Invitations(ctx, bob); err != nil || len(inv) != 1 || !inv[0].Cancelled {
		t.Errorf("bob's invitation: %+v, %v", inv, err)
	}
}

// TestInvitationHeaderText: the invitation's Subject and From reach the
// invitee as the organiser typed them, even text that looks like an
// encoded-word, in lines within RFC 5322's 78 characters (76 where a line
// holds an encoded-word, RFC 2047 section 2).
func TestInvitationHeaderText(t *testing.T) {
	t.Parallel()
	long := strings.TrimSpace(strings.Repeat("Årsmöte ", 25)) + " " + strings.Repeat("budget ", 6) + "end"
	for _, c := range []struct{ name, title string }{
		{"=?utf-8?q?The_Treasurer?=", "Budget =?utf-8?q?APPROVED?= review"},
		{"Zoë Øvergaard-Lindqvist", long},
		{"Anna", strings.TrimSpace(strings.Repeat("Canvassing ", 18))},
	} {
		e := newEnv(t)
		ctx := t.Context()
		alice := e.member(t, "alice")
		e.member(t, "bob")
		if err := e.Auth.ChangeAccount(ctx, "admin@example.org", alice.ID, auth.AccountChange{Name: &c.name}, auth.Client{}); err != nil {
			t.Fatal(err)
		}
		mailer := &fakeMailer{}
		s := e.scheduling(mailer)
		ev := strings.Replace(meeting(0, "20260610T090000Z", ""), "SUMMARY:Canvassing", "SUMMARY:"+c.title, 1)
		if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, ev), calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
		msgs := mailer.take()
		if len(msgs) != 1 {
			t.Fatalf("%d mails sent, want 1", len(msgs))
		}
		msg := msgs[0].msg
		head, _, _ := strings.Cut(msg, "\r\n\r\n")
		for l := range strings.SplitSeq(head, "\r\n") {
			limit := 78
			if strings.Contains(l, "=?") {
				limit = 76
			}
			if len(l) > limit {
				t.Errorf("title %q: a header line of %d characters (limit %d): %q", c.title, len(l), limit, l)
			}
		}
		v, err := msgview.ParseBytes([]byte(msg), msgview.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := "Invitation: " + c.title; v.Header.Subject != want {
			t.Errorf("Subject reads %q, want %q", v.Header.Subject, want)
		}
		if len(v.Header.From) != 1 || v.Header.From[0].Name != c.name || v.Header.From[0].Addr != "alice@example.org" {
			t.Errorf("From reads %+v in msgview, want %q <alice@example.org>", v.Header.From, c.name)
		}
		// And as a strict reader (net/mail) parses it.
		m, err := mail.ReadMessage(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if a, err := m.Header.AddressList("From"); err != nil || len(a) != 1 || a[0].Name != c.name || a[0].Address != "alice@example.org" {
			t.Errorf("From %q reads %v (%v), want %q <alice@example.org>", m.Header.Get("From"), a, err, c.name)
		}
	}
}
