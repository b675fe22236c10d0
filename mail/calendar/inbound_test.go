package calendar_test

import (
	"strings"
	"testing"

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
