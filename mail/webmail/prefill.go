package webmail

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/msgview"
)

// Bounds of what a reply or forward carries over.
const (
	maxQuoted = 256 << 10 // bytes of quoted or forwarded text
	maxRefs   = 20        // message ids in References
)

// prefill fills the compose form from the account's message rf, read with
// mail/msgview: for a reply (kind "reply", all for reply all), a forward
// ("forward"; asFile attaches the original whole instead of quoting it)
// or a saved draft ("draft").
func (h *Handler) prefill(ctx context.Context, sess auth.Session, p *composePage, kind string, rf ref, all, asFile bool, sig string) error {
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return err
	}
	if kind == "draft" {
		if _, err := h.ownDraft(ctx, sess, rf); err != nil {
			return err
		}
	}
	v, closer, err := h.view(m)
	if err != nil {
		return err
	}
	defer closer.Close()
	sigBlock := ""
	if sig != "" {
		sigBlock = "\n\n-- \n" + sig
	}
	hdr := v.Header
	switch kind {
	case "reply":
		h.prefillReply(p, hdr, all)
		quote := msgview.QuoteText(textOf(v))
		if quote != "" {
			quote = attribution(p.L, hdr) + "\n" + quote
		}
		p.Body = sigBlock + "\n\n" + quote
	case "forward":
		p.Subject = msgview.ForwardSubject(hdr.Subject)
		if asFile {
			p.Forward, p.Body = rf.String(), sigBlock
			return nil
		}
		var b strings.Builder
		b.WriteString(sigBlock + "\n\n---------- " + p.L.T("webmail.compose.forwarded") + " ----------\n")
		writeForwardFields(&b, p.L, hdr)
		p.Body = b.String() + "\n" + textOf(v)
		p.KeepFrom, p.Kept = rf.String(), keptFromView(p.L, v)
	case "draft":
		p.To, p.Cc, p.Bcc = formatAddrs(hdr.To), formatAddrs(hdr.Cc), formatAddrs(hdr.Bcc)
		p.Subject = hdr.Subject
		if len(hdr.From) > 0 && slices.Contains(p.FromList, hdr.From[0].Addr) {
			p.From = hdr.From[0].Addr
		}
		p.InReplyTo = msgIDs(strings.Join(hdr.InReplyTo, " "))
		p.References = msgIDs(strings.Join(hdr.References, " "))
		p.Body = textOf(v)
		p.Draft, p.KeepFrom, p.Kept = rf.String(), rf.String(), keptFromView(p.L, v)
	}
	return nil
}

// prefillReply addresses a reply (RFC 5322 section 3.6.3, by
// msgview.ReplyRecipients, leaving out the member's own addresses),
// answers from the address the message came to, and threads it (section
// 3.6.4).
func (h *Handler) prefillReply(p *composePage, hdr msgview.Header, all bool) {
	to, cc := msgview.ReplyRecipients(hdr, all, p.FromList)
	p.To, p.Cc = formatAddrs(to), formatAddrs(cc)
	for _, a := range slices.Concat(hdr.To, hdr.Cc) {
		if i := slices.IndexFunc(p.FromList, func(s string) bool { return strings.EqualFold(s, a.Addr) }); i >= 0 {
			p.From = p.FromList[i]
			break
		}
	}
	p.Subject = msgview.ReplySubject(hdr.Subject)
	irt, refs := msgview.ReplyReferences(hdr)
	if len(refs) > maxRefs { // keep the root and the newest (RFC 5322 section 3.6.4)
		refs = append(refs[:1:1], refs[len(refs)-maxRefs+1:]...)
	}
	p.InReplyTo, p.References = msgIDs(irt), msgIDs(strings.Join(refs, " "))
}

// formatAddrs writes addresses for an address field of the form.
func formatAddrs(as []msgview.Address) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		if a.Addr != "" {
			out = append(out, formatAddress(a.Name, a.Addr))
		}
	}
	return strings.Join(out, ", ")
}

// attribution is the line above a quoted reply, in l's language: who
// wrote, and when (in the party's time zone).
func attribution(l *i18n.Localizer, hdr msgview.Header) string {
	from := ""
	if len(hdr.From) > 0 {
		from = hdr.From[0].String()
	}
	return l.T("webmail.compose.wrote", "date", headerDate(l, hdr), "from", from)
}

// headerDate is a message's date as the compose form quotes it: in l's
// language, or as written when it does not parse.
func headerDate(l *i18n.Localizer, hdr msgview.Header) string {
	if hdr.Date.IsZero() {
		return hdr.DateText
	}
	return l.DateTime(hdr.Date)
}

// forwardFieldKeys are the message keys of the names of msgview's
// ForwardFields.
var forwardFieldKeys = map[string]string{
	"From":    i18n.Key("webmail.read.from"),
	"Date":    i18n.Key("webmail.read.date"),
	"Subject": i18n.Key("webmail.compose.subject"),
	"To":      i18n.Key("webmail.compose.to"),
	"Cc":      i18n.Key("webmail.compose.cc"),
}

// writeForwardFields writes the header block of a message forwarded
// inline, its field names and date in l's language.
func writeForwardFields(b *strings.Builder, l *i18n.Localizer, hdr msgview.Header) {
	for _, f := range msgview.ForwardFields(hdr, time.RFC1123Z, nil) {
		name, value := f.Name, f.Value
		if key, ok := forwardFieldKeys[name]; ok {
			name = l.T(key) // i18n:keyed
		}
		if f.Name == "Date" {
			value = headerDate(l, hdr)
		}
		b.WriteString(name + ": " + value + "\n")
	}
}
