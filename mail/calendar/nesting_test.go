package calendar

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-ical"
)

// FuzzCheckNesting: whatever the bytes, when checkNesting lets them
// through, what go-ical's decoder makes of them nests at most MaxDepth
// deep, so that the check bounds the decoder's recursion.
func FuzzCheckNesting(f *testing.F) {
	for _, s := range []string{
		"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"BEGIN:A\r\nBEGIN;X=1:B\r\nBEG\r\n IN:C\r\nbegın:D\r\n\r\n BEGIN:E\r\nEND:E\r\nEND:D\r\nEND:C\r\nEND:B\r\nEND:A\r\n",
		"BEGIN:A\nEND:A\nEND:A\nBEGIN:B\nBEGIN:C\nBEGIN:D\nBEGIN:E\nEND:E\nEND:D\nEND:C\nEND:B\n",
		"BEGIN:A\r\nBEGIN\r\n\t;X=\"a:b\":B\r\nEND:B\r\nEND:A\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if checkNesting(raw, 0) != nil {
			return
		}
		cal, err := decode(raw)
		if err != nil {
			return
		}
		if d := nestedDepth(cal.Component); d > MaxDepth {
			t.Fatalf("checkNesting let through components %d deep:\n%q", d, raw)
		}
	})
}

// nestedDepth is how deep components nest in c, c itself counted
// (NestedDepth for the package's external tests).
func nestedDepth(c *ical.Component) int {
	d := 0
	for _, ch := range c.Children {
		d = max(d, nestedDepth(ch))
	}
	return 1 + d
}

// FuzzSplitByUID: an import's reading of a file (splitFile, then
// splitByUID) lets the decoder see only calendars that nest at most
// MaxDepth deep, cuts the file into calendars that are the whole file,
// nothing lost or doubled, and stores only objects a CalDAV PUT would
// store: Parse accepts each one's encoding and gives back the same bytes
// and UID.
func FuzzSplitByUID(f *testing.F) {
	one := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260601T000000Z\r\nDTSTART:20260610T090000Z\r\nDTEND:20260610T100000Z\r\nSUMMARY:One\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260601T000000Z\r\nDTSTART;VALUE=DATE:20260611\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	two := "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260601T000000Z\r\nDUE;TZID=X:20260610T090000\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
	f.Add([]byte(one))
	f.Add([]byte(two))
	// Calendars one after another: exports joined, one UID in both.
	f.Add([]byte(one + "\r\n" + two + one))
	f.Add([]byte(two + strings.Replace(one, "SUMMARY:One", "SUMMARY:Other", 1) + one))
	f.Add([]byte("BEGIN:VCALENDAR\nEND:VCALENDAR\nbegin:VCALENDAR\nBEG\n IN:VEVENT\nEND:VEVENT\nEND:VCALENDAR\nBEGIN:VCALENDAR\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > MaxImportBytes {
			return
		}
		if tops, err := nesting(raw, 0, MaxImportCalendars); err == nil {
			parts := splitAt(raw, tops)
			if !bytes.Equal(bytes.Join(parts, nil), raw) || len(tops) > 1 && len(parts) != len(tops) {
				t.Fatalf("the file cut at %v into %q", tops, parts)
			}
		}
		cals, err := splitFile(raw)
		if err != nil {
			return
		}
		for _, c := range cals {
			if d := nestedDepth(c.Component); d > MaxDepth {
				t.Fatalf("splitFile decoded components %d deep:\n%q", d, raw)
			}
		}
		objs, err := splitByUID(cals...)
		if err != nil {
			return
		}
		for name, o := range objs {
			again, err := Parse(o.Data)
			if err != nil {
				t.Fatalf("an import stores %s (UID %q), which a PUT would refuse: %v\n%q", name, o.UID, err, o.Data)
			}
			if again.UID != o.UID || string(again.Data) != string(o.Data) {
				t.Fatalf("%s changes when parsed again: UID %q, %q", name, again.UID, again.Data)
			}
		}
	})
}

// NestedDepth is nestedDepth, for the external tests (ical_test.go).
var NestedDepth = nestedDepth

// BenchmarkImportSplit: an import's reading of a Google export of 5,000
// events (a weekly series among them) before anything is stored: the
// nesting scan, the decoder, the split by UID and each object's checks.
func BenchmarkImportSplit(b *testing.B) {
	data := []byte(benchExport(5000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cals, err := splitFile(data)
		if err != nil {
			b.Fatal(err)
		}
		if objs, err := splitByUID(cals...); err != nil || len(objs) != 5000 {
			b.Fatal(len(objs), err)
		}
	}
}

// benchExport is a calendar of n events as Google exports one.
func benchExport(n int) string {
	var s strings.Builder
	s.WriteString("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Campaign\r\n")
	s.WriteString("BEGIN:VTIMEZONE\r\nTZID:Europe/Rome\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
	for i := range n {
		rule := ""
		if i%10 == 0 {
			rule = "RRULE:FREQ=WEEKLY;COUNT=10\r\n"
		}
		fmt.Fprintf(&s, "BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Rome:2027%02d%02dT180000\r\nDTEND;TZID=Europe/Rome:2027%02d%02dT190000\r\n%sDTSTAMP:20261201T000000Z\r\nUID:ev%d@google.com\r\nSUMMARY:Event %d\r\nDESCRIPTION:Bring leaflets and the sign-up sheet.\r\nEND:VEVENT\r\n",
			1+i%12, 1+i%28, 1+i%12, 1+i%28, rule, i, i)
	}
	s.WriteString("END:VCALENDAR\r\n")
	return s.String()
}
