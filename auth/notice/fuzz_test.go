package notice

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDetails: the readers of audit details and addresses take anything
// without panicking, and what they return is a part of their input that
// a notice may show: a name without a slash, a group name without a space,
// a network that is a prefix.
func FuzzDetails(f *testing.F) {
	for _, s := range []string{
		`path=/Home/plan.txt group= write=false`,
		`path=/Home/a group=b write=x/y group=press write=true`,
		`path=/ group=press write=true`,
		`path=`, `id=3 name="Anna's \"phone\"" scope=mail`, `id=3 name="unterminated`,
		`cohort=3 people=12 last=2026-12-20 name="Canvassing \"spring\""`, `cohort=-1 people=2 last=2026-12-20 name="x"`,
		`cohort=3 people=2 last=2026-13-45 name="x"`, `cohort=3 people=2 last=2026-12-20 name="x" more`,
		"passkey Anna's phone", "totp", "security-key ", "203.0.113.9", "2001:db8::1%eth0", "::ffff:192.0.2.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, group := shareOf(s)
		if strings.Contains(name, "/") && name != "/" {
			t.Errorf("shareOf(%q) name %q has a slash", s, name)
		}
		if strings.Contains(group, " write=") {
			t.Errorf("shareOf(%q) group %q holds the next field", s, group)
		}
		if n := appPasswordName(s); n != "" && utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Errorf("appPasswordName(%q) = %q is not UTF-8", s, n)
		}
		kind, _ := factorOf(s)
		if kind != "" && !strings.HasPrefix(s, kind) {
			t.Errorf("factorOf(%q) kind %q", s, kind)
		}
		if id, people, last, _, ok := cohortOf(s); ok && (id <= 0 || people < 0 || !strings.Contains(s, "last="+last+" ")) {
			t.Errorf("cohortOf(%q) = %d, %d, %q", s, id, people, last)
		}
		if p := networkOf(s); p != "" && !strings.Contains(p, "/") {
			t.Errorf("networkOf(%q) = %q is not a prefix", s, p)
		}
	})
}
