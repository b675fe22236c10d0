package msgauth

import (
	"bytes"
	"strings"

	"github.com/caucus-org/caucus/mail/message"
)

// maxValue bounds a property value or reason in Authentication-Results, so
// that no line of the field comes near the 998-character limit of RFC 5322
// section 2.1.1 whatever a sender puts in its signatures.
const maxValue = 200

// formatAuthResults writes the Authentication-Results header field (RFC
// 8601 section 2.2) for the checks: one resinfo per method, spf with
// smtp.mailfrom or smtp.helo (section 2.7.2), dkim once per signature with
// header.d and header.s (section 2.7.1; "dkim=none" for an unsigned
// message), dmarc with header.from (RFC 7489 section 11.2) and the policy
// in a comment. Each resinfo starts a line; long ones fold between
// properties. Every value that came from the sender is quoted or cleaned,
// so none can add a field or a result.
func formatAuthResults(authservID string, s spfOutcome, sigs []DKIMResult, d dmarcOutcome, fromDomain string) string {
	var infos [][]string

	spfInfo := []string{"spf=" + s.result}
	if s.domain != "" {
		prop := "smtp.mailfrom="
		if s.helo {
			prop = "smtp.helo="
		}
		spfInfo = append(spfInfo, prop+pvalue(s.domain))
	}
	infos = append(infos, spfInfo)

	if len(sigs) == 0 {
		infos = append(infos, []string{"dkim=" + ResultNone})
	}
	for _, sig := range sigs {
		info := []string{"dkim=" + sig.Result}
		if sig.Err != "" {
			info = append(info, "reason="+quoted(sig.Err))
		}
		if sig.Domain != "" {
			info = append(info, "header.d="+pvalue(sig.Domain))
		}
		if sig.Selector != "" {
			info = append(info, "header.s="+pvalue(sig.Selector))
		}
		infos = append(infos, info)
	}

	dinfo := []string{"dmarc=" + d.result}
	if d.reason != "" {
		dinfo = append(dinfo, "reason="+quoted(d.reason))
	}
	if d.record {
		dinfo = append(dinfo, "(p="+d.policy+")")
	}
	if fromDomain != "" {
		dinfo = append(dinfo, "header.from="+pvalue(fromDomain))
	}
	infos = append(infos, dinfo)

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	id := pvalue(authservID)
	if authservID == "" {
		id = "localhost"
	}
	b.WriteString(id)
	for _, info := range infos {
		b.WriteString(";\r\n\t")
		n := 1 // the tab
		for i, part := range info {
			if i > 0 {
				if n+1+len(part) > 78 {
					b.WriteString("\r\n\t  ")
					n = 3
				} else {
					b.WriteByte(' ')
					n++
				}
			}
			b.WriteString(part)
			n += len(part)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// pvalue formats a property value (RFC 8601 section 2.2): as it is when it
// is a token (RFC 2045 section 5.1) such as a domain name, else as a
// quoted string.
func pvalue(s string) string {
	if s == "" || len(s) > maxValue {
		return quoted(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return quoted(s)
		}
	}
	return s
}

// quoted returns s as a quoted-string (RFC 5322 section 3.2.4) of at most
// maxValue characters, printable ASCII only. Semicolons become commas:
// naive readers of the field (go-msgauth's authres among them) split
// resinfos on every semicolon, quoted or not.
func quoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	n := 0
	for i := 0; i < len(s) && n < maxValue; i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ';':
			b.WriteByte(',')
		case c == '\t' || c == '\r' || c == '\n':
			b.WriteByte(' ')
		case c < ' ' || c >= 0x7f:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
		n++
	}
	b.WriteByte('"')
	return b.String()
}

// RemoveAuthResults returns a copy of a message header without the
// Authentication-Results fields that claim to come from authservID: a
// border MTA must not pass on such fields it did not write itself (RFC
// 8601 section 5), or a sender could forge "dkim=pass" in the server's
// name. ARC-Authentication-Results fields (RFC 8617 section 4.1.1, the same
// payload after an "i=" instance) that claim it go too. Call it on
// incoming mail before prepending Result.AuthResults. Fields of other
// authserv-ids stay.
func RemoveAuthResults(header []byte, authservID string) []byte {
	want := normalizeID(authservID)
	fields, blank, rest := message.Split(header)
	out := make([]byte, 0, len(header))
	for _, f := range fields {
		if f.Is("Authentication-Results") && normalizeID(authservIDOf(f.Value())) == want {
			continue
		}
		if f.Is("ARC-Authentication-Results") && normalizeID(authservIDOf(arcPayload(f.Value()))) == want {
			continue
		}
		out = append(out, f.Raw...)
	}
	out = append(out, blank...)
	return append(out, rest...)
}

// arcPayload returns the Authentication-Results payload of an
// ARC-Authentication-Results value: what follows the instance tag and its
// semicolon (RFC 8617 section 4.1.1).
// A semicolon in a comment does not count.
func arcPayload(v string) string {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case ';':
			if depth == 0 {
				return v[i+1:]
			}
		}
	}
	return ""
}

// authservIDOf returns the authserv-id an Authentication-Results value
// starts with (RFC 8601 section 2.2), comments skipped.
func authservIDOf(v string) string {
	for {
		v = strings.TrimLeft(v, " \t")
		if !strings.HasPrefix(v, "(") {
			break
		}
		depth, i := 0, 0
		for ; i < len(v); i++ {
			if v[i] == '\\' {
				i++
				continue
			}
			if v[i] == '(' {
				depth++
			} else if v[i] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
	if end := strings.IndexAny(v, " \t;("); end >= 0 {
		v = v[:end]
	}
	return v
}

func normalizeID(id string) string {
	id = strings.Trim(strings.TrimSpace(id), `"`)
	return strings.ToLower(strings.TrimSuffix(id, "."))
}

// RemoveOwnFindings returns msg, a whole message, without the fields only
// this host's MX writes: Authentication-Results (and ARC-…) that claim
// authservID (see [RemoveAuthResults]) and X-Caucus-Warning (see
// [TagMessage]). Mail that enters without the MX's checks (a member's
// submission) goes through it, so that nobody can hand a reader a forged
// "dkim=pass" in the server's name (RFC 8601 section 5). A header without
// either field is returned as it is, uncopied.
func RemoveOwnFindings(msg []byte, authservID string) []byte {
	end := message.HeaderEnd(msg)
	header := msg[:end]
	lower := bytes.ToLower(header)
	if !bytes.Contains(lower, []byte("authentication-results")) && !bytes.Contains(lower, []byte(strings.ToLower(warningField))) {
		return msg
	}
	h := TagMessage(RemoveAuthResults(header, authservID), Verdict{})
	return append(h, msg[end:]...)
}
