package imapserver

import (
	"strings"
	"testing"
)

// TestListSubscriptions: LIST-EXTENDED's SUBSCRIBED and RECURSIVEMATCH
// (RFC 5258 3.5, 4: CHILDINFO), subscriptions that outlive DELETE and show
// as \NonExistent (RFC 9051 6.3.4), and LSUB's \Noselect parents of
// subscribed names that "%" hides (RFC 3501 6.3.9) — issue 13 item 10.
func TestListSubscriptions(t *testing.T) {
	t.Parallel()
	e := newQuietEnv(t)
	rc := e.raw(t, e.member(t, "anna@example.org"))
	for _, cmd := range []string{
		"CREATE Campaign/Events/Berlin", "SUBSCRIBE Campaign/Events/Berlin",
		"CREATE Press/Clips", "SUBSCRIBE Press/Clips", "SUBSCRIBE Press",
		"CREATE Gone", "SUBSCRIBE Gone", "DELETE Gone",
	} {
		rc.ok(cmd)
	}
	for _, ex := range []exchange{
		{cmd: `LIST (SUBSCRIBED) "" "*"`, result: "OK…", want: []string{
			`* LIST (\NonExistent \Subscribed) "/" "Gone"`,
			`* LIST (\HasNoChildren \Subscribed) "/" "Campaign/Events/Berlin"`,
			`* LIST (\HasChildren \Subscribed) "/" "Press"`,
			`* LIST (\HasNoChildren \Subscribed) "/" "Press/Clips"`,
		}, not: []string{`* LIST (…) "/" "Campaign"`, `* LIST (…) "/" "Campaign/Events"`, `… CHILDINFO …`}},
		{cmd: `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`, result: "OK…", want: []string{
			`* LIST (\HasChildren) "/" "Campaign" (CHILDINFO ("SUBSCRIBED"))`,
			`* LIST (\HasChildren \Subscribed) "/" "Press" (CHILDINFO ("SUBSCRIBED"))`,
			`* LIST (\NonExistent \Subscribed) "/" "Gone"`,
		}, not: []string{`* LIST (…) "/" "Campaign/"…`}},
		// The subscribed child matches "*" and is listed itself: its
		// unsubscribed parents are not (RFC 5258 3.5 SHOULD).
		{cmd: `LIST (SUBSCRIBED RECURSIVEMATCH) "" "Campaign*"`, result: "OK…", want: []string{
			`* LIST (\HasNoChildren \Subscribed) "/" "Campaign/Events/Berlin"`,
		}, not: []string{`* LIST (…) "/" "Campaign"…`, `* LIST (…) "/" "Campaign/Events"…`}},
		{cmd: `LIST "" "*"`, result: "OK…", not: []string{`* LIST (…) "/" "Gone"`, `… \NonExistent …`}},
		{cmd: `LIST "" "*" RETURN (SUBSCRIBED)`, result: "OK…", want: []string{`* LIST (\HasChildren \Subscribed) "/" "Press"`}, not: []string{`* LIST (…) "/" "Gone"`}},
		{cmd: `LSUB "" "%"`, result: "OK…", want: []string{
			`* LSUB (\Noselect) "/" "Campaign"`, `* LSUB () "/" "Press"`, `* LSUB (\Noselect) "/" "Gone"`,
		}, not: []string{`* LSUB (…) "/" "Campaign/"…`}},
		{cmd: `LSUB "" "Campaign/%"`, result: "OK…", want: []string{`* LSUB (\Noselect) "/" "Campaign/Events"`}},
		{cmd: `LSUB "" "Campaign/*"`, result: "OK…", want: []string{`* LSUB () "/" "Campaign/Events/Berlin"`}, not: []string{`* LSUB (…) "/" "Campaign/Events"`}},
		{cmd: `UNSUBSCRIBE Gone`, result: "OK…"},
		{cmd: `LIST (SUBSCRIBED) "" "*"`, result: "OK…", not: []string{`* LIST (…) "/" "Gone"`}},
		{cmd: `SUBSCRIBE Press`, result: "OK…"},
		{cmd: `DELETE Press/Clips`, result: "OK…"},
		{cmd: `CREATE Press/Clips`, result: "OK…"},
		{cmd: `LIST (SUBSCRIBED) "" "Press/*"`, result: "OK…", want: []string{`* LIST (\HasNoChildren \Subscribed) "/" "Press/Clips"`}},
	} {
		rc.check(ex)
	}
}

// matchListNaive is the plain recursive definition of LIST patterns, for
// comparison.
func matchListNaive(name, pattern string) bool {
	if pattern == "" {
		return name == ""
	}
	switch c := pattern[0]; c {
	case '*', '%':
		for i := 0; i <= len(name); i++ {
			if matchListNaive(name[i:], pattern[1:]) {
				return true
			}
			if i < len(name) && c == '%' && name[i] == '/' {
				return false
			}
		}
		return false
	default:
		return name != "" && name[0] == c && matchListNaive(name[1:], pattern[1:])
	}
}

func TestMatchList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pattern string
		want          bool
	}{
		{"INBOX", "inbox", true},
		{"a/b/c", "*", true},
		{"a/b/c", "%", false},
		{"a/b/c", "a/%", false},
		{"a/b/c", "a/%/c", true},
		{"a/b/c", "a/*", true},
		{"abc", "a%c", true},
		{"", "%", true},
		{"a", "", false},
		// Many wildcards against a long name that does not match: the
		// naive recursion takes exponential time here.
		{strings.Repeat("a", 255), strings.Repeat("*a", 40) + "b", false},
	} {
		if got := matchList(tc.name, tc.pattern); got != tc.want {
			t.Errorf("matchList(%q, %q) = %v, want %v", tc.name, tc.pattern, got, tc.want)
		}
	}
}

// FuzzMatchList compares matchList with the recursive definition on short
// inputs.
func FuzzMatchList(f *testing.F) {
	f.Add("a/b/c", "a/%/c")
	f.Add("abc", "*%*")
	f.Add("INBOX/x", "%/*")
	f.Fuzz(func(t *testing.T, name, pattern string) {
		if len(name) > 24 || len(pattern) > 12 || strings.EqualFold(name, "INBOX") {
			return
		}
		if got, want := matchList(name, pattern), matchListNaive(name, pattern); got != want {
			t.Fatalf("matchList(%q, %q) = %v, want %v", name, pattern, got, want)
		}
	})
}
