package calendar_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/mail/calendar"
)

// TestParseRefusesHostileObjects feeds Parse what an attacker or a broken
// client sends; each must be refused with a clear error, quickly (the
// recurrences are bounded in count, see MaxInstancesPerYear and
// MaxExpand), and none may panic.
func TestParseRefusesHostileObjects(t *testing.T) {
	t.Parallel()
	deep := "BEGIN:VCALENDAR\r\n" + strings.Repeat("BEGIN:X\r\n", 50000) + strings.Repeat("END:X\r\n", 50000) + "END:VCALENDAR\r\n"
	big := event("big", "20260610T090000Z", "20260610T100000Z", "DESCRIPTION:"+strings.Repeat("a", calendar.MaxObjectSize)+"\r\n")
	cases := []struct {
		name string
		data string
		want error
	}{
		{"larger than MaxObjectSize", big, calendar.ErrTooLarge},
		{"not UTF-8", event("x", "20260610T090000Z", "20260610T100000Z", "SUMMARY:caf\xe9\r\n"), calendar.ErrInvalid},
		{"nested 50,000 deep", deep, calendar.ErrInvalid},
		{"no VCALENDAR", "BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n", calendar.ErrInvalid},
		{"unknown TZID without VTIMEZONE", strings.Replace(event("x", "20260610T090000", "20260610T100000", ""), "DTSTART:", "DTSTART;TZID=Mars/Olympus_Mons:", 1), calendar.ErrInvalid},
		{"TZID that is a path", strings.Replace(event("x", "20260610T090000", "20260610T100000", ""), "DTSTART:", "DTSTART;TZID=../../../etc/passwd:", 1), calendar.ErrInvalid},
		{"FREQ=SECONDLY without end", event("x", "20260610T090000Z", "20260610T090001Z", "RRULE:FREQ=SECONDLY\r\n"), calendar.ErrMaxInstances},
		{"FREQ=MINUTELY, 100,000 instances", event("x", "20260610T090000Z", "20260610T090001Z", "RRULE:FREQ=MINUTELY;COUNT=100000\r\n"), calendar.ErrMaxInstances},
		{"FREQ=SECONDLY;INTERVAL=999;BYSECOND=1 (never; rrule-go searched until 9999)", event("x", "20260610T090000Z", "20260610T090001Z", "RRULE:FREQ=SECONDLY;INTERVAL=999;BYSECOND=1\r\n"), calendar.ErrMaxInstances},
		{"a sixth Monday", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6\r\n"), calendar.ErrInvalid},
		{"an eighth Tuesday of the month (rrule-go panicked)", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=MONTHLY;BYDAY=08TU\r\n"), calendar.ErrInvalid},
		{"a sixth Tuesday from the month's end (rrule-go panicked)", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=MONTHLY;BYDAY=-6TU\r\n"), calendar.ErrInvalid},
		{"every 7 days on another weekday", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=DAILY;INTERVAL=7;BYDAY=TU\r\n"), calendar.ErrInvalid},
		{"a day no month has", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\n"), calendar.ErrInvalid},
		{"BYYEARDAY below YEARLY", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=HOURLY;BYYEARDAY=366\r\n"), calendar.ErrInvalid},
		{"bad RRULE", event("x", "20260610T090000Z", "20260610T100000Z", "RRULE:FREQ=OFTEN\r\n"), calendar.ErrInvalid},
		{"INTERVAL=0 in a to-do's second RRULE", todo("RRULE:FREQ=WEEKLY;COUNT=3\r\nRRULE:FREQ=DAILY;INTERVAL=0;COUNT=2\r\n"), calendar.ErrRecurrence},
		{"COUNT=-3 in a to-do's second RRULE", todo("RRULE:FREQ=WEEKLY;COUNT=3\r\nRRULE:FREQ=DAILY;COUNT=-3\r\n"), calendar.ErrRecurrence},
		{"METHOD in a stored object", strings.Replace(event("x", "20260610T090000Z", "20260610T100000Z", ""), "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST", 1), calendar.ErrInvalid},
		{"no UID", strings.Replace(event("x", "20260610T090000Z", "20260610T100000Z", ""), "UID:x\r\n", "", 1), calendar.ErrInvalid},
		{"ends before it starts", event("x", "20260610T100000Z", "20260610T090000Z", ""), calendar.ErrInvalid},
		{"bad date", event("x", "2026-06-10", "20260610T090000Z", ""), calendar.ErrInvalid},
		{"two UIDs", strings.Replace(event("x", "20260610T090000Z", "20260610T100000Z", ""), "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:y\r\nDTSTART:20260610T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR", 1), calendar.ErrInvalid},
		{"a VEVENT and a VTODO", strings.Replace(event("x", "20260610T090000Z", "20260610T100000Z", ""), "END:VCALENDAR", "BEGIN:VTODO\r\nUID:x\r\nEND:VTODO\r\nEND:VCALENDAR", 1), calendar.ErrInvalid},
		{"truncated", event("x", "20260610T090000Z", "20260610T100000Z", "")[:120], calendar.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := calendar.Parse([]byte(c.data))
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse: %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	vtz := "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
	cases := []struct {
		name       string
		data       string
		start, end string // RFC 3339, "" for zero
		simple     bool
	}{
		{"UTC", event("a", "20260610T090000Z", "20260610T100000Z", ""), "2026-06-10T09:00:00Z", "2026-06-10T10:00:00Z", true},
		{"TZID", strings.NewReplacer("DTSTART:", "DTSTART;TZID=Europe/Berlin:", "DTEND:", "DTEND;TZID=Europe/Berlin:").Replace(event("a", "20260610T090000", "20260610T100000", "")), "2026-06-10T07:00:00Z", "2026-06-10T08:00:00Z", true},
		{"Outlook TZID with its VTIMEZONE", strings.Replace(strings.NewReplacer("DTSTART:", "DTSTART;TZID=W. Europe Standard Time:", "DTEND:", "DTEND;TZID=W. Europe Standard Time:").Replace(event("a", "20260610T090000", "20260610T100000", "")), "BEGIN:VEVENT", vtz+"BEGIN:VEVENT", 1), "2026-06-10T07:00:00Z", "2026-06-10T08:00:00Z", true},
		{"a TZID only its VTIMEZONE defines", strings.Replace(strings.NewReplacer("DTSTART:", "DTSTART;TZID=Customized Time Zone:", "DTEND:", "DTEND;TZID=Customized Time Zone:").Replace(event("a", "20260610T090000", "20260610T100000", "")), "BEGIN:VEVENT", strings.ReplaceAll(vtz, "W. Europe Standard Time", "Customized Time Zone")+"BEGIN:VEVENT", 1), "2026-06-09T19:00:00Z", "2026-06-11T00:00:00Z", false},
		{"all day", strings.NewReplacer("DTSTART:", "DTSTART;VALUE=DATE:", "DTEND:", "DTEND;VALUE=DATE:").Replace(event("a", "20260610", "20260611", "")), "2026-06-09T10:00:00Z", "2026-06-11T14:00:00Z", false},
		{"counted", event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=DAILY;COUNT=3\r\n"), "2026-06-01T09:00:00Z", "2026-06-03T10:00:00Z", false},
		{"endless", event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=WEEKLY\r\n"), "2026-06-01T09:00:00Z", "", false},
		{"unknown properties kept", event("a", "20260610T090000Z", "20260610T100000Z", "X-CAUCUS-THING;X-P=1:value\r\n"), "2026-06-10T09:00:00Z", "2026-06-10T10:00:00Z", true},
		{"to-do without dates", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:posters\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := calendar.Parse([]byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if got := rfc3339(o.Start); got != c.start {
				t.Errorf("start %s, want %s", got, c.start)
			}
			if got := rfc3339(o.End); got != c.end {
				t.Errorf("end %s, want %s", got, c.end)
			}
			if o.Simple != c.simple {
				t.Errorf("Simple %v, want %v", o.Simple, c.simple)
			}
			again, err := calendar.Parse(o.Data)
			if err != nil || !bytes.Equal(again.Data, o.Data) {
				t.Fatalf("the canonical form does not parse to itself: %v", err)
			}
		})
	}
}

// todo is a VTODO that starts on 10 June 2026, with extra.
func todo(extra string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260610T090000Z\r\nSUMMARY:posters\r\n" + extra + "END:VTODO\r\nEND:VCALENDAR\r\n"
}

// TestRuleNumbersEachRule: COUNT=0 is dropped from each of a to-do's
// RRULEs (go-ical lets a VTODO have more than one; a VEVENT at most
// one), not only from the first; the other parts stay as written.
func TestRuleNumbersEachRule(t *testing.T) {
	t.Parallel()
	o := mustParse(t, todo("RRULE:FREQ=WEEKLY;COUNT=3\r\nRRULE:FREQ=DAILY;COUNT=0;INTERVAL=2\r\n"))
	data := string(o.Data)
	for _, want := range []string{"RRULE:FREQ=WEEKLY;COUNT=3\r\n", "RRULE:FREQ=DAILY;INTERVAL=2\r\n"} {
		if !strings.Contains(data, want) {
			t.Errorf("stored without %q:\n%s", want, data)
		}
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func TestOverlaps(t *testing.T) {
	t.Parallel()
	june := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		data string
		want bool
	}{
		{"in", event("a", "20260610T090000Z", "20260610T100000Z", ""), true},
		{"before", event("a", "20260510T090000Z", "20260510T100000Z", ""), false},
		{"ends at the range's start", event("a", "20260531T230000Z", "20260601T000000Z", ""), false},
		{"spans it", event("a", "20260501T090000Z", "20260801T100000Z", ""), true},
		{"weekly from January", event("a", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY\r\n"), true},
		{"weekly, ended in March", event("a", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY;UNTIL=20260301T000000Z\r\n"), false},
		{"yearly in December", event("a", "20201224T090000Z", "20201224T100000Z", "RRULE:FREQ=YEARLY\r\n"), false},
		{"its June instance excluded", event("a", "20260510T090000Z", "20260510T100000Z", "RRULE:FREQ=MONTHLY;COUNT=2\r\nEXDATE:20260610T090000Z\r\n"), false},
		{"an RDATE in June", event("a", "20260510T090000Z", "20260510T100000Z", "RDATE:20260615T090000Z\r\n"), true},
		// 11,500 instances before June 2026: past MaxExpand when expanded
		// from 1950, answered exactly once skipAhead starts near June.
		{"daily January to May since 1950", event("a", "19500101T090000Z", "19500101T100000Z", "RRULE:FREQ=DAILY;BYMONTH=1,2,3,4,5\r\n"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cal, err := ical.NewDecoder(strings.NewReader(c.data)).Decode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := calendar.Analyse(cal); err != nil {
				t.Fatal(err)
			}
			if got := calendar.Overlaps(cal, june, june.AddDate(0, 1, 0)); got != c.want {
				t.Fatalf("Overlaps June: %v, want %v", got, c.want)
			}
		})
	}
}

// FuzzParse checks that no object makes Parse panic, and that what it
// accepts it stores in a form that parses to itself.
func FuzzParse(f *testing.F) {
	f.Add([]byte(event("a", "20260610T090000Z", "20260610T100000Z", "")))
	f.Add([]byte(event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=DAILY;COUNT=3\r\nEXDATE:20260602T090000Z\r\n")))
	f.Add([]byte(strings.NewReplacer("DTSTART:", "DTSTART;TZID=Europe/Berlin:").Replace(event("a", "20260610T090000", "20260610T100000Z", "RDATE;VALUE=PERIOD:20260611T090000Z/PT1H\r\n"))))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nDUE;VALUE=DATE:20260610\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte(event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=MONTHLY;BYDAY=2TU,-1FR;BYMONTH=1,6;BYSETPOS=1\r\n")))
	f.Add([]byte(event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=YEARLY;BYDAY=20MO;BYWEEKNO=3\r\n")))
	f.Add([]byte(event("a", "20260601T090000Z", "20260601T100000Z", "RRULE:FREQ=WEEKLY;COUNT=0;INTERVAL=+2;count=00\r\n")))
	f.Add([]byte(strings.NewReplacer("DTSTART:", "DTSTART;TZID=W. Europe Standard Time:").Replace(event("a", "20260610T090000", "20260610T100000Z", ""))))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := calendar.Parse(data)
		if err != nil {
			if !errors.Is(err, calendar.ErrInvalid) && !errors.Is(err, calendar.ErrTooLarge) {
				t.Fatalf("error of an unknown kind: %v", err)
			}
			return
		}
		if d := calendar.NestedDepth(o.Cal.Component); d > calendar.MaxDepth {
			t.Fatalf("components nested %d deep, at most %d:\n%q", d, calendar.MaxDepth, data)
		}
		again, err := calendar.Parse(o.Data)
		if err != nil {
			t.Fatalf("stored form refused: %v\n%q", err, o.Data)
		}
		if !bytes.Equal(again.Data, o.Data) || again.UID != o.UID {
			t.Fatalf("stored form changes when parsed again")
		}
		calendar.Overlaps(o.Cal, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
		for _, in := range calendar.Instances(o.Cal, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
			if !in.RecurrenceID.IsZero() {
				calendar.IsInstance(o.Cal, o.Cal.Children[0], in.RecurrenceID)
			}
		}
	})
}

// TestCheckRawNesting: every spelling of BEGIN that go-ical's decoder
// recurses on counts toward MaxDepth, as the line decoder reads it:
// unfolded, with parameters, in any case strings.ToUpper maps to BEGIN.
// Before, only lines starting "BEGIN:" counted, so the others nested as
// deep as MaxObjectSize allowed.
func TestCheckRawNesting(t *testing.T) {
	t.Parallel()
	for _, begin := range []string{"BEGIN:X", "begin:X", "BEGIN;X=1:X", "BEG\r\n IN:X", "BEGIN\r\n\t:X", "\r\n BEGIN:X", "begın:X"} {
		raw := strings.Repeat(begin+"\r\n", calendar.MaxDepth+1)
		if err := calendar.CheckRaw([]byte(raw)); !errors.Is(err, calendar.ErrInvalid) {
			t.Errorf("%d nested %q: %v, want ErrInvalid", calendar.MaxDepth+1, begin, err)
		}
		raw = "BEGIN:VCALENDAR\r\n" + strings.Repeat(begin+"\r\nEND:X\r\n", calendar.MaxDepth+1) + "END:VCALENDAR\r\n"
		if err := calendar.CheckRaw([]byte(raw)); err != nil {
			t.Errorf("%d components %q side by side: %v", calendar.MaxDepth+1, begin, err)
		}
	}
	for _, other := range []string{" BEGIN:X", "BEGINS:X", "X-BEGIN:X", "BEGIN", "DESCRIPTION:BEGIN:X"} {
		if err := calendar.CheckRaw([]byte(strings.Repeat(other+"\r\n", calendar.MaxDepth+1))); err != nil {
			t.Errorf("%q counted as a component: %v", other, err)
		}
	}
}

// TestParseTrailing: go-ical's decoder reads one VCALENDAR and leaves the
// rest; Parse refuses what follows it instead of dropping it without a
// word (before, a second calendar or an event after END:VCALENDAR was
// lost and the PUT answered as stored). Empty lines after it are fine.
func TestParseTrailing(t *testing.T) {
	t.Parallel()
	one := event("a", "20260610T090000Z", "20260610T100000Z", "")
	if _, err := calendar.Parse([]byte(one + "\r\n\r\n")); err != nil {
		t.Errorf("empty lines after the calendar: %v", err)
	}
	for _, rest := range []string{event("b", "20260610T090000Z", "20260610T100000Z", ""), "BEGIN:VEVENT\r\nUID:c\r\nEND:VEVENT\r\n", "X:y\r\n", "garbage\r\n",
		// Cut off before their END: the decoder reads that as the input's end.
		"BEGIN:VEVENT\r\nUID:c\r\n", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:b\r\nEND:VEVENT\r\n", "BEGIN:X\r\n"} {
		if _, err := calendar.Parse([]byte(one + rest)); !errors.Is(err, calendar.ErrInvalid) {
			t.Errorf("a calendar followed by %q: %v, want ErrInvalid", rest, err)
		}
	}
}
