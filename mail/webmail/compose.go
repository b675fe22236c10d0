package webmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// composePage is the data of the compose form.
type composePage struct {
	ui.Base
	Boxes      []boxView
	FromList   []string
	From       string
	To, Cc     string
	Bcc        string
	Subject    string
	Body       string
	InReplyTo  string
	References string
	Draft      string // "mb/uid" of the saved draft this edits, or ""
	Forward    string // "mb/uid" of a message attached as message/rfc822, or ""
	KeepFrom   string // "mb/uid" of the message whose attachments Kept lists
	Kept       []keptView
	Query      string
	Autosave   int64 // milliseconds between automatic saves
}

// keptView is an attachment carried over from a saved draft or a
// forwarded message (KeepFrom): the form sends its part id back to keep
// it.
type keptView struct {
	ID   string `json:"id"` // part id, "2"
	Name string `json:"name"`
	Size string `json:"size"`
}

// autosaved is the answer to the page script's automatic draft saving:
// the new draft, whose attachments the form now keeps.
type autosaved struct {
	Draft   string     `json:"draft"`
	Message string     `json:"message"`
	Kept    []keptView `json:"kept"`
}

// ref is a message named in a form or a query as "mb/uid".
type ref struct {
	MB  int64
	UID imap.UID
}

func (r ref) String() string { return fmt.Sprintf("%d/%d", r.MB, r.UID) }

// parseRef parses "mb/uid"; ok is false for anything else.
func parseRef(s string) (ref, bool) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return ref{}, false
	}
	mb, err1 := strconv.ParseInt(a, 10, 64)
	uid, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || mb <= 0 || uid == 0 {
		return ref{}, false
	}
	return ref{mb, imap.UID(uid)}, true
}

// sendAs lists the addresses the account may send as, the first its own
// (mail/route's MaySendAs: its address, its aliases, its groups'
// addresses; the role mailboxes it may send as). mail/submit checks again
// when it sends.
func (h *Handler) sendAs(ctx context.Context, acct auth.Account) ([]string, error) {
	out := []string{acct.Login}
	if h.d.Aliases != nil {
		al, err := h.d.Aliases.Aliases(ctx, acct.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, al...)
	}
	groups, err := h.d.Accounts.GroupsOf(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, d := range h.d.Submit.OwnDomains() {
			out = append(out, g+"@"+d)
		}
	}
	if h.d.Shared != nil { // role mailboxes with send-as (shared.go)
		grants, err := h.d.Shared.GrantsOf(ctx, acct.ID)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			if g.SendAs {
				out = append(out, g.Role.Address)
			}
		}
	}
	return slices.Compact(out), nil
}

// composeForm fills the form's common fields for the session.
func (h *Handler) composeForm(ctx context.Context, r *http.Request, sess auth.Session) (composePage, error) {
	l := h.d.Login.Localizer(r)
	p := composePage{Base: h.ui(r, sess, l, l.T("webmail.compose.title")), Autosave: h.autosave.Milliseconds()}
	var err error
	if p.FromList, err = h.sendAs(ctx, sess.Account); err != nil {
		return p, err
	}
	p.From = p.FromList[0]
	all, err := h.d.Store.Mailboxes(ctx, sess.Account.ID)
	if err != nil {
		return p, err
	}
	p.Boxes = boxes(l, all, 0)
	return p, nil
}

// compose shows the compose form: empty (?to= fills To), or for a reply
// (?reply=mb/uid, &all=1 for all), a forward (?forward=mb/uid, &as=file
// to attach the original), or a saved draft (?draft=mb/uid).
func (h *Handler) compose(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx := r.Context()
	p, err := h.composeForm(ctx, r, sess)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	sig, err := h.d.Store.Signature(ctx, sess.Account.ID)
	if err != nil {
		h.log.Warn("webmail: signature", "err", err)
	}
	if sig != "" {
		p.Body = "\n\n-- \n" + sig
	}
	p.To = oneLine(q.Get("to"))
	for _, k := range []string{"reply", "forward", "draft"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		rf, ok := parseRef(v)
		if !ok {
			h.notFound(w, r)
			return
		}
		if err := h.prefill(ctx, sess, &p, k, rf, q.Get("all") == "1", q.Get("as") == "file", sig); err != nil {
			h.storeError(w, r, err)
			return
		}
		break
	}
	h.render(w, r, "compose", p)
}

