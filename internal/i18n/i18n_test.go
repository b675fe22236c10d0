package i18n

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"golang.org/x/text/message"
)

func TestPick(t *testing.T) {
	t.Parallel()
	b := Builtin()
	for _, tc := range []struct {
		member, accept, party, want string
	}{
		{"", "", "", "en"},
		{"", "", "it", "it"},
		{"", "it-IT,it;q=0.9,en;q=0.8", "en", "it"},
		{"", "de-AT", "it", "de"},
		{"", "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "it", "fr"},
		{"", "pt-BR,pt;q=0.9", "it", "it"},          // no Portuguese: the party's language, not a guess
		{"", "pt-BR,pt;q=0.9,es;q=0.5", "it", "es"}, // the browser's second choice
		{"de", "it-IT", "fr", "de"},                 // the member's setting first
		{"xx", "es", "it", "es"},                    // an unknown setting is ignored
		{"", "en-GB", "it", "en"},
		{"", ";;;garbage", "fr", "fr"},
		{"", strings.Repeat("it,", 400), "fr", "fr"}, // too long: ignored
		{"", "", "xx", "en"},
	} {
		if got := b.Pick(tc.member, tc.accept, tc.party); got != tc.want {
			t.Errorf("Pick(%q, %.30q, %q) = %q, want %q", tc.member, tc.accept, tc.party, got, tc.want)
		}
	}
}

// TestPlural: the form follows each language's CLDR rule (French counts 0
// as singular, English and Italian do not) and {n} is written the
// language's way.
func TestPlural(t *testing.T) {
	t.Parallel()
	b := Builtin()
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 0, "You have 0 unused codes."},
		{"en", 1, "You have 1 unused code."},
		{"en", 2, "You have 2 unused codes."},
		{"it", 1, "Ti resta 1 codice inutilizzato."},
		{"it", 0, "Ti restano 0 codici inutilizzati."},
		{"fr", 0, "Il vous reste 0 code inutilisé."},
		{"fr", 1, "Il vous reste 1 code inutilisé."},
		{"fr", 2, "Il vous reste 2 codes inutilisés."},
	} {
		got := b.Localizer(tc.lang, nil).T("recovery.left", "n", tc.n)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s n=%d: %q, want it to start %q", tc.lang, tc.n, got, tc.want)
		}
	}
	if got := b.Localizer("de", nil).Number(1234567); got != "1.234.567" {
		t.Errorf("de Number = %q", got)
	}
	if got := b.Localizer("en", nil).Number(1234567); got != "1,234,567" {
		t.Errorf("en Number = %q", got)
	}
	if got := b.Localizer("it", nil).Size(1500000); got != "1,5 MB" {
		t.Errorf("it Size = %q", got)
	}
	if got := b.Localizer("en", nil).Size(1500000); got != "1.5 MB" {
		t.Errorf("en Size = %q", got)
	}
	if got := b.Localizer("en", nil).Size(999); got != "999 B" {
		t.Errorf("en Size = %q", got)
	}
}

func TestDates(t *testing.T) {
	t.Parallel()
	b := Builtin()
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	at := time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC) // 23:30 in Rome
	for _, tc := range []struct {
		lang, date, datetime string
	}{
		{"en", "6 Dec 2026", "6 Dec 2026, 23:30 CET"},
		{"it", "6 dic 2026", "6 dic 2026, 23:30 CET"},
		{"de", "6. Dez. 2026", "6. Dez. 2026, 23:30 CET"},
		{"fr", "6 déc. 2026", "6 déc. 2026, 23:30 CET"},
		{"es", "6 dic 2026", "6 dic 2026, 23:30 CET"},
	} {
		l := b.Localizer(tc.lang, rome)
		if got := l.Date(at); got != tc.date {
			t.Errorf("%s Date = %q, want %q", tc.lang, got, tc.date)
		}
		if got := l.DateTime(at); got != tc.datetime {
			t.Errorf("%s DateTime = %q, want %q", tc.lang, got, tc.datetime)
		}
	}
	// The day is the zone's: 23:30 UTC on the 31st is already the 1st in Rome.
	if got := b.Localizer("en", rome).Date(time.Date(2027, 6, 30, 23, 30, 0, 0, time.UTC)); got != "1 Jul 2027" {
		t.Errorf("Date across midnight = %q", got)
	}
	if got := b.Localizer("en", time.FixedZone("", 3600)).DateTime(at); got != "6 Dec 2026, 23:30 UTC+01:00" {
		t.Errorf("zone without a name: %q", got)
	}
	if got := b.Localizer("en", nil).Date(time.Time{}); got != "" {
		t.Errorf("zero time: %q", got)
	}
}

func TestT(t *testing.T) {
	t.Parallel()
	b := Builtin()
	en := b.Localizer("en", nil)
	if got := en.T("invite.welcome", "name", "Anna"); got != "Welcome, Anna" {
		t.Errorf("T = %q", got)
	}
	// A missing argument leaves the placeholder, an unknown key shows the
	// key; neither panics nor empties the page.
	if got := en.T("invite.welcome"); got != "Welcome, {name}" {
		t.Errorf("T without argument = %q", got)
	}
	if got := en.T("no.such.key", "n", 1); got != "no.such.key" {
		t.Errorf("unknown key = %q", got)
	}
	// An odd argument list is not a crash.
	if got := en.T("invite.welcome", "name"); got != "Welcome, {name}" {
		t.Errorf("odd args = %q", got)
	}
	if got := b.Localizer("xx", nil).Lang(); got != "en" {
		t.Errorf("unknown language falls back to %q", got)
	}
	for _, code := range b.Languages() {
		l := b.Localizer(code, nil)
		if l.Dir() != "ltr" {
			t.Errorf("%s: dir %q", code, l.Dir())
		}
		if l.T("login.title") == "login.title" {
			t.Errorf("%s: no login.title", code)
		}
	}
}

