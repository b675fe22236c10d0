package calendar

import (
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

func nestedDepth(c *ical.Component) int {
	d := 0
	for _, ch := range c.Children {
		d = max(d, nestedDepth(ch))
	}
	return 1 + d
}
