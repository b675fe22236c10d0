package msgview

import (
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
)

// CSS is kept without anything that fetches: no url(), no image-set() or
// other image function, no @import, @font-face or any at-rule but @media
// and @supports, no expression() or binding (old IE and Firefox ran
// script from CSS). The text is first decoded as a browser tokenizes it
// (CSS Syntax Level 3 section 4.3.7: escapes; comments removed), checked
// in that form, and written in that form without any backslash, so the
// browser reads what was checked: "u\72l(" is the url( it is.

// allowedFunctions are the CSS functions a declaration may use: colours,
// arithmetic, gradients, transforms, timing.
var allowedFunctions = map[string]bool{
	"rgb": true, "rgba": true, "hsl": true, "hsla": true, "hwb": true,
	"lab": true, "lch": true, "oklab": true, "oklch": true, "color-mix": true,
	"calc": true, "min": true, "max": true, "clamp": true, "var": true,
	"linear-gradient": true, "radial-gradient": true, "conic-gradient": true,
	"repeating-linear-gradient": true, "repeating-radial-gradient": true,
	"repeating-conic-gradient": true, "rotate": true, "rotatex": true,
	"rotatey": true, "rotatez": true, "translate": true, "translatex": true,
	"translatey": true, "scale": true, "scalex": true, "scaley": true,
	"skew": true, "skewx": true, "skewy": true, "matrix": true,
	"cubic-bezier": true, "steps": true, "counter": true, "counters": true,
	"rect": true, "inset": true, "circle": true, "ellipse": true,
	"minmax": true, "repeat": true, "fit-content": true, "blur": true,
	"brightness": true, "contrast": true, "drop-shadow": true,
	"grayscale": true, "opacity": true, "saturate": true, "sepia": true,
	"not": true, "is": true, "where": true, "nth-child": true,
	"nth-of-type": true, "nth-last-child": true, "nth-last-of-type": true,
	"lang": true, "dir": true,
}

// fetchingFunctions are the functions that load a resource; a
// declaration using one counts as blocked remote content.
var fetchingFunctions = map[string]bool{
	"url": true, "image-set": true, "-webkit-image-set": true, "image": true,
	"cross-fade": true, "-webkit-cross-fade": true, "element": true,
	"-moz-element": true, "src": true, "paint": true,
}

// deniedProperties ran script or bound behaviours in old browsers, or
// show text in another order than it is written (unicode-bidi:
// bidi-override reverses a link's text).
var deniedProperties = map[string]bool{
	"behavior": true, "-ms-behavior": true, "-moz-binding": true,
	"-webkit-binding": true, "binding": true, "unicode-bidi": true,
}

// maxCSSNesting bounds @media/@supports nesting in a style sheet.
const maxCSSNesting = 4

// decodeCSS returns css as the browser's tokenizer reads it: comments
// removed, escapes resolved, and then no backslash, no "<" (which could
// end a <style> element) and no control character left.
func decodeCSS(css string) string {
	if plainCSS(css) {
		return css
	}
	var b strings.Builder
	b.Grow(len(css))
	for i := 0; i < len(css); {
		c := css[i]
		switch {
		case c == '/' && i+1 < len(css) && css[i+1] == '*':
			end := strings.Index(css[i+2:], "*/")
			if end < 0 {
				return clean(b.String())
			}
			i += 2 + end + 2
			b.WriteByte(' ')
		case c == '\\':
			r, n := cssEscape(css[i+1:])
			if r >= 0 {
				b.WriteRune(r)
			}
			i += 1 + n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return clean(b.String())
}

// plainCSS reports whether decodeCSS would leave css as it is: no
// escape, comment, "<", DEL or control character.
func plainCSS(css string) bool {
	for i := 0; i < len(css); i++ {
		switch c := css[i]; {
		case c == '\\' || c == '<' || c == 0x7f || c < ' ':
			return false
		case c == '/' && i+1 < len(css) && css[i+1] == '*':
			return false
		}
	}
	return true
}

// cssEscape decodes the escape after a backslash (CSS Syntax section
// 4.3.7): up to six hex digits and one white space, or one character. A
// backslash before a newline is removed (r < 0).
func cssEscape(s string) (r rune, n int) {
	if s == "" {
		return -1, 0
	}
	if s[0] == '\n' || s[0] == '\r' || s[0] == '\f' {
		return -1, 1
	}
	for n < 6 && n < len(s) && isHex(s[n]) {
		r = r<<4 | rune(unhex(s[n]))
		n++
	}
	if n == 0 {
		r, n = utf8.DecodeRuneInString(s)
		return r, n
	}
	if n < len(s) && (s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || s[n] == '\f') {
		n++
	} else if n+1 < len(s) && s[n] == '\r' && s[n+1] == '\n' {
		n += 2
	}
	if r == 0 || r > utf8.MaxRune || r >= 0xD800 && r <= 0xDFFF {
		r = utf8.RuneError
	}
	return r, n
}

// clean drops what may not reach the output of decodeCSS, and breaks a
// "/*" that escapes made, which the browser would take for a comment.
func clean(s string) string {
	s = strings.ReplaceAll(s, "/*", "/ *")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\\' || r == '<' || r == 0x7f:
			return -1
		case r < ' ':
			return ' '
		}
		return r
	}, s)
}

