package calendar

import (
	"strings"
	"testing"
)

// TestCleanName: an imported calendar's name is shown as msgview.CleanText
// shows untrusted text: format characters (a bidi override, a zero-width
// space) removed rather than made spaces, white space runs one space,
// joiners and variation selectors kept where they join or select.
func TestCleanName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Party rota", "Party rota"},
		{"  Team\u200B rota\u202E  ", "Team rota"},
		{"Old \u202efdp.ics", "Old fdp.ics"},
		{"a\tb\r\nc", "a b c"},
		{strings.Repeat("é", MaxNameBytes), strings.Repeat("é", MaxNameBytes/2)},
		// Joiners and selectors are kept where they join or select; the
		// cut leaves no joiner last.
		{"👩\u200D💻 Volunteers, ❤\uFE0F", "👩\u200D💻 Volunteers, ❤\uFE0F"},
		{"Ro\u200Dta", "Rota"},
		{strings.Repeat("a", MaxNameBytes-5) + "é\u200Dé", strings.Repeat("a", MaxNameBytes-5) + "é"},
	} {
		if got := cleanName(c.in); got != c.want {
			t.Errorf("cleanName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
