package i18n

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Localizer writes messages, numbers and dates in one language and time
// zone. It is cheap to make (one per request) and safe for concurrent use.
type Localizer struct {
	cat      *Catalogue
	fallback *Catalogue
	loc      *time.Location
}

// Localizer returns a localizer for the language code (Fallback if the
// bundle has no such catalogue) writing times in loc (UTC if nil).
func (b *Bundle) Localizer(code string, loc *time.Location) *Localizer {
	c := b.cats[code]
	if c == nil {
		c = b.cats[Fallback]
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Localizer{cat: c, fallback: b.cats[Fallback], loc: loc}
}

// Lang is the language's BCP 47 code, for <html lang> and Content-Language.
func (l *Localizer) Lang() string { return l.cat.Code }

// Dir is the writing direction, "ltr" or "rtl", for <html dir>.
func (l *Localizer) Dir() string { return l.cat.Dir }

// Location is the time zone dates are written in.
func (l *Localizer) Location() *time.Location { return l.loc }

// Has reports whether the message key exists (in the language or the
// fallback).
func (l *Localizer) Has(key string) bool {
	_, ok := l.cat.Messages[key]
	if !ok {
		_, ok = l.fallback.Messages[key]
	}
	return ok
}

// T returns the message key with its placeholders filled in from args,
// given as name, value pairs: T("files.trash.keep", "n", 30). The
// argument named n (an integer) picks the plural form by the language's
// CLDR rules. Integers are written with the language's digit grouping,
// times as DateTime. A message missing from the language is taken from
// the fallback catalogue; a key missing there too is returned as is, so a
// mistake shows rather than an empty page (the tests keep it from
// happening).
func (l *Localizer) T(key string, args ...any) string {
	m, ok := l.cat.Messages[key]
	c := l.cat
	if !ok {
		if m, ok = l.fallback.Messages[key]; !ok {
			return key
		}
		c = l.fallback
	}
	text := m.Text
	if m.Plural != nil {
		text = m.Plural[plural.Other]
		if n, ok := countArg(args); ok {
			if s, ok := m.Plural[c.pluralForm(n)]; ok {
				text = s
			}
		}
	}
	if !strings.Contains(text, "{") {
		return text
	}
	return l.fill(text, args)
}

// countArg finds the argument named n.
func countArg(args []any) (int64, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if name, _ := args[i].(string); name == "n" {
			return toInt(args[i+1])
		}
	}
	return 0, false
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint32:
		return int64(v), true
	}
	return 0, false
}

// pluralForm is the CLDR cardinal category of the integer n in c's
// language.
func (c *Catalogue) pluralForm(n int64) plural.Form {
	if n == math.MinInt64 {
		n = math.MaxInt64
	} else if n < 0 {
		n = -n
	}
	if n < smallCounts {
		return c.plurals[n]
	}
	return matchPlural(c.tag, n)
}

// matchPlural asks the CLDR rules for the category of n >= 0.
func matchPlural(tag language.Tag, n int64) plural.Form {
	// MatchPlural takes the integer digits mod 1e6 and the count of
	// visible fraction digits (none); 1e6 and its multiples count as
	// such (some languages have a "many" form for them).
	i := int(n % 1000000)
	if n >= 1000000 && i == 0 {
		i = 1000000
	}
	return plural.Cardinal.MatchPlural(tag, i, 0, 0, 0, 0)
}

// fill replaces each {name} in text with its argument.
func (l *Localizer) fill(text string, args []any) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		name := text[i+1 : i+j]
		if v, ok := arg(args, name); ok {
			b.WriteString(l.format(v))
		} else {
			b.WriteString(text[i : i+j+1])
		}
		text = text[i+j+1:]
	}
}

func arg(args []any, name string) (any, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if n, _ := args[i].(string); n == name {
			return args[i+1], true
		}
	}
	return nil, false
}

// format writes one argument.
func (l *Localizer) format(v any) string {
	if n, ok := toInt(v); ok {
		return l.Number(n)
	}
	switch v := v.(type) {
	case string:
		return v
	case template.HTML:
		return string(v) // escaped by html/template all the same
	case time.Time:
		return l.DateTime(v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// Number writes n with the language's digit grouping (1,234 · 1.234 ·
// 1 234).
func (l *Localizer) Number(n int64) string {
	return string(l.cat.numbers.appendInt(nil, n))
}

// Size writes a count of bytes in SI units with the language's decimal
// separator: "512 B", "1.5 MB" (English), "1,5 MB" (Italian).
func (l *Localizer) Size(n int64) string {
	const unit = 1000
	if n < unit {
		return l.Number(n) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	tenths := int64(math.Round(float64(n) / float64(div) * 10))
	b := l.cat.numbers.appendInt(nil, tenths/10)
	b = append(b, l.cat.numbers.decimal...)
	b = append(b, byte('0'+tenths%10), ' ', "kMGTP"[exp], 'B')
	return string(b)
}

// Date writes the day of t in the localizer's time zone: "6 Dec 2026",
// "6 dic 2026". The zero time is "".
func (l *Localizer) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return string(l.cat.date.appendDate(make([]byte, 0, 16), t.In(l.loc), &l.cat.Months))
}

// DateTime writes t to the minute in the localizer's time zone, naming
// the zone: "6 Dec 2026, 14:05 CET". The zero time is "".
func (l *Localizer) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return string(l.cat.dateTime.appendDate(make([]byte, 0, 32), t.In(l.loc), &l.cat.Months))
}

// Funcs are the template functions bound to l: T, date, datetime, number,
// size, lang and dir. Parse templates with [PlaceholderFuncs] and bind a
// clone to a localizer with Funcs before executing it.
func (l *Localizer) Funcs() template.FuncMap {
	return template.FuncMap{
		"T":        l.T,
		"date":     l.Date,
		"datetime": l.DateTime,
		"number": func(v any) string {
			n, _ := toInt(v)
			return l.Number(n)
		},
		"size": l.Size,
		"lang": l.Lang,
		"dir":  l.Dir,
	}
}

// PlaceholderFuncs has the names of [Localizer.Funcs], for parsing a
// template before a localizer is known.
func PlaceholderFuncs() template.FuncMap {
	return Builtin().Localizer(Fallback, nil).Funcs()
}

// Key marks a message key that code keeps to look up later (in a form
// error, say) and returns it unchanged; the tests' scan of the source for
// keys in use reads these marks as it reads T calls.
func Key(key string) string { return key }
