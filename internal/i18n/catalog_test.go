package i18n

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/feature/plural"
)

// moduleRoot is where the scan for message keys starts.
const moduleRoot = "../.."

// TestCataloguesComplete: every catalogue has exactly the reference
// catalogue's messages, a plural message in every language has the forms
// the language's CLDR rules use, and no translation has a placeholder the
// English text does not fill.
func TestCataloguesComplete(t *testing.T) {
	t.Parallel()
	b := Builtin()
	if want := []string{"de", "en", "es", "fr", "it"}; !sameSet(b.Languages(), want) {
		t.Errorf("languages %v, want %v", b.Languages(), want)
	}
	ref := b.Catalogue(Fallback)
	for _, code := range b.Languages() {
		for _, p := range catalogueProblems(ref, b.Catalogue(code)) {
			t.Errorf("%s: %s", code, p)
		}
	}
}

// catalogueProblems lists what is wrong with c measured against ref.
func catalogueProblems(ref, c *Catalogue) []string {
	var out []string
	forms := usedForms(c)
	for key, rm := range ref.Messages {
		m, ok := c.Messages[key]
		if !ok {
			out = append(out, "missing message "+key)
			continue
		}
		if (rm.Plural == nil) != (m.Plural == nil) {
			out = append(out, key+": plural in one catalogue, plain text in the other")
			continue
		}
		allowed := placeholders(rm)
		for _, f := range forms {
			if m.Plural != nil && m.Plural[f] == "" {
				out = append(out, key+": no plural form "+formName(f))
			}
		}
		for ph := range placeholders(m) {
			if !allowed[ph] {
				out = append(out, key+": placeholder {"+ph+"} is not in the English text")
			}
		}
		if m.Plural == nil && !sameKeys(allowed, placeholders(m)) {
			out = append(out, key+": placeholders differ from the English text")
		}
	}
	for key := range c.Messages {
		if _, ok := ref.Messages[key]; !ok {
			out = append(out, "extra message "+key+" (not in the English catalogue)")
		}
	}
	sort.Strings(out)
	return out
}

// usedForms are the plural forms c's language uses for whole numbers.
func usedForms(c *Catalogue) []plural.Form {
	seen := map[plural.Form]bool{}
	for n := int64(0); n <= 1000; n++ {
		seen[c.pluralForm(n)] = true
	}
	seen[c.pluralForm(1000000)] = true
	var out []plural.Form
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func formName(f plural.Form) string {
	for n, g := range pluralForms {
		if g == f {
			return n
		}
	}
	return "?"
}

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func placeholders(m Message) map[string]bool {
	texts := []string{m.Text}
	for _, s := range m.Plural {
		texts = append(texts, s)
	}
	out := map[string]bool{}
	for _, s := range texts {
		for _, sub := range placeholderRE.FindAllStringSubmatch(s, -1) {
			out[sub[1]] = true
		}
	}
	return out
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

// Message keys at call sites: {{T "key" …}} in templates, .T("key", …)
// or i18n.Key("key") in Go. A key is always a literal, so that this scan
// sees every one; a call that looks up a key kept earlier (marked with
// i18n.Key) says so with the comment "i18n:keyed" on its line.
var (
	templateKeyRE = regexp.MustCompile(`[{(]T "([^"]+)"`)
	goKeyRE       = regexp.MustCompile(`(?:\.T|i18n\.Key)\("([^"]+)"`)
	// Calls whose key is not a literal.
	templateDynRE = regexp.MustCompile(`[{(]T [^"]`)
	goDynRE       = regexp.MustCompile(`\.T\([^"]`)
)

// usage is what a scan of the source found.
type usage struct {
	keys    map[string][]string // key → files using it
	dynamic []string            // file: line of a call with a computed key
}

// scanKeys finds the message keys used by the templates (*.html) and Go
// files (*.go) in fsys, skipping this package.
func scanKeys(fsys fs.FS) (usage, error) {
	u := usage{keys: map[string][]string{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "internal/i18n" || p == "internal/third_party" || strings.HasPrefix(d.Name(), ".") && p != "." {
				return fs.SkipDir
			}
			return nil
		}
		var keyRE, dynRE *regexp.Regexp
		switch {
		case strings.HasSuffix(p, ".html"):
			keyRE, dynRE = templateKeyRE, templateDynRE
		case strings.HasSuffix(p, ".go"):
			keyRE, dynRE = goKeyRE, goDynRE
		default:
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range keyRE.FindAllStringSubmatch(line, -1) {
				u.keys[m[1]] = append(u.keys[m[1]], p)
			}
			if dynRE.MatchString(line) && !strings.Contains(line, "i18n:keyed") {
				u.dynamic = append(u.dynamic, p+":"+strconv.Itoa(i+1))
			}
		}
		return nil
	})
	return u, err
}

// keyProblems compares the keys used with the reference catalogue: a key
// used but not in it, a message in it that nothing uses, and a call with
// a computed key (which the scan cannot check).
func keyProblems(u usage, ref *Catalogue) []string {
	var out []string
	for key, files := range u.keys {
		if _, ok := ref.Messages[key]; !ok {
			out = append(out, "key "+key+" used in "+strings.Join(files, ", ")+" is not in the catalogue")
		}
	}
	for key := range ref.Messages {
		if _, ok := u.keys[key]; !ok {
			out = append(out, "message "+key+" is used nowhere")
		}
	}
	for _, at := range u.dynamic {
		out = append(out, at+": the message key must be a literal string")
	}
	sort.Strings(out)
	return out
}

// TestKeysUsed: every key a template or Go file of caucus uses is in the
// catalogue, and every message of the catalogue is used.
func TestKeysUsed(t *testing.T) {
	t.Parallel()
	u, err := scanKeys(os.DirFS(moduleRoot))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.keys) < 50 {
		t.Fatalf("found only %d keys under %s: is the scan looking in the right place?", len(u.keys), filepath.Clean(moduleRoot))
	}
	for _, p := range keyProblems(u, Builtin().Catalogue(Fallback)) {
		t.Error(p)
	}
}

