package store

import "strings"

// addressFields are the header fields whose addresses SEARCH matches in
// parsed form as well as raw (FROM, TO, CC, BCC; Sender and Reply-To as
// HEADER criteria).
var addressFields = map[string]bool{"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true}

// maxAddrInput bounds the text searchAddresses reads.
const maxAddrInput = maxHeaderValue

// searchAddresses rewrites an address list field (RFC 5322 3.4) as the
// text that SEARCH should find in it: each address as `display name
// <local@domain>`, separated by ", ", with comments removed, quoting
// undone, whitespace around "@" and "." and inside angle brackets
// dropped, route prefixes (`<@route:user@domain>`, RFC 5322 4.4) and group
// names left out. So `<user (comment)@ (comment) domain.org>` becomes
// ` <user@domain.org>`, which SEARCH FROM user@domain.org finds.
//
// It is lenient by design: it never fails, and what does not parse as an
// address is kept as text. It reads at most maxAddrInput bytes.
func searchAddresses(v string) string {
	if len(v) > maxAddrInput {
		v = v[:maxAddrInput]
	}
	var out []string
	for _, a := range splitAddresses(stripComments(v)) {
		if s := normalizeAddress(a); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// stripComments removes RFC 5322 comments (nested parentheses, outside
// quoted strings, with quoted-pairs) from s, leaving a space for each.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth = 1
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitAddresses splits an address list at the commas, colons of group
// names and semicolons that end groups, outside quoted strings and angle
// brackets.
func splitAddresses(s string) []string {
	var out []string
	quoted, angle, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ',' || c == ';':
			out = append(out, s[start:i])
			start = i + 1
		case c == ':':
			start = i + 1 // a group name: drop it
		}
	}
	return append(out, s[start:])
}

// normalizeAddress writes one address as `display name <local@domain>`,
// or just its addr-spec with whitespace removed if it has no angle
// brackets; "" if it is empty.
func normalizeAddress(a string) string {
	a = strings.TrimSpace(a)
	if a == "" {
		return ""
	}
	open := strings.LastIndexByte(a, '<')
	if open < 0 {
		return compactSpec(a)
	}
	spec := a[open+1:]
	if end := strings.IndexByte(spec, '>'); end >= 0 {
		spec = spec[:end]
	}
	if colon := strings.LastIndexByte(spec, ':'); colon >= 0 {
		spec = spec[colon+1:] // obs-route
	}
	return unquote(a[:open]) + " <" + compactSpec(spec) + ">"
}

// compactSpec removes whitespace and quoting from an addr-spec.
func compactSpec(s string) string {
	return strings.Join(strings.Fields(unquote(s)), "")
}

// unquote undoes quoted strings and quoted-pairs and collapses runs of
// whitespace (folding) to one space.
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case c == '"':
		default:
			b.WriteByte(c)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
