// Package i18n holds caucus's message catalogues and puts every word a
// person reads into their language: the choice of language (the member's
// setting, else the browser's Accept-Language, RFC 9110 section 12.5.4,
// else the party's default), messages with named placeholders and plural
// forms chosen by the CLDR plural rules of the language, and numbers,
// sizes and dates written the language's way in the party's time zone.
//
// The catalogues are TOML files, one per language, in catalog/: a table
// groups messages, a key holds the text, and a message with plural forms
// is a table of CLDR categories ("one", "few", "many", "other"). They are
// embedded in the binary. Placeholders are written {name}; the argument
// named n chooses the plural form:
//
//	[files.trash]
//	keep = { one = "Deleted items stay here for {n} day.", other = "Deleted items stay here for {n} days." }
//
// golang.org/x/text supplies the CLDR data: language matching
// (x/text/language), plural rules (x/text/feature/plural) and number
// formatting (x/text/message). Its own catalogue (x/text/message/catalog)
// is not used: its messages are printf formats with positional verbs and
// its file format comes with a code generation step, both harder for a
// volunteer translator than a TOML file with named placeholders that a
// test checks.
package i18n

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

//go:embed catalog/*.toml
var catalogFS embed.FS

// Fallback is the language of the reference catalogue: every other
// catalogue has exactly its messages, and a message missing at run time is
// taken from it.
const Fallback = "en"

// ErrUnknownLanguage reports a language caucus has no catalogue for.
var ErrUnknownLanguage = errors.New("i18n: no catalogue for this language")

// pluralForms are the CLDR plural categories a plural message may have,
// in the order of plural.Form.
var pluralForms = map[string]plural.Form{
	"zero": plural.Zero, "one": plural.One, "two": plural.Two,
	"few": plural.Few, "many": plural.Many, "other": plural.Other,
}

// Message is one entry of a catalogue: a text, or plural forms by CLDR
// category.
type Message struct {
	Text   string
	Plural map[plural.Form]string // nil for a plain text
}

// Catalogue is one language's messages and date formats.
type Catalogue struct {
	Code     string // BCP 47, e.g. "it"
	Name     string // the language's own name, e.g. "Italiano"
	Dir      string // "ltr" or "rtl"
	Months   [12]string
	Date     string // e.g. "{d} {month} {yyyy}"
	DateTime string // e.g. "{date}, {HH}:{mm} {zone}"
	Messages map[string]Message
	tag      language.Tag
	date     datePattern // Date, split
	dateTime datePattern // DateTime with {date} replaced, split
	numbers  numberFormat
	plurals  [smallCounts]plural.Form // the plural form of 0 … smallCounts-1
}

// smallCounts is how many counts each catalogue keeps the plural form of,
// read once from the CLDR rules; larger counts ask the rules each time.
const smallCounts = 1000

// Bundle is a set of catalogues and the matcher that picks among them.
// It is read-only after Load and safe for concurrent use.
type Bundle struct {
	cats    map[string]*Catalogue
	codes   []string // Fallback first, then by code
	matcher language.Matcher
}

// builtin is the bundle of the embedded catalogues, loaded once.
var builtin = sync.OnceValues(func() (*Bundle, error) { return Load(catalogFS, "catalog") })

// Builtin returns the bundle of the catalogues caucus ships. They are
// checked by this package's tests, so an error here is a build mistake.
func Builtin() *Bundle {
	b, err := builtin()
	if err != nil {
		panic(err)
	}
	return b
}

// Load reads every *.toml file in dir of fsys as a catalogue; the file's
// name is the language code. The Fallback catalogue must be among them.
func Load(fsys fs.FS, dir string) (*Bundle, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.toml"))
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	b := &Bundle{cats: map[string]*Catalogue{}}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		code := strings.TrimSuffix(path.Base(n), ".toml")
		c, err := ParseCatalogue(code, data)
		if err != nil {
			return nil, err
		}
		b.cats[code] = c
	}
	if b.cats[Fallback] == nil {
		return nil, fmt.Errorf("i18n: no %s catalogue in %s", Fallback, dir)
	}
	for code := range b.cats {
		if code != Fallback {
			b.codes = append(b.codes, code)
		}
	}
	sort.Strings(b.codes)
	b.codes = append([]string{Fallback}, b.codes...)
	tags := make([]language.Tag, len(b.codes))
	for i, c := range b.codes {
		tags[i] = b.cats[c].tag
	}
	b.matcher = language.NewMatcher(tags)
	return b, nil
}