// TestKeyScanFindsMistakes: the scan reports a template's unknown key, an
// unknown key in Go, an unused message and a computed key.
func TestKeyScanFindsMistakes(t *testing.T) {
	t.Parallel()
	ref, err := ParseCatalogue("en", []byte(`[meta]
name = "English"
dir = "ltr"
months = ["1","2","3","4","5","6","7","8","9","10","11","12"]
date = "{d}"
datetime = "{date}"
[a]
known = "Known"
unused = "Unused"
`))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"pkg/templates/page.html": {Data: []byte(`<h1>{{T "a.known"}}</h1><p>{{T "a.typo" "n" 1}}</p>`)},
		"pkg/pages.go":            {Data: []byte(`x := l.T("a.fromgo"); y := l.T(key)`)},
		"pkg/dyn.html":            {Data: []byte(`{{T .Key}}`)},
	}
	u, err := scanKeys(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := keyProblems(u, ref)
	want := []string{
		"key a.fromgo used in pkg/pages.go is not in the catalogue",
		"key a.typo used in pkg/templates/page.html is not in the catalogue",
		"message a.unused is used nowhere",
		"pkg/dyn.html:1: the message key must be a literal string",
		"pkg/pages.go:1: the message key must be a literal string",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCatalogueChecksFindMistakes: a missing message, an extra one, a
// missing plural form and a stray placeholder are each reported.
func TestCatalogueChecksFindMistakes(t *testing.T) {
	t.Parallel()
	meta := "[meta]\nname = \"X\"\ndir = \"ltr\"\nmonths = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\"]\ndate = \"{d}\"\ndatetime = \"{date}\"\n"
	ref, err := ParseCatalogue("en", []byte(meta+`[a]
hello = "Hello {name}"
files = { one = "{n} file", other = "{n} files" }
gone = "Gone"
`))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := ParseCatalogue("fr", []byte(meta+`[a]
hello = "Bonjour {nom}"
files = { other = "{n} fichiers" }
extra = "En trop"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := catalogueProblems(ref, fr)
	want := []string{
		"a.files: no plural form one",
		"a.hello: placeholder {nom} is not in the English text",
		"a.hello: placeholders differ from the English text",
		"extra message a.extra (not in the English catalogue)",
		"missing message a.gone",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// translatedTemplates are the template directories whose words all come
// from the catalogue.
var translatedTemplates = []string{"internal/ui", "auth/login/templates", "files/fileweb/templates", "mail/webmail/templates", "mail/calendar/calweb/templates", "mail/contacts/cardweb/templates", "admin/console/templates", "mail/mailimport/importweb/templates"}

var (
	templateActionRE = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	tagRE            = regexp.MustCompile(`(?s)<[^>]*>`)
	entityRE         = regexp.MustCompile(`&[a-zA-Z#0-9]+;`)
	wordAttrRE       = regexp.MustCompile(`\s(placeholder|alt|aria-label|title|data-confirm|data-msg-[a-z]+)="([^"]*)"`)
	letterRE         = regexp.MustCompile(`\pL`)
)

// hardcodedWords lists the words of a template that do not come from the
// catalogue: text between tags, and the attributes a person reads.
func hardcodedWords(src string) []string {
	var out []string
	for _, tag := range tagRE.FindAllString(templateActionRE.ReplaceAllString(src, ""), -1) {
		for _, m := range wordAttrRE.FindAllStringSubmatch(tag, -1) {
			if letterRE.MatchString(m[2]) {
				out = append(out, m[1]+"="+m[2])
			}
		}
	}
	text := templateActionRE.ReplaceAllString(src, " ")
	text = tagRE.ReplaceAllString(text, " ")
	text = entityRE.ReplaceAllString(text, " ")
	for _, f := range strings.Fields(text) {
		if letterRE.MatchString(f) {
			out = append(out, f)
		}
	}
	return out
}

// TestTemplatesHaveNoWords: every word of the translated templates goes
// through the catalogue; a word typed into a template fails.
func TestTemplatesHaveNoWords(t *testing.T) {
	t.Parallel()
	if got := hardcodedWords(`<p title="Hi">{{T "a"}} Upload <b>{{.Name}}</b> &amp; · <input placeholder="{{T "b"}}"></p>`); !slices.Equal(got, []string{"title=Hi", "Upload"}) {
		t.Fatalf("hardcodedWords finds %q, want the title and Upload", got)
	}
	n := 0
	for _, dir := range translatedTemplates {
		files, err := filepath.Glob(filepath.Join(moduleRoot, dir, "*.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			n++
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if w := hardcodedWords(string(data)); len(w) > 0 {
				t.Errorf("%s: words not from the catalogue: %q", f, w)
			}
		}
	}
	if n < 15 {
		t.Errorf("checked only %d templates", n)
	}
}