// send takes the compose form (multipart/form-data): do=save keeps it as
// a draft, do=send sends it through mail/submit, files a copy in Sent and
// drops the draft it came from.
func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	if err := r.ParseMultipartForm(4 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.badRequest(w, r, h.d.Login.Localizer(r).T("webmail.err.form_too_large", "mb", MaxCompose>>20))
			return
		}
		h.badRequest(w, r, "")
		return
	}
	defer r.MultipartForm.RemoveAll()
	if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
		iweb.Error(w, r, http.StatusForbidden)
		return
	}
	ctx := r.Context()
	d, old, err := h.readDraft(ctx, r, sess)
	if err != nil {
		h.composeError(w, r, sess, d, old, err)
		return
	}
	if r.PostFormValue("do") == "save" {
		h.saveDraft(w, r, sess, d, old)
		return
	}
	if err := h.deliver(ctx, r, sess, d); err != nil {
		h.composeError(w, r, sess, d, old, err)
		return
	}
	if old != nil {
		h.dropDraft(ctx, sess, *old)
	}
	in, err := h.d.Store.Mailbox(ctx, sess.Account.ID, "INBOX")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, withNotice(boxHref(in.ID), "sent"), http.StatusSeeOther)
}

// readDraft reads the form into a draft: the fields, the uploaded files,
// the forwarded message, the attachments kept from a saved draft. old is
// the saved draft this replaces, if it is one of the account's drafts.
func (h *Handler) readDraft(ctx context.Context, r *http.Request, sess auth.Session) (*draft, *ref, error) {
	f := r.PostFormValue
	d := &draft{
		From: strings.TrimSpace(f("from")), FromName: sess.Account.DisplayName,
		To: f("to"), Cc: f("cc"), Bcc: f("bcc"), Subject: f("subject"), Body: f("body"),
		InReplyTo: msgIDs(f("inreplyto")), References: msgIDs(f("references")),
	}
	var old *ref
	if v := f("draft"); v != "" {
		rf, ok := parseRef(v)
		if !ok {
			return d, nil, formError(i18n.Key("webmail.err.draft_gone"))
		}
		if _, err := h.ownDraft(ctx, sess, rf); err != nil {
			return d, nil, err
		}
		old = &rf
	}
	if v := f("forward"); v != "" {
		a, err := h.forwardAttachment(ctx, sess, v)
		if err != nil {
			return d, old, err
		}
		d.Attach = append(d.Attach, a)
	}
	kept, err := h.keptAttachments(ctx, sess, f("keepfrom"), r.PostForm["keep"])
	if err != nil {
		return d, old, err
	}
	d.Attach = append(d.Attach, kept...)
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["attach"] {
			a, err := readUpload(fh)
			if err != nil {
				return d, old, err
			}
			d.Attach = append(d.Attach, a)
		}
	}
	return d, old, d.check()
}

// readUpload reads one uploaded file of the form.
func readUpload(fh *multipart.FileHeader) (attachment, error) {
	f, err := fh.Open()
	if err != nil {
		return attachment{}, fmt.Errorf("webmail: upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCompose+1))
	if err != nil {
		return attachment{}, fmt.Errorf("webmail: upload: %w", err)
	}
	return attachment{Name: fh.Filename, Type: fh.Header.Get("Content-Type"), Data: data}, nil
}

// forwardAttachment reads the account's message named by v ("mb/uid") as
// a message/rfc822 attachment.
func (h *Handler) forwardAttachment(ctx context.Context, sess auth.Session, v string) (attachment, error) {
	rf, ok := parseRef(v)
	if !ok {
		return attachment{}, store.ErrNoMessage
	}
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return attachment{}, err
	}
	raw, err := h.rawMessage(m)
	if err != nil {
		return attachment{}, err
	}
	name := "message.eml"
	if m.Envelope != nil && m.Envelope.Subject != "" {
		name = cleanText(m.Envelope.Subject) + ".eml"
	}
	return attachment{Name: name, Type: "message/rfc822", Data: raw}, nil
}

// rawMessage reads a stored message whole, up to MaxCompose.
func (h *Handler) rawMessage(m store.Message) ([]byte, error) {
	if m.Size > MaxCompose {
		return nil, formError(i18n.Key("webmail.err.forward_too_large"), "mb", MaxCompose>>20)
	}
	rc, err := h.d.Store.OpenBody(m.Blob)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, MaxCompose))
}

