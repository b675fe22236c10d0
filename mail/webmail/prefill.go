package webmail

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/store"
)

// Bounds of what a reply or forward carries over.
const (
	maxQuoted = 256 << 10 // bytes of quoted text
	maxRefs   = 20        // message ids in References
)

// prefill fills the compose form for a reply (kind "reply", all for reply
// all), a forward ("forward", asFile to attach the original whole) or a
// saved draft ("draft") of the account's message rf.
func (h *Handler) prefill(ctx context.Context, sess auth.Session, p *composePage, kind string, rf ref, all, asFile bool, sig string) error {
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return err
	}
	env := m.Envelope
	if env == nil {
		env = &imap.Envelope{}
	}
	sigBlock := ""
	if sig != "" {
		sigBlock = "\n\n-- \n" + sig
	}
	switch kind {
	case "reply":
		h.prefillReply(ctx, sess, p, m, env, all)
		p.Body = sigBlock + "\n\n" + quoteText(h.attribution(env), h.bodyText(ctx, m))
	case "forward":
		p.Subject = prefixed("Fwd: ", env.Subject)
		if asFile {
			p.Forward = rf.String()
			p.Body = sigBlock
			return nil
		}
		p.Body = sigBlock + "\n\n" + forwardBlock(env) + capText(h.bodyText(ctx, m))
		p.KeepFrom = rf.String()
		p.Kept = h.keptOf(ctx, sess, rf)
	case "draft":
		if _, err := h.ownDraft(ctx, sess, rf); err != nil {
			return err
		}
		h.prefillDraft(ctx, p, m, env)
		p.Body = h.bodyText(ctx, m)
		p.Draft, p.KeepFrom = rf.String(), rf.String()
		p.Kept = h.keptOf(ctx, sess, rf)
	}
	return nil
}

// prefillReply addresses a reply (RFC 5322 section 3.6.3: to Reply-To if
// there is one, else From; reply all adds the other recipients, less the
// member's own addresses) and threads it (section 3.6.4).
func (h *Handler) prefillReply(ctx context.Context, sess auth.Session, p *composePage, m store.Message, env *imap.Envelope, all bool) {
	own := map[string]bool{}
	for _, a := range p.FromList {
		own[strings.ToLower(a)] = true
	}
	seen := map[string]bool{}
	pick := func(as []imap.Address, skipOwn bool) []string {
		var out []string
		for _, a := range as {
			addr := a.Addr()
			k := strings.ToLower(addr)
			if addr == "" || seen[k] || skipOwn && own[k] {
				continue
			}
			seen[k] = true
			out = append(out, formatAddress(a.Name, addr))
		}
		return out
	}
	to := env.ReplyTo
	if len(to) == 0 {
		to = env.From
	}
	toList := pick(to, false)
	if all {
		toList = append(toList, pick(env.To, true)...)
		p.Cc = strings.Join(pick(env.Cc, true), ", ")
	}
	p.To = strings.Join(toList, ", ")
	for _, a := range append(slices.Clone(env.To), env.Cc...) { // answer from the address it came to
		if own[strings.ToLower(a.Addr())] {
			p.From = a.Addr()
			break
		}
	}
	p.Subject = prefixed("Re: ", env.Subject)
	id := msgIDs("<" + strings.Trim(env.MessageID, "<>") + ">")
	p.InReplyTo = id
	var refs []string
	if hdr, err := h.header(m); err == nil {
		refs = strings.Fields(msgIDs(hdr.First("References")))
		if len(refs) == 0 {
			refs = strings.Fields(msgIDs(hdr.First("In-Reply-To")))
		}
	}
	if id != "" {
		refs = append(refs, id)
	}
	if len(refs) > maxRefs { // keep the root and the newest (RFC 5322 section 3.6.4)
		refs = append(refs[:1], refs[len(refs)-maxRefs+1:]...)
	}
	p.References = strings.Join(refs, " ")
}

// prefillDraft fills the form from a saved draft's envelope and header.
func (h *Handler) prefillDraft(ctx context.Context, p *composePage, m store.Message, env *imap.Envelope) {
	list := func(as []imap.Address) string {
		var out []string
		for _, a := range as {
			if addr := a.Addr(); addr != "" {
				out = append(out, formatAddress(a.Name, addr))
			}
		}
		return strings.Join(out, ", ")
	}
	p.To, p.Cc, p.Bcc = list(env.To), list(env.Cc), list(env.Bcc)
	p.Subject = env.Subject
	if len(env.From) > 0 && slices.Contains(p.FromList, env.From[0].Addr()) {
		p.From = env.From[0].Addr()
	}
	if hdr, err := h.header(m); err == nil {
		p.InReplyTo = msgIDs(hdr.First("In-Reply-To"))
		p.References = msgIDs(hdr.First("References"))
	}
}

// prefixed puts prefix ("Re: ", "Fwd: ") before a subject that does not
// start with it already.
func prefixed(prefix, subject string) string {
	subject = cleanText(subject)
	if strings.HasPrefix(strings.ToLower(subject), strings.ToLower(prefix)) {
		return subject
	}
	return prefix + subject
}

// attribution is the line above a quote.
func (h *Handler) attribution(env *imap.Envelope) string {
	who := fullAddrList(env.From)
	if who == "" {
		who = "someone"
	}
	if env.Date.IsZero() {
		return who + " wrote:"
	}
	return fmt.Sprintf("On %s, %s wrote:", env.Date.Format("2 Jan 2006 at 15:04"), who)
}

// quoteText quotes text for a reply: the attribution, then every line
// with "> " before it (RFC 3676 section 4.5).
func quoteText(attribution, text string) string {
	text = capText(text)
	if text == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(attribution + "\n")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if strings.HasPrefix(line, ">") {
			b.WriteString(">" + line + "\n")
		} else {
			b.WriteString("> " + line + "\n")
		}
	}
	return b.String()
}

// capText bounds quoted or forwarded text.
func capText(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if len(text) > maxQuoted {
		text = strings.ToValidUTF8(text[:maxQuoted], "") + "\n[…]\n"
	}
	return text
}

// forwardBlock is the header block above a forwarded message's text.
func forwardBlock(env *imap.Envelope) string {
	var b strings.Builder
	b.WriteString("---------- Forwarded message ----------\n")
	fmt.Fprintf(&b, "From: %s\n", fullAddrList(env.From))
	if !env.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", longDate(env.Date))
	}
	fmt.Fprintf(&b, "Subject: %s\n", cleanText(env.Subject))
	if to := fullAddrList(env.To); to != "" {
		fmt.Fprintf(&b, "To: %s\n", to)
	}
	if cc := fullAddrList(env.Cc); cc != "" {
		fmt.Fprintf(&b, "Cc: %s\n", cc)
	}
	return b.String() + "\n"
}
