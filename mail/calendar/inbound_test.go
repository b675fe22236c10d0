package calendar_test

import (
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
)

// TestDeliveredLimits: a message over MaxIMIPMessage, or whose calendar
// part is over MaxObjectSize, is not read; an invitation to no member
// named in it is ignored.
func TestDeliveredLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	bob := e.member(t, "bob")
	s := e.scheduling(&fakeMailer{})
	req := func(uid, extra string) string {
		return imipMail("carol@outside.test", "pass", "REQUEST", uid, "ORGANIZER:mailto:carol@outside.test\r\nATTENDEE:mailto:bob@example.org\r\n"+extra)
	}
	padded := strings.Replace(req("big", ""), "Answer\r\n", "Answer\r\n"+strings.Repeat("x", calendar.MaxIMIPMessage)+"\r\n", 1)
	bigPart := req("bigpart", "DESCRIPTION:"+strings.Repeat("y", calendar.MaxObjectSize)+"\r\n")
	other := strings.Replace(req("other", ""), "mailto:bob@", "mailto:dave@", 1)
	for _, msg := range []string{padded, bigPart, other} {
		s.Delivered(ctx, []int64{bob.ID}, []byte(msg))
	}
	if rs, err := s.List(ctx, bob, calendar.PersonalSlug); err != nil || len(rs) != 0 {
		t.Errorf("bob's calendar holds %d events, want none: %v", len(rs), err)
	}
	s.Delivered(ctx, []int64{bob.ID}, []byte(req("ok", "")))
	if rs, err := s.List(ctx, bob, calendar.PersonalSlug); err != nil || len(rs) != 1 {
		t.Errorf("a good invitation: %d events, %v", len(rs), err)
	}
	// Media types are case-insensitive (RFC 2045 section 5.1).
	s.Delivered(ctx, []int64{bob.ID}, []byte(strings.ReplaceAll(req("upper", ""), "text/calendar", "TEXT/Calendar")))
	if rs, err := s.List(ctx, bob, calendar.PersonalSlug); err != nil || len(rs) != 2 {
		t.Errorf("an invitation as TEXT/Calendar: %d events, %v", len(rs), err)
	}
}

// FuzzDelivered: whatever mail arrives, Delivered neither panics nor
// stores anything but a valid object.
func FuzzDelivered(f *testing.F) {
	reply := "ORGANIZER:mailto:alice@example.org\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@outside.test\r\n"
	f.Add(imipMail("carol@outside.test", "pass", "REPLY", "m1", reply))
	f.Add(imipMail("carol@outside.test", "pass", "REQUEST", "r1", "ORGANIZER:mailto:carol@outside.test\r\nATTENDEE:mailto:bob@example.org\r\n"))
	f.Add(imipMail("carol@outside.test", "pass", "CANCEL", "r1", "ORGANIZER:mailto:carol@outside.test\r\nATTENDEE:mailto:bob@example.org\r\nSEQUENCE:2\r\n"))
	f.Add("From: x@y\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n0;0=\r\nEND:VCALENDAR\r\n")
	e := newEnv(f)
	alice, bob := e.member(f, "alice"), e.member(f, "bob")
	s := e.scheduling(&fakeMailer{})
	if _, _, err := s.Put(f.Context(), alice, calendar.PersonalSlug, "m1.ics", mustParse(f, meeting(0, "20260610T090000Z", carol)), calendar.Cond{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		s.Delivered(t.Context(), []int64{alice.ID, bob.ID}, []byte(msg))
		for _, m := range []calendar.Member{alice, bob} {
			rs, err := s.List(t.Context(), m, calendar.PersonalSlug)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if _, err := calendar.Parse(r.Data); err != nil {
					t.Fatalf("stored an object Parse refuses: %v\n%s", err, r.Data)
				}
			}
		}
	})
}

// TestSubmittedReply: bob's mail program answers alice's invitation by
// mail through submission: alice's copy takes it. The same REPLY sent by
// mallory (naming bob as the attendee) changes nothing.
func TestSubmittedReply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	mallory := e.User(t, "mallory@example.org", auth.RoleMember).Account
	bobAcct, err := e.Auth.Account(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	s := e.scheduling(&fakeMailer{})
	if _, _, err := s.Put(ctx, alice, calendar.PersonalSlug, "m1.ics", mustParse(t, meeting(0, "20260610T090000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	reply := func(from string) []byte {
		msg := imipMail(from, "pass", "REPLY", "m1", "ORGANIZER:mailto:alice@example.org\r\nATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org\r\n")
		return []byte(msg[strings.Index(msg, "From:"):]) // no findings: it did not come through the MX
	}
	s.Submitted(ctx, []int64{alice.ID}, mallory, reply("mallory@example.org"))
	if got := partStat(t, s, alice, "m1", "bob@example.org"); got != calendar.PartStatNeedsAction {
		t.Errorf("mallory's reply for bob: %q, want NEEDS-ACTION", got)
	}
	s.Submitted(ctx, []int64{alice.ID}, bobAcct, reply("bob@example.org"))
	if got := partStat(t, s, alice, "m1", "bob@example.org"); got != calendar.PartStatDeclined {
		t.Errorf("bob's reply by mail: %q, want DECLINED", got)
	}
}
