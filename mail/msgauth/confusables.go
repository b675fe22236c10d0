package msgauth

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// skeleton maps a name or domain to a form in which strings that look
// alike are equal, after the idea of the "skeleton" of Unicode Technical
// Standard #39 section 4, with a small table instead of the full
// confusables.txt (not available offline, and mostly about scripts a
// party's correspondents do not mix with Latin):
//
//  1. compatibility decomposition (NFKD), which also turns fullwidth and
//     mathematical letters, ligatures and superscripts into plain ones;
//  2. marks (diacritics) removed: "Ånna" is "Anna", "exämple" is "example";
//  3. lower case;
//  4. each rune of the table in confusable replaced by the Latin letters
//     it passes for;
//  5. the letter pairs "rn" and "vv" replaced by "m" and "w".
//
// Both sides of a comparison go through skeleton, so the table may map a
// look-alike group to any one of its members (1, i and l all become "l").
func skeleton(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		if unicode.IsMark(r) {
			continue
		}
		r = unicode.ToLower(r)
		if m, ok := confusable(r); ok {
			b.WriteString(m)
			continue
		}
		b.WriteRune(r)
	}
	out := strings.ReplaceAll(b.String(), "rn", "m")
	return strings.ReplaceAll(out, "vv", "w")
}

// confusable returns the Latin letters that the lower-case rune r looks
// like, or false when r stands for itself. The table covers:
//
//   - digits and letters taken for one another: 0 and o; 1, i, l, the
//     dotless ı and | (all "l");
//   - Latin letters with no decomposition, common in members' names
//     (Bjørn, Łukasz, Straße, Ægir, Đorđe, Þóra) and as look-alikes;
//   - Cyrillic letters that look like Latin ones in lower case, the ones
//     homograph domains use (а с ԁ е һ і ј к ӏ м о р ԛ ѕ у х ԝ ь п ѵ);
//   - Greek letters that do (α β ε η ι κ ν ο ρ τ υ χ γ ω ϲ ϳ μ).
//
// Upper-case Cyrillic and Greek look-alikes are caught after lower-casing.
func confusable(r rune) (string, bool) {
	switch r {
	case '0':
		return "o", true
	case '1', 'i', 'ı', 'ɩ', 'ǀ', '|', 'і', 'ӏ', 'ι':
		return "l", true

	// Latin letters without a decomposition.
	case 'ø':
		return "o", true
	case 'đ', 'ð':
		return "d", true
	case 'ł', 'ƚ':
		return "l", true
	case 'ħ':
		return "h", true
	case 'ŧ':
		return "t", true
	case 'æ':
		return "ae", true
	case 'œ':
		return "oe", true
	case 'ß':
		return "ss", true
	case 'þ':
		return "th", true
	case 'ɡ':
		return "g", true
	case 'ɑ', 'а', 'α':
		return "a", true
	case 'ȷ', 'ј', 'ϳ':
		return "j", true

	// Cyrillic.
	case 'с', 'ϲ':
		return "c", true
	case 'ԁ':
		return "d", true
	case 'е', 'ε':
		return "e", true
	case 'һ':
		return "h", true
	case 'к', 'κ':
		return "k", true
	case 'м':
		return "m", true
	case 'о', 'ο':
		return "o", true
	case 'р', 'ρ':
		return "p", true
	case 'ԛ':
		return "q", true
	case 'ѕ':
		return "s", true
	case 'у', 'γ':
		return "y", true
	case 'х', 'χ':
		return "x", true
	case 'ԝ', 'ω':
		return "w", true
	case 'ь', 'β':
		return "b", true
	case 'п', 'η':
		return "n", true
	case 'ѵ', 'ν':
		return "v", true

	// Greek, the rest.
	case 'τ':
		return "t", true
	case 'υ', 'μ':
		return "u", true
	}
	return "", false
}

// damerauLevenshtein returns the optimal-string-alignment distance between
// a and b (insertions, deletions, substitutions and swaps of neighbours,
// counted in runes), or 2 whenever it is more than 1: callers only ask
// whether two names are one typo apart.
func damerauLevenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 1 || d < -1 || len(ra) > 255 || len(rb) > 255 {
		return 2
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], 2)
}
