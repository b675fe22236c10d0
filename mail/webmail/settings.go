package webmail

import (
	"context"
	"errors"
	"net/http"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/store"
)

// settingsPage is the data of the webmail settings page.
type settingsPage struct {
	ui.Base
	Boxes     []boxView
	Signature string
	Max       int
	Query     string
}

// settings shows the member's webmail settings: the signature.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	sig, err := h.d.Store.Signature(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	all, err := h.d.Store.Mailboxes(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.d.Login.Localizer(r)
	h.render(w, r, "settings", settingsPage{Base: h.ui(r, sess, l, l.T("webmail.settings.title")), Boxes: boxes(l, all, 0), Signature: sig, Max: store.MaxSignature})
}

// saveSettings stores the signature.
func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	sig := r.PostFormValue("signature")
	if len(sig) > store.MaxSignature {
		h.badRequest(w, r, h.d.Login.Localizer(r).T("webmail.settings.too_long"))
		return
	}
	if err := h.d.Store.SetSignature(r.Context(), sess.Account.ID, sig); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, withNotice("/mail/settings", "settings"), http.StatusSeeOther)
}

// phish reports a message as phishing in one click: it is forwarded,
// whole and unchanged, as a message/rfc822 attachment (RFC 2046 section
// 5.2.1) to the party's postmaster, whom mail/route delivers to the
// admins, through mail/submit like any message the member sends; then it
// is moved to Junk.
func (h *Handler) phish(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mb, m, ok := h.messageParam(w, r, sess)
	if !ok {
		return
	}
	ctx := r.Context()
	domains := h.d.Submit.OwnDomains()
	if len(domains) == 0 {
		h.fail(w, r, errors.New("webmail: no mail domain"))
		return
	}
	att, err := h.forwardAttachment(ctx, sess, ref{mb.ID, m.UID}.String())
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	// The report is written to the admins, in the party's language.
	pl := h.d.Login.Party().Localizer()
	subject := pl.T("webmail.no_subject")
	if m.Envelope != nil && m.Envelope.Subject != "" {
		subject = cleanText(m.Envelope.Subject)
	}
	d := &draft{
		From: sess.Account.Login, FromName: sess.Account.DisplayName,
		To:      "postmaster@" + domains[0],
		Subject: pl.T("webmail.phish.subject", "subject", subject),
		Body:    pl.T("webmail.phish.body", "login", sess.Account.Login),
		Attach:  []attachment{att},
	}
	if err := h.deliver(ctx, r, sess, d); err != nil {
		l := h.d.Login.Localizer(r)
		msg := sentence(l, err)
		if msg == "" {
			h.fail(w, r, err)
			return
		}
		h.badRequest(w, r, l.T("webmail.phish.failed", "reason", msg))
		return
	}
	h.recordReport(ctx, sess, m.Envelope)
	if h.d.Audit != nil {
		msgID := ""
		if m.Envelope != nil {
			msgID = cleanText(m.Envelope.MessageID)
		}
		err := h.d.Audit.Record(ctx, audit.Event{Actor: sess.Account.Login, Subject: sess.Account.Login, Kind: "mail.phish-report",
			Detail: "message_id=" + msgID, Addr: iweb.ClientAddr(r).String(), UserAgent: r.UserAgent()})
		if err != nil {
			h.log.Warn("webmail: audit", "err", err)
		}
	}
	// A role mailbox's message stays (shared.go: nobody with access may
	// move it); the admins remove it everywhere from the console.
	if mb.Attr != imap.MailboxAttrJunk && !store.IsRoleOwner(mb.AccountID) {
		if err := h.move(ctx, sess, mb, []imap.UID{m.UID}, "Junk"); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	http.Redirect(w, r, withNotice(boxHref(mb.ID), "reported"), http.StatusSeeOther)
}

// recordReport keeps a phishing report for the console, where an admin
// can block the sender and remove the message from every mailbox. The
// report mail has gone already; a failure here is logged, not shown.
func (h *Handler) recordReport(ctx context.Context, sess auth.Session, env *imap.Envelope) {
	if h.d.Reports == nil || env == nil {
		return
	}
	r := phish.Report{Reporter: sess.Account.Login, MessageID: cleanText(env.MessageID), Subject: cleanText(env.Subject)}
	if len(env.From) > 0 {
		r.Sender, r.SenderName = env.From[0].Addr(), cleanText(env.From[0].Name)
	}
	if err := h.d.Reports.Record(ctx, r); err != nil {
		h.log.Warn("webmail: phishing report", "err", err)
	}
}