// sanitizeDeclarations sanitizes a declaration list (a style attribute,
// or a rule's block), returning what is kept and how many declarations
// went for fetching something.
func sanitizeDeclarations(css string) (string, int) {
	return keepDeclarations(decodeCSS(css))
}

// keepDeclarations is sanitizeDeclarations on decoded CSS.
func keepDeclarations(css string) (string, int) {
	var out strings.Builder
	blocked := 0
	for d := range topParts(css, ';') {
		name, value, ok := strings.Cut(d, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !isCSSName(name) || deniedProperties[name] || value == "" || strings.ContainsAny(value, "{}") {
			continue
		}
		if ok, fetch := functionsAllowed(value); !ok {
			if fetch {
				blocked++
			}
			continue
		}
		if strings.Contains(strings.ToLower(value), "expression") {
			continue
		}
		if out.Len() == 0 {
			out.Grow(len(css) + 8)
		} else {
			out.WriteString("; ")
		}
		out.WriteString(name)
		out.WriteString(": ")
		out.WriteString(value)
	}
	return out.String(), blocked
}

// isCSSName reports whether s is a property name: letters and hyphens.
func isCSSName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// functionsAllowed reports whether every function in a decoded value or
// selector is allowed, and whether one that is not would fetch. The
// name of a fetching function followed by "(" is refused anywhere;
// otherwise strings are skipped.
func functionsAllowed(v string) (ok, fetch bool) {
	if strings.IndexByte(v, '(') < 0 {
		return true, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '(' {
			continue
		}
		j := i
		for j > 0 && isIdentByte(v[j-1]) {
			j--
		}
		ident := strings.ToLower(v[j:i])
		for name := range fetchingFunctions {
			if strings.HasSuffix(ident, name) {
				// Even in a string or after other characters: no
				// reader's idea of where a string or a name ends
				// may decide whether a fetch happens.
				return false, true
			}
		}
	}
	ok = true
	start := -1
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\'':
			end := strings.IndexByte(v[i+1:], c)
			if end < 0 {
				return false, false // an unterminated string: drop
			}
			i += end + 1
			start = -1
		case c == '(':
			if start >= 0 {
				name := strings.ToLower(v[start:i])
				if fetchingFunctions[name] {
					return false, true
				}
				if !allowedFunctions[name] {
					ok = false
				}
			}
			start = -1
		case isIdentByte(c):
			if start < 0 {
				start = i
			}
		default:
			start = -1
		}
	}
	return ok, false
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 0x80
}

// splitTop splits s at sep outside strings, parentheses and braces.
func splitTop(s string, sep byte) []string {
	return slices.Collect(topParts(s, sep))
}