// ownDraft returns the account's draft rf: a message with \Draft in the
// account's Drafts; anything else is [store.ErrNoMessage].
func (h *Handler) ownDraft(ctx context.Context, sess auth.Session, rf ref) (store.Message, error) {
	mb, err := h.d.Store.AccountMailbox(ctx, sess.Account.ID, rf.MB)
	if err != nil {
		return store.Message{}, err
	}
	if mb.Attr != imap.MailboxAttrDrafts {
		return store.Message{}, store.ErrNoMessage
	}
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return m, err
	}
	if !slices.Contains(m.Flags, imap.FlagDraft) {
		return m, store.ErrNoMessage
	}
	return m, nil
}

// dropDraft deletes a saved draft for good once it was sent or saved
// anew; a failure is only logged (the draft stays, nothing is lost).
func (h *Handler) dropDraft(ctx context.Context, sess auth.Session, rf ref) {
	mb, err := h.d.Store.AccountMailbox(ctx, sess.Account.ID, rf.MB)
	if err == nil {
		err = h.destroy(ctx, mb, []imap.UID{rf.UID})
	}
	if err != nil {
		h.log.Warn("webmail: drop draft", "err", err)
	}
}

// saveDraft stores the draft in Drafts with \Draft and \Seen (RFC 6154:
// what phones show as drafts), drops the one it replaces, and sends the
// browser back to the form on the new draft; the page's script, saving
// automatically, gets the new draft's reference as JSON instead.
func (h *Handler) saveDraft(w http.ResponseWriter, r *http.Request, sess auth.Session, d *draft, old *ref) {
	rf, err := h.storeDraft(r.Context(), sess, d, old)
	if err != nil {
		h.composeError(w, r, sess, d, old, err)
		return
	}
	if r.Header.Get("Accept") == "application/json" {
		l := h.d.Login.Localizer(r)
		kept := h.keptOf(r.Context(), l, sess, rf)
		if kept == nil {
			kept = []keptView{}
		}
		iweb.JSON(w, http.StatusOK, autosaved{Draft: rf.String(), Message: l.T("webmail.notice.draft"), Kept: kept})
		return
	}
	http.Redirect(w, r, withNotice("/mail/compose?draft="+rf.String(), "draft"), http.StatusSeeOther)
}

// storeDraft appends the draft to Drafts and drops the one it replaces.
func (h *Handler) storeDraft(ctx context.Context, sess auth.Session, d *draft, old *ref) (ref, error) {
	raw, err := d.build(h.d.Now(), newMessageID(h.d.Hostname), true)
	if err != nil {
		return ref{}, err
	}
	mb, uid, err := h.d.Store.Append(ctx, sess.Account.ID, "Drafts", bytes.NewReader(raw), []imap.Flag{imap.FlagDraft, imap.FlagSeen}, h.d.Now())
	if err != nil {
		return ref{}, err
	}
	if old != nil {
		h.dropDraft(ctx, sess, *old)
	}
	return ref{mb.ID, uid}, nil
}

// deliver sends the draft through mail/submit (the one way a message
// leaves caucus: send-as rules, limits, DKIM, queue) and files a copy in
// Sent.
func (h *Handler) deliver(ctx context.Context, r *http.Request, sess auth.Session, d *draft) error {
	allowed, err := h.sendAs(ctx, sess.Account)
	if err != nil {
		return err
	}
	if !slices.Contains(allowed, d.From) {
		return formError(i18n.Key("webmail.err.send_as"))
	}
	rcpts, err := d.recipients()
	if err != nil {
		return err
	}
	if len(rcpts) == 0 {
		return formError(i18n.Key("webmail.err.no_rcpt"))
	}
	msgID := newMessageID(h.d.Hostname)
	now := h.d.Now()
	msg, err := d.build(now, msgID, false)
	if err != nil {
		return err
	}
	hdr, err := message.Parse(msg)
	if err == nil {
		err = hdr.Check()
	}
	if err != nil {
		return formError(i18n.Key("webmail.err.not_written"))
	}
	who := h.sender(r, sess)
	env, err := h.d.Submit.Mail(ctx, who, d.From)
	if err != nil {
		return err
	}
	for _, to := range rcpts {
		if err := h.d.Submit.Rcpt(ctx, who, env, to); err != nil {
			return err
		}
	}
	ip := net.ParseIP(iweb.ClientAddr(r).String())
	if err := h.d.Submit.Submit(ctx, who, env, hdr, msg, submit.Received{Helo: "webmail", IP: ip, With: "HTTPS"}); err != nil {
		return err
	}
	sent, err := d.build(now, msgID, true)
	if err == nil {
		_, _, err = h.d.Store.Append(ctx, sess.Account.ID, "Sent", bytes.NewReader(sent), []imap.Flag{imap.FlagSeen}, now)
	}
	if err != nil {
		// Sent already; only the copy is missing.
		h.log.Warn("webmail: copy to Sent", "err", err)
	}
	return nil
}

