package calendar_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/calendar"
)

func itip(method, body string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:" + method + "\r\nBEGIN:VEVENT\r\nUID:u1\r\n" +
		"DTSTAMP:20260101T000000Z\r\nDTSTART:20260610T090000Z\r\n" + body + "END:VEVENT\r\nEND:VCALENDAR\r\n"
}

// TestParseITIP: what an iTIP message must hold (RFC 5546 section 3.2),
// and the limits, each refused with ErrInvalid (or ErrTooLarge).
func TestParseITIP(t *testing.T) {
	t.Parallel()
	org := "ORGANIZER;CN=Alice:MAILTO:Alice@Example.org\r\n"
	ok, err := calendar.ParseITIP([]byte(itip("request", org+"ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\nATTENDEE:mailto:c@x.test\r\nATTENDEE:urn:uuid:1\r\nSEQUENCE:3\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if ok.Method != calendar.MethodRequest || ok.Organizer != "alice@example.org" || ok.Sequence != 3 || len(ok.Attendees) != 2 ||
		ok.Attendees[0].PartStat != "ACCEPTED" || ok.Attendees[1].PartStat != "NEEDS-ACTION" {
		t.Errorf("parsed: %+v", ok)
	}
	many := strings.Repeat("ATTENDEE:mailto:a@x.test\r\n", calendar.MaxAttendees+1)
	for name, raw := range map[string]string{
		"no METHOD":            strings.Replace(itip("REQUEST", org), "METHOD:REQUEST\r\n", "", 1),
		"PUBLISH":              itip("PUBLISH", org),
		"no ORGANIZER":         itip("REQUEST", "ATTENDEE:mailto:b@x.test\r\n"),
		"ORGANIZER not mailto": itip("REQUEST", "ORGANIZER:http://x.test/\r\n"),
		"ORGANIZER two":        itip("REQUEST", "ORGANIZER:mailto:a@x.test,b@x.test\r\n"),
		"REPLY of two":         itip("REPLY", org+"ATTENDEE:mailto:b@x.test\r\nATTENDEE:mailto:c@x.test\r\n"),
		"REPLY of none":        itip("REPLY", org),
		"bad SEQUENCE":         itip("REQUEST", org+"SEQUENCE:-1\r\n"),
		"too many attendees":   itip("REQUEST", org+many),
		"no VEVENT":            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
		"two UIDs":             strings.Replace(itip("REQUEST", org), "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:u2\r\nEND:VEVENT\r\nEND:VCALENDAR", 1),
		"not UTF-8":            itip("REQUEST", org+"SUMMARY:\xff\r\n"),
		"nested too deep":      itip("REQUEST", org+strings.Repeat("BEGIN:X\r\n", 5)+strings.Repeat("END:X\r\n", 5)),
		"malformed line":       itip("REQUEST", org+"0;0=\r\n"),
	} {
		if _, err := calendar.ParseITIP([]byte(raw)); !errors.Is(err, calendar.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	big := itip("REQUEST", org+"DESCRIPTION:"+strings.Repeat("x", calendar.MaxObjectSize)+"\r\n")
	if _, err := calendar.ParseITIP([]byte(big)); !errors.Is(err, calendar.ErrTooLarge) {
		t.Errorf("over MaxObjectSize: %v, want ErrTooLarge", err)
	}
}

func FuzzParseITIP(f *testing.F) {
	f.Add([]byte(itip("REQUEST", "ORGANIZER:mailto:a@x.test\r\nATTENDEE;CN=B;PARTSTAT=ACCEPTED:mailto:b@x.test\r\nSEQUENCE:1\r\n")))
	f.Add([]byte(itip("REPLY", "ORGANIZER:mailto:a@x.test\r\nATTENDEE;PARTSTAT=DECLINED:mailto:b@x.test\r\n")))
	f.Add([]byte(itip("CANCEL", "ORGANIZER:mailto:a@x.test\r\nATTENDEE:mailto:b@x.test\r\nSTATUS:CANCELLED\r\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := calendar.ParseITIP(data)
		if err != nil {
			if !errors.Is(err, calendar.ErrInvalid) && !errors.Is(err, calendar.ErrTooLarge) {
				t.Fatalf("error of an unknown kind: %v", err)
			}
			return
		}
		if it.UID == "" || it.Organizer == "" || len(it.Attendees) > calendar.MaxAttendees {
			t.Fatalf("accepted without UID, organiser or within the attendee limit: %+v", it)
		}
		if it.Method == calendar.MethodReply && len(it.Attendees) != 1 {
			t.Fatalf("a REPLY of %d attendees accepted", len(it.Attendees))
		}
		for _, a := range it.Attendees {
			if a.Addr != strings.ToLower(a.Addr) || !strings.Contains(a.Addr, "@") {
				t.Fatalf("attendee address %q", a.Addr)
			}
		}
	})
}
