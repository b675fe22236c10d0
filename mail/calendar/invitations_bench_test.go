package calendar_test

import (
	"fmt"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

// BenchmarkInvitations lists the invitations of a member whose calendar
// holds 10,000 events, 50 of them invitations: the invitations page's
// query reads every event row of the member's own calendars.
func BenchmarkInvitations(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	bob := e.member(b, "bob")
	s := e.scheduling(&fakeMailer{})
	objs := map[string]*calendar.Object{}
	for i := range 10000 {
		extra := "DESCRIPTION:" + fmt.Sprintf("%0200d", i) + "\r\n"
		if i%200 == 0 {
			extra += "ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:bob@example.org\r\n"
		}
		day := fmt.Sprintf("2026%02d%02d", 1+i%12, 1+i%28)
		objs[fmt.Sprintf("e%d.ics", i)] = mustParse(b, event(fmt.Sprintf("e%d", i), day+"T090000Z", day+"T100000Z", extra))
	}
	if err := s.Import(ctx, bob, calendar.PersonalSlug, objs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		inv, err := s.Invitations(ctx, bob)
		if err != nil || len(inv) != 50 {
			b.Fatalf("%d invitations, %v", len(inv), err)
		}
	}
}