// composeError shows the form again with what the member wrote and a
// plain sentence saying what went wrong. Internal errors are logged and
// shown as a generic sentence. Uploaded files are not kept by the form:
// the draft is saved first when there are any, so nothing is lost.
func (h *Handler) composeError(w http.ResponseWriter, r *http.Request, sess auth.Session, d *draft, old *ref, err error) {
	ctx := r.Context()
	l := h.d.Login.Localizer(r)
	msg := sentence(l, err)
	if msg == "" {
		h.log.Error("webmail: send", "err", err)
		msg = l.T("webmail.err.try_again")
	}
	p, ferr := h.composeForm(ctx, r, sess)
	if ferr != nil {
		h.fail(w, r, ferr)
		return
	}
	p.Error = msg
	p.From, p.To, p.Cc, p.Bcc, p.Subject, p.Body = d.From, d.To, d.Cc, d.Bcc, d.Subject, d.Body
	p.InReplyTo, p.References = d.InReplyTo, d.References
	if old != nil {
		p.Draft = old.String()
	}
	if len(d.Attach) > 0 && d.check() == nil {
		if rf, serr := h.storeDraft(ctx, sess, d, old); serr == nil {
			p.Draft, p.KeepFrom, p.Forward = rf.String(), rf.String(), ""
			p.Error += " " + l.T("webmail.err.saved_in_drafts")
			p.Kept = h.keptOf(ctx, l, sess, rf)
		}
	}
	if err := h.pages.Render(w, http.StatusUnprocessableEntity, "compose", p); err != nil {
		h.fail(w, r, err)
	}
}

// sentence says in plain words, in l's language, why mail/submit refused
// a message, or why the form is wrong; "" for an internal failure.
func sentence(l *i18n.Localizer, err error) string {
	var ce errCompose
	if errors.As(err, &ce) {
		return ce.text(l)
	}
	var se *submit.Error
	if !errors.As(err, &se) {
		switch {
		case errors.Is(err, store.ErrNoMessage), errors.Is(err, store.ErrNoMailbox):
			return l.T("webmail.err.gone")
		case errors.Is(err, store.ErrQuota):
			return l.T("webmail.err.quota")
		}
		return ""
	}
	switch {
	case errors.Is(err, submit.ErrSendAs):
		return l.T("webmail.refused.send_as")
	case errors.Is(err, submit.ErrRateLimited):
		return l.T("webmail.refused.rate_limited")
	case errors.Is(err, submit.ErrTooManyRcpts):
		return l.T("webmail.refused.too_many_rcpts")
	case errors.Is(err, submit.ErrNoSuchUser):
		return l.T("webmail.refused.no_such_user")
	case errors.Is(err, submit.ErrBadRecipient):
		return l.T("webmail.refused.bad_recipient")
	case errors.Is(err, submit.ErrBadHeader):
		return l.T("webmail.refused.bad_header")
	case errors.Is(err, submit.ErrMailboxFull):
		return l.T("webmail.refused.mailbox_full")
	case errors.Is(err, submit.ErrTooLarge):
		return l.T("webmail.refused.too_large")
	case errors.Is(err, submit.ErrNoRemote):
		return l.T("webmail.refused.no_remote")
	case errors.Is(err, submit.ErrBounceOnly):
		return l.T("webmail.refused.bounce_only")
	}
	return ""
}