// catalogueFile is the shape of a catalogue file's [meta] table.
type catalogueFile struct {
	Meta struct {
		Name     string   `toml:"name"`
		Dir      string   `toml:"dir"`
		Months   []string `toml:"months"`
		Date     string   `toml:"date"`
		DateTime string   `toml:"datetime"`
	} `toml:"meta"`
}

// ParseCatalogue reads one catalogue file for the language code.
func ParseCatalogue(code string, data []byte) (*Catalogue, error) {
	tag, err := language.Parse(code)
	if err != nil {
		return nil, fmt.Errorf("i18n: catalogue %q: %w", code, err)
	}
	var f catalogueFile
	var all map[string]any
	if _, err := toml.Decode(string(data), &all); err != nil {
		return nil, fmt.Errorf("i18n: catalogue %s: %w", code, err)
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		return nil, fmt.Errorf("i18n: catalogue %s: %w", code, err)
	}
	m := f.Meta
	c := &Catalogue{Code: code, Name: m.Name, Dir: m.Dir, Date: m.Date, DateTime: m.DateTime, tag: tag, Messages: map[string]Message{}}
	switch {
	case c.Name == "":
		return nil, fmt.Errorf("i18n: catalogue %s: meta.name is missing", code)
	case c.Dir != "ltr" && c.Dir != "rtl":
		return nil, fmt.Errorf("i18n: catalogue %s: meta.dir must be ltr or rtl", code)
	case len(m.Months) != 12:
		return nil, fmt.Errorf("i18n: catalogue %s: meta.months must name 12 months", code)
	case c.Date == "" || c.DateTime == "":
		return nil, fmt.Errorf("i18n: catalogue %s: meta.date and meta.datetime are required", code)
	}
	copy(c.Months[:], m.Months)
	c.date = parseDatePattern(c.Date)
	c.dateTime = parseDatePattern(strings.ReplaceAll(c.DateTime, "{date}", c.Date))
	c.numbers = newNumberFormat(tag)
	for n := range c.plurals {
		c.plurals[n] = matchPlural(tag, int64(n))
	}
	delete(all, "meta")
	if err := c.flatten("", all); err != nil {
		return nil, fmt.Errorf("i18n: catalogue %s: %w", code, err)
	}
	return c, nil
}

// flatten walks the tables of a catalogue file into dotted keys.
func (c *Catalogue) flatten(prefix string, t map[string]any) error {
	for k, v := range t {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch v := v.(type) {
		case string:
			c.Messages[key] = Message{Text: v}
		case map[string]any:
			if p, ok, err := pluralTable(v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			} else if ok {
				c.Messages[key] = Message{Plural: p}
				continue
			}
			if err := c.flatten(key, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: a message must be a text or a table", key)
		}
	}
	return nil
}

// pluralTable reads t as plural forms if it has an "other" text and only
// CLDR categories.
func pluralTable(t map[string]any) (map[plural.Form]string, bool, error) {
	if _, ok := t["other"]; !ok {
		return nil, false, nil
	}
	p := map[plural.Form]string{}
	for k, v := range t {
		f, ok := pluralForms[k]
		s, isText := v.(string)
		if !ok || !isText {
			return nil, false, fmt.Errorf("plural message: %q is not a plural category with a text", k)
		}
		p[f] = s
	}
	return p, true, nil
}

// Languages returns the codes of the bundle's languages, Fallback first.
func (b *Bundle) Languages() []string { return slices.Clone(b.codes) }

// Catalogue returns the catalogue of the language code, or nil.
func (b *Bundle) Catalogue(code string) *Catalogue { return b.cats[code] }

// Supported reports whether the bundle has a catalogue for code.
func (b *Bundle) Supported(code string) bool { return b.cats[code] != nil }

// Pick chooses the language of a page or message: the member's setting if
// the bundle has it, else the best match of the browser's Accept-Language
// header (RFC 9110 section 12.5.4) if one of its languages matches with
// high confidence (de-AT is German; Portuguese is not Spanish), else
// the party's default, else Fallback.
func (b *Bundle) Pick(member, acceptLanguage, party string) string {
	if b.Supported(member) {
		return member
	}
	if acceptLanguage != "" && len(acceptLanguage) <= maxAcceptLanguage {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
			if _, i, conf := b.matcher.Match(tags...); conf >= language.High {
				return b.codes[i]
			}
		}
	}
	if b.Supported(party) {
		return party
	}
	return Fallback
}

// maxAcceptLanguage bounds the Accept-Language header Pick reads; a longer
// one is ignored (browsers send a few dozen bytes).
const maxAcceptLanguage = 512
