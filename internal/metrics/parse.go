package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxParse is the largest exposition [Parse] reads, in bytes.
const MaxParse = 16 << 20

// ErrSyntax reports an exposition that does not follow the text format.
var ErrSyntax = errors.New("metrics: exposition syntax")

// Family is one metric family of a parsed exposition.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Sample is one line of a family: name (for histograms with the _bucket,
// _sum or _count suffix), labels, value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Value returns the value of the sample named name whose labels are
// exactly the given name, value pairs, and whether there is one.
func (f Family) Value(name string, labelPairs ...string) (float64, bool) {
	for _, s := range f.Samples {
		if s.Name != name || len(s.Labels)*2 != len(labelPairs) {
			continue
		}
		match := true
		for i := 0; i+1 < len(labelPairs); i += 2 {
			if v, ok := s.Labels[labelPairs[i]]; !ok || v != labelPairs[i+1] {
				match = false
			}
		}
		if match {
			return s.Value, true
		}
	}
	return 0, false
}

// Parse reads an exposition in the text format, version 0.0.4, strictly:
// every line must be a comment, a HELP or TYPE line, or a sample; a TYPE
// comes before its family's samples, and at most once; a family's samples
// are contiguous; no series appears twice; a histogram's buckets have an
// le label, are cumulative, and end in a +Inf bucket equal to its _count.
// Every error matches [ErrSyntax] and names the line.
func Parse(data []byte) ([]Family, error) {
	if len(data) > MaxParse {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrSyntax, MaxParse)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%w: no line feed at the end", ErrSyntax)
	}
	p := parser{byName: map[string]int{}, seen: map[string]bool{}}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if len(data) == 0 {
			break
		}
		if err := p.line(line); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, i+1, err)
		}
	}
	for _, f := range p.fams {
		if f.Type == "histogram" {
			if err := checkHistogram(f); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrSyntax, f.Name, err)
			}
		}
	}
	return p.fams, nil
}

type parser struct {
	fams    []Family
	byName  map[string]int  // family name → index in fams
	seen    map[string]bool // series already read: name and labels
	current string          // family of the last sample
	help    map[string]bool
}

func (p *parser) family(name string) *Family {
	i, ok := p.byName[name]
	if !ok {
		p.fams = append(p.fams, Family{Name: name, Type: "untyped"})
		i = len(p.fams) - 1
		p.byName[name] = i
	}
	return &p.fams[i]
}

func (p *parser) line(line string) error {
	switch {
	case line == "":
		return nil
	case strings.HasPrefix(line, "#"):
		fields := strings.SplitN(strings.TrimLeft(line[1:], " \t"), " ", 3)
		if len(fields) < 2 || (fields[0] != "HELP" && fields[0] != "TYPE") {
			return nil // a plain comment
		}
		name := fields[1]
		if !validName(name, true) {
			return fmt.Errorf("bad metric name %q", name)
		}
		_, known := p.byName[name]
		f := p.family(name)
		if fields[0] == "TYPE" {
			if known && (f.Type != "untyped" || len(f.Samples) > 0) {
				return fmt.Errorf("TYPE of %s after its samples or twice", name)
			}
			typ := ""
			if len(fields) == 3 {
				typ = fields[2]
			}
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return fmt.Errorf("unknown type %q", typ)
			}
			f.Type = typ
			return nil
		}
		if p.help == nil {
			p.help = map[string]bool{}
		}
		if p.help[name] {
			return fmt.Errorf("second HELP for %s", name)
		}
		p.help[name] = true
		if len(fields) == 3 {
			h, err := unescape(fields[2], false)
			if err != nil {
				return err
			}
			f.Help = h
		}
		return nil
	}
	s, rest, err := parseSample(line)
	if err != nil {
		return err
	}
	fam := s.Name
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base := strings.TrimSuffix(s.Name, suf)
		if i, ok := p.byName[base]; ok && base != s.Name && (p.fams[i].Type == "histogram" || p.fams[i].Type == "summary") {
			fam = base
		}
	}
	if fam != p.current {
		if f, ok := p.byName[fam]; ok && len(p.fams[f].Samples) > 0 {
			return fmt.Errorf("samples of %s are not together", fam)
		}
		p.current = fam
	}
	key := s.Name + "{"
	names := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		key += k + "=" + strconv.Quote(s.Labels[k]) + ","
	}
	if p.seen[key] {
		return fmt.Errorf("series %s} appears twice", key)
	}
	p.seen[key] = true
	if rest != "" {
		if _, err := strconv.ParseInt(rest, 10, 64); err != nil {
			return fmt.Errorf("bad timestamp %q", rest)
		}
	}
	f := p.family(fam)
	f.Samples = append(f.Samples, s)
	return nil
}

