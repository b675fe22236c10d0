package i18n

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// dateField is one placeholder of a date pattern.
type dateField uint8

const (
	fieldLiteral dateField = iota
	fieldDay               // {d}
	fieldDay2              // {dd}
	fieldMonth             // {month}
	fieldMonth2            // {mo}
	fieldYear              // {yyyy}
	fieldHour              // {HH}
	fieldMinute            // {min}
	fieldZone              // {zone}
)

var dateFields = map[string]dateField{
	"d": fieldDay, "dd": fieldDay2, "month": fieldMonth, "mo": fieldMonth2,
	"yyyy": fieldYear, "HH": fieldHour, "min": fieldMinute, "zone": fieldZone,
}

type datePart struct {
	field dateField
	lit   string // for fieldLiteral
}

// datePattern is a date pattern split once into its parts, so that
// writing a date (a long list has thousands) allocates only the result.
type datePattern []datePart

// parseDatePattern splits pattern at its placeholders; an unknown
// placeholder stays as text.
func parseDatePattern(pattern string) datePattern {
	var p datePattern
	for pattern != "" {
		i := strings.IndexByte(pattern, '{')
		j := strings.IndexByte(pattern[max(i, 0):], '}')
		if i < 0 || j < 0 {
			p = append(p, datePart{lit: pattern})
			break
		}
		j += i
		if f, ok := dateFields[pattern[i+1:j]]; ok {
			if i > 0 {
				p = append(p, datePart{lit: pattern[:i]})
			}
			p = append(p, datePart{field: f})
		} else {
			p = append(p, datePart{lit: pattern[:j+1]})
		}
		pattern = pattern[j+1:]
	}
	return p
}

// appendDate writes t (already in its zone) by the pattern.
func (p datePattern) appendDate(b []byte, t time.Time, months *[12]string) []byte {
	for _, part := range p {
		switch part.field {
		case fieldLiteral:
			b = append(b, part.lit...)
		case fieldDay:
			b = strconv.AppendInt(b, int64(t.Day()), 10)
		case fieldDay2:
			b = append2(b, t.Day())
		case fieldMonth:
			b = append(b, months[t.Month()-1]...)
		case fieldMonth2:
			b = append2(b, int(t.Month()))
		case fieldYear:
			b = strconv.AppendInt(b, int64(t.Year()), 10)
		case fieldHour:
			b = append2(b, t.Hour())
		case fieldMinute:
			b = append2(b, t.Minute())
		case fieldZone:
			zone, _ := t.Zone()
			if zone == "" || zone[0] == '+' || zone[0] == '-' {
				b = t.AppendFormat(append(b, "UTC"...), "-07:00") // no abbreviation: an offset
			} else {
				b = append(b, zone...)
			}
		}
	}
	return b
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10%10), byte('0'+n%10))
}

// numberFormat is how a language writes numbers, read once from CLDR
// (golang.org/x/text/message): the grouping separator, the smallest
// number that is grouped (Spanish writes 1000 but 10.000), and the
// decimal separator.
type numberFormat struct {
	group    string
	minGroup int64
	decimal  string
}

func newNumberFormat(tag language.Tag) numberFormat {
	p := message.NewPrinter(tag)
	f := numberFormat{group: ",", minGroup: 1000, decimal: "."}
	grouped := func(n int64) (string, bool) {
		s := p.Sprintf("%d", n)
		plain := strconv.FormatInt(n, 10)
		if s == plain {
			return "", false
		}
		head := plain[:len(plain)-3]
		if !strings.HasPrefix(s, head) || !strings.HasSuffix(s, plain[len(head):]) {
			return "", false
		}
		return s[len(head) : len(s)-3], true
	}
	if sep, ok := grouped(1000); ok {
		f.group = sep
	} else if sep, ok := grouped(10000); ok {
		f.group, f.minGroup = sep, 10000
	} else {
		f.group = ""
	}
	if s := p.Sprintf("%.1f", 1.5); len(s) > 2 && strings.HasPrefix(s, "1") && strings.HasSuffix(s, "5") {
		f.decimal = s[1 : len(s)-1]
	}
	return f
}

// appendInt writes n with the language's grouping.
func (f numberFormat) appendInt(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		if n == -n { // the smallest int64
			return append(b, "9223372036854775808"...)
		}
		n = -n
	}
	digits := strconv.FormatInt(n, 10)
	if n < f.minGroup || f.group == "" {
		return append(b, digits...)
	}
	first := len(digits) % 3
	if first == 0 {
		first = 3
	}
	b = append(b, digits[:first]...)
	for i := first; i < len(digits); i += 3 {
		b = append(b, f.group...)
		b = append(b, digits[i:i+3]...)
	}
	return b
}