// FuzzPick: Accept-Language comes from any client: no input panics or
// picks a language the bundle does not have, or overrides the member's.
func FuzzPick(f *testing.F) {
	for _, s := range []string{"", "it-IT,it;q=0.9", "*", "x-klingon;q=1", "en;q=0.0", ";q=", "de-CH-1996", "zh-Hant-TW;q=0.5,,", "i-klingon"} {
		f.Add("", s, "it")
	}
	b := Builtin()
	f.Fuzz(func(t *testing.T, member, accept, party string) {
		got := b.Pick(member, accept, party)
		if !b.Supported(got) {
			t.Fatalf("Pick(%q, %q, %q) = %q, not a catalogue", member, accept, party, got)
		}
		// The member's own setting wins; without it and without a
		// header, the party's language.
		if b.Supported(member) && got != member {
			t.Fatalf("Pick(%q, %q, %q) = %q, not the member's", member, accept, party, got)
		}
		if !b.Supported(member) && b.Supported(party) {
			if got := b.Pick(member, "", party); got != party {
				t.Fatalf("Pick(%q, \"\", %q) = %q, not the party's", member, party, got)
			}
		}
	})
}

// FuzzT: whatever a translator writes, filling it in neither panics nor
// makes invalid UTF-8 from valid input, leaves text without placeholders
// alone, and puts an argument in as it is.
func FuzzT(f *testing.F) {
	for _, s := range []string{"Hello {name}", "{", "}", "{{name}}", "{n} {n", "{}", "ü{name}ü"} {
		f.Add(s, "Anna", int64(3))
	}
	f.Add("{n}", "", int64(-9223372036854775808))
	l := Builtin().Localizer("fr", nil)
	f.Fuzz(func(t *testing.T, text, arg string, n int64) {
		l.T("files.trash.keep", "n", n)
		got := l.fill(text, []any{"name", arg, "n", n})
		if utf8.ValidString(text) && utf8.ValidString(arg) && !utf8.ValidString(got) {
			t.Fatalf("fill(%q, %q) = %q: invalid UTF-8", text, arg, got)
		}
		if !strings.Contains(text, "{") && got != text {
			t.Fatalf("fill(%q) = %q: a text without placeholders changed", text, got)
		}
		// An argument goes in as it is: its own braces are not filled.
		if again := l.fill("{name}"+text, []any{"name", arg, "n", n}); again != arg+got {
			t.Fatalf("fill(%q, %q) = %q, want %q", "{name}"+text, arg, again, arg+got)
		}
	})
}

// TestLoadRightToLeft: a catalogue can be right-to-left, and a bundle
// without the fallback catalogue, or with a broken one, is refused.
func TestLoadRightToLeft(t *testing.T) {
	t.Parallel()
	meta := func(name, dir string) string {
		return "[meta]\nname = \"" + name + "\"\ndir = \"" + dir + "\"\nmonths = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\"]\ndate = \"{d}/{mo}/{yyyy}\"\ndatetime = \"{date} {HH}:{min}\"\n"
	}
	b, err := Load(fstest.MapFS{
		"c/en.toml": {Data: []byte(meta("English", "ltr") + "[a]\nhi = \"Hello\"\n")},
		"c/ar.toml": {Data: []byte(meta("العربية", "rtl") + "[a]\nhi = \"مرحبا\"\n")},
	}, "c")
	if err != nil {
		t.Fatal(err)
	}
	l := b.Localizer("ar", time.UTC)
	if l.Dir() != "rtl" || l.T("a.hi") != "مرحبا" || l.Date(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)) != "6/12/2026" {
		t.Errorf("ar: dir %q, %q, %q", l.Dir(), l.T("a.hi"), l.Date(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)))
	}
	if got := b.Pick("", "ar-EG,ar;q=0.9", "en"); got != "ar" {
		t.Errorf("Pick(ar-EG) = %q", got)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no fallback": {"c/it.toml": {Data: []byte(meta("Italiano", "ltr"))}},
		"bad dir":     {"c/en.toml": {Data: []byte(meta("English", "sideways"))}},
		"bad plural":  {"c/en.toml": {Data: []byte(meta("English", "ltr") + "[a]\nx = { other = \"x\", lots = \"y\" }\n")}},
		"number":      {"c/en.toml": {Data: []byte(meta("English", "ltr") + "[a]\nx = 3\n")}},
		"not toml":    {"c/en.toml": {Data: []byte("[meta\n")}},
		"bad code":    {"c/en.toml": {Data: []byte(meta("English", "ltr"))}, "c/x!.toml": {Data: []byte(meta("X", "ltr"))}},
	} {
		if _, err := Load(fsys, "c"); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestNumbersMatchCLDR: the fast number writer gives what
// golang.org/x/text/message (CLDR) gives, in every language.
func TestNumbersMatchCLDR(t *testing.T) {
	t.Parallel()
	b := Builtin()
	for _, code := range b.Languages() {
		c := b.Catalogue(code)
		p := message.NewPrinter(c.tag)
		l := b.Localizer(code, nil)
		for _, n := range []int64{0, 7, -7, 999, 1000, -1000, 1234, 9999, 10000, 12345, 999999, 1000000, 1234567890, -9876543210} {
			if got, want := l.Number(n), p.Sprintf("%d", n); got != want {
				t.Errorf("%s Number(%d) = %q, CLDR %q", code, n, got, want)
			}
		}
		if got, want := l.Size(2_500_000), p.Sprintf("%.1f", 2.5)+" MB"; got != want {
			t.Errorf("%s Size = %q, want %q", code, got, want)
		}
	}
}