// topParts yields the parts of s between seps outside strings,
// parentheses and braces (splitTop without the slice).
func topParts(s string, sep byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		depth, last := 0, 0
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case '"', '\'':
				if end := strings.IndexByte(s[i+1:], c); end >= 0 {
					i += end + 1
				} else {
					i = len(s)
				}
			case '(', '{', '[':
				depth++
			case ')', '}', ']':
				depth = max(depth-1, 0)
			case sep:
				if depth == 0 {
					if !yield(s[last:i]) {
						return
					}
					last = i + 1
				}
			}
		}
		if last < len(s) {
			yield(s[last:])
		}
	}
}

// sanitizeStylesheet sanitizes the text of a <style> element: style
// rules with their declarations sanitized, @media and @supports with
// their rules, nothing else.
func sanitizeStylesheet(css string) (string, int) {
	var b strings.Builder
	blocked := keepRules(&b, decodeCSS(css), 0)
	return b.String(), blocked
}

// keepRules writes the rules of decoded CSS that may stay.
func keepRules(b *strings.Builder, css string, nesting int) int {
	blocked := 0
	for css != "" {
		prelude, block, rest, braced := nextRule(css)
		css = rest
		prelude = strings.TrimSpace(prelude)
		if prelude == "" && !braced {
			continue
		}
		if strings.HasPrefix(prelude, "@") {
			blocked += keepAtRule(b, prelude, block, braced, nesting)
			continue
		}
		if !braced || strings.ContainsAny(prelude, "{}") || strings.Contains(strings.ToLower(prelude), "caucus") {
			continue // no rule may reach caucus's own marks
		}
		if ok, fetch := functionsAllowed(prelude); !ok {
			if fetch {
				blocked++
			}
			continue
		}
		decls, n := keepDeclarations(block)
		blocked += n
		if decls != "" {
			b.WriteString(prelude + " { " + decls + " }\n")
		}
	}
	return blocked
}

// keepAtRule writes an @media or @supports rule with its rules kept, and
// counts an @import or @font-face (which fetch) as blocked.
func keepAtRule(b *strings.Builder, prelude, block string, braced bool, nesting int) int {
	name := strings.ToLower(prelude)
	if i := strings.IndexAny(name, " \t\n("); i >= 0 {
		name = name[:i]
	}
	switch name {
	case "@import", "@font-face":
		return 1
	case "@media", "@supports":
		if !braced || nesting >= maxCSSNesting {
			return 0
		}
		if ok, fetch := functionsAllowed(strings.TrimPrefix(strings.ToLower(prelude), name)); !ok || fetch {
			if fetch {
				return 1
			}
			return 0
		}
		var inner strings.Builder
		n := keepRules(&inner, block, nesting+1)
		if inner.Len() > 0 {
			b.WriteString(prelude + " {\n" + inner.String() + "}\n")
		}
		return n
	}
	if strings.Contains(block, "url(") || strings.Contains(prelude, "url(") {
		return 1
	}
	return 0
}

// nextRule cuts the first rule from decoded CSS: its prelude and, when it
// has one (braced), its block without the braces. An at-rule without a
// block ends at its semicolon.
func nextRule(css string) (prelude, block, rest string, braced bool) {
	for i := 0; i < len(css); i++ {
		switch c := css[i]; c {
		case '"', '\'':
			end := strings.IndexByte(css[i+1:], c)
			if end < 0 {
				return css, "", "", false
			}
			i += end + 1
		case ';':
			return css[:i], "", css[i+1:], false
		case '{':
			end := matchBrace(css, i)
			if end < 0 {
				return css[:i], css[i+1:], "", true
			}
			return css[:i], css[i+1 : end], css[end+1:], true
		case '}':
			return css[:i], "", css[i+1:], false // a stray brace
		}
	}
	return css, "", "", false
}

// matchBrace returns the index of the brace that closes the one at open,
// -1 if none does.
func matchBrace(css string, open int) int {
	depth := 0
	for i := open; i < len(css); i++ {
		switch c := css[i]; c {
		case '"', '\'':
			end := strings.IndexByte(css[i+1:], c)
			if end < 0 {
				return -1
			}
			i += end + 1
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
