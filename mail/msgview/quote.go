package msgview

import (
	"strings"
	"time"
)

// QuoteText quotes text for a reply: each line prefixed with "> ", a
// line that is already quoted with ">" (so "> > a" becomes ">> a" style
// nesting readers recognise), an empty line with ">" alone. Line endings
// become "\n"; trailing empty lines go.
func QuoteText(text string) string {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n \t")
	if text == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		switch {
		case line == "":
			b.WriteString(">\n")
		case strings.HasPrefix(line, ">"):
			b.WriteString(">" + line + "\n")
		default:
			b.WriteString("> " + line + "\n")
		}
	}
	return b.String()
}

// ForwardField is one line of the header block of a forwarded message.
type ForwardField struct {
	// Name is the field's name ("From", "Date", "Subject", "To", "Cc"),
	// a key for the page's message catalogue.
	Name  string
	Value string
}

// ForwardFields returns the fields of the block that introduces a
// forwarded message inline, in the usual order, empty ones left out.
func ForwardFields(h Header, layout string, loc *time.Location) []ForwardField {
	date := h.DateText
	if !h.Date.IsZero() {
		if loc == nil {
			loc = time.UTC
		}
		date = h.Date.In(loc).Format(layout)
	}
	out := []ForwardField{
		{"From", joinAddresses(h.From)},
		{"Date", date},
		{"Subject", h.Subject},
		{"To", joinAddresses(h.To)},
		{"Cc", joinAddresses(h.Cc)},
	}
	return slicesDeleteEmpty(out)
}

func slicesDeleteEmpty(fs []ForwardField) []ForwardField {
	out := fs[:0]
	for _, f := range fs {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinAddresses(as []Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// ReplySubject returns the subject of a reply: "Re: " before the
// original's unless it starts with "Re:" already (RFC 5322 section
// 3.6.5), without the MX's "[External] " tag.
func ReplySubject(subject string) string {
	return prefixed("Re: ", subject)
}

// ForwardSubject returns the subject of a forward: "Fwd: " before it.
func ForwardSubject(subject string) string {
	return prefixed("Fwd: ", subject)
}

func prefixed(prefix, subject string) string {
	s := strings.TrimSpace(subject)
	if len(s) >= len("[External]") && strings.EqualFold(s[:len("[External]")], "[External]") {
		s = strings.TrimSpace(s[len("[External]"):])
	}
	if len(s) >= len(prefix)-1 && strings.EqualFold(s[:len(prefix)-1], prefix[:len(prefix)-1]) {
		return s
	}
	return prefix + s
}

// ReplyReferences returns the In-Reply-To and References of a reply to a
// message with header h (RFC 5322 section 3.6.4): the original's
// Message-ID, and its References (or In-Reply-To) followed by that id.
func ReplyReferences(h Header) (inReplyTo string, references []string) {
	if h.MessageID == "" {
		return "", nil
	}
	refs := h.References
	if len(refs) == 0 && len(h.InReplyTo) == 1 {
		refs = h.InReplyTo
	}
	references = append(append([]string(nil), refs...), h.MessageID)
	return h.MessageID, references
}

// ReplyRecipients returns the recipients of a reply to a message with
// header h (RFC 5322 section 3.6.3): its Reply-To, else its From; for a
// reply to all, its To and Cc go to Cc. Addresses in self (the member's
// own, compared without case) and repeated ones are left out.
func ReplyRecipients(h Header, all bool, self []string) (to, cc []Address) {
	seen := map[string]bool{}
	for _, s := range self {
		seen[strings.ToLower(s)] = true
	}
	add := func(list []Address, into []Address) []Address {
		for _, a := range list {
			k := strings.ToLower(a.Addr)
			if a.Addr == "" || seen[k] {
				continue
			}
			seen[k] = true
			into = append(into, Address{Name: a.Name, Addr: a.Addr})
		}
		return into
	}
	author := h.ReplyTo
	if len(author) == 0 {
		author = h.From
	}
	to = add(author, nil)
	if all {
		cc = add(h.To, nil)
		cc = add(h.Cc, cc)
		if len(to) == 0 && len(cc) > 0 {
			to, cc = cc[:1], cc[1:]
		}
	}
	return to, cc
}