// parseSample reads `name{labels} value [timestamp]`; rest is the
// timestamp, if any.
func parseSample(line string) (s Sample, rest string, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return s, "", fmt.Errorf("sample without value")
	}
	s.Name, line = line[:i], line[i:]
	if !validName(s.Name, true) {
		return s, "", fmt.Errorf("bad metric name %q", s.Name)
	}
	s.Labels = map[string]string{}
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " \t")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				return s, "", fmt.Errorf("label without '='")
			}
			name := strings.TrimSpace(line[:eq])
			if !validName(name, false) {
				return s, "", fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, "", fmt.Errorf("label %s twice", name)
			}
			line = strings.TrimLeft(line[eq+1:], " \t")
			if !strings.HasPrefix(line, `"`) {
				return s, "", fmt.Errorf("label %s: value not quoted", name)
			}
			end := 1
			for ; end < len(line) && line[end] != '"'; end++ {
				if line[end] == '\\' {
					end++
				}
			}
			if end >= len(line) {
				return s, "", fmt.Errorf("label %s: unterminated value", name)
			}
			v, err := unescape(line[1:end], true)
			if err != nil {
				return s, "", err
			}
			s.Labels[name] = v
			line = strings.TrimLeft(line[end+1:], " \t")
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				return s, "", fmt.Errorf("labels: want ',' or '}'")
			}
		}
	}
	fields := strings.Fields(line)
	if len(fields) < 1 || len(fields) > 2 || (line != "" && line[0] != ' ' && line[0] != '\t') {
		return s, "", fmt.Errorf("want a value and at most a timestamp after the labels")
	}
	if s.Value, err = parseValue(fields[0]); err != nil {
		return s, "", err
	}
	if len(fields) == 2 {
		rest = fields[1]
	}
	return s, rest, nil
}

func parseValue(v string) (float64, error) {
	switch v {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if strings.ContainsAny(v, "_xXpPiInN") { // no Go literal syntax, no other spellings of Inf/NaN
		return 0, fmt.Errorf("bad value %q", v)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", v)
	}
	return f, nil
}

// unescape undoes \\ and \n, and in label values \".
func unescape(s string, quote bool) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch {
		case i == len(s):
			return "", fmt.Errorf("escape at the end of %q", s)
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		case s[i] == '"' && quote:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// checkHistogram checks each series of a histogram: buckets with le,
// cumulative, a +Inf bucket equal to _count, and a _sum.
func checkHistogram(f Family) error {
	type group struct {
		les     []float64
		counts  []float64
		count   float64
		hasSum  bool
		hasCnt  bool
		nameKey string
	}
	groups := map[string]*group{}
	keyOf := func(l map[string]string) string {
		var ks []string
		for k, v := range l {
			if k != "le" {
				ks = append(ks, k+"="+strconv.Quote(v))
			}
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	for _, s := range f.Samples {
		k := keyOf(s.Labels)
		g := groups[k]
		if g == nil {
			g = &group{nameKey: k}
			groups[k] = g
		}
		switch s.Name {
		case f.Name + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return errors.New("bucket without le")
			}
			v, err := parseValue(le)
			if err != nil {
				return fmt.Errorf("bucket le: %w", err)
			}
			g.les, g.counts = append(g.les, v), append(g.counts, s.Value)
		case f.Name + "_sum":
			g.hasSum = true
		case f.Name + "_count":
			g.hasCnt, g.count = true, s.Value
		default:
			return fmt.Errorf("sample %s in a histogram", s.Name)
		}
		if _, ok := s.Labels["le"]; ok && s.Name != f.Name+"_bucket" {
			return fmt.Errorf("le label on %s", s.Name)
		}
	}
	for _, g := range groups {
		if !g.hasSum || !g.hasCnt || len(g.les) == 0 {
			return fmt.Errorf("series {%s}: needs buckets, _sum and _count", g.nameKey)
		}
		if !slices.IsSorted(g.les) || !slices.IsSorted(g.counts) {
			return fmt.Errorf("series {%s}: buckets not ascending and cumulative", g.nameKey)
		}
		if last := len(g.les) - 1; !math.IsInf(g.les[last], 1) || g.counts[last] != g.count {
			return fmt.Errorf("series {%s}: +Inf bucket missing or not equal to _count", g.nameKey)
		}
	}
	return nil
}
