package webmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/msgview"
	"github.com/caucus-org/caucus/mail/store"
)

// readCSP is the message page's Content-Security-Policy: the one of every
// page, with frames allowed from caucus itself, for the message body
// served by frame under its own sandboxing policy.
const readCSP = iweb.ContentSecurityPolicy + "; frame-src 'self'"

// DownloadCSP is the Content-Security-Policy of an attachment: a sandbox
// without any allowance that loads nothing, as file downloads have
// (files/fileweb), so that an HTML or SVG attachment a browser renders in
// spite of Content-Disposition cannot run script in caucus's origin.
const DownloadCSP = "sandbox; default-src 'none'"

// maxListed bounds the attachments a message page lists.
const maxListed = 500

// readPage is the data of a message page.
type readPage struct {
	ui.Base
	Boxes         []boxView
	MoveTo        []boxView // the Move menu (moveTargets)
	Current       store.Mailbox
	Query         string
	Ref           string
	Back          string
	Subject       string
	From, ReplyTo string
	To, Cc        string
	Date          string
	Flagged       bool
	InJunk        bool
	Banner        *msgview.Banner
	Notices       []string
	RemoteBlocked int
	Mismatches    []msgview.Mismatch
	Sandbox       string
	Frame         string
	Attachments   []attView
	Thread        []threadRow
}

// attView is an attachment in the list under a message.
type attView struct {
	Href, Name, Type, Size string
	Preview                string // URL to show it in the browser, "" if it cannot be
}

// previewTypes are the media types an attachment may be shown as in the
// browser, under the same sandbox as a download: raster images, which
// run nothing. SVG (script inside) and PDF (the browser's viewer does not
// run in a sandbox) are downloaded only.
var previewTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// noticeText are the message keys of the sentences for msgview's notices.
var noticeText = map[msgview.Notice]string{
	msgview.NoticeMalformedHeader: i18n.Key("webmail.read.malformed_header"),
	msgview.NoticeMalformedMIME:   i18n.Key("webmail.read.malformed_mime"),
	msgview.NoticeTooDeep:         i18n.Key("webmail.read.too_deep"),
	msgview.NoticeTooManyParts:    i18n.Key("webmail.read.too_many_parts"),
	msgview.NoticeTooLarge:        i18n.Key("webmail.read.too_large"),
	msgview.NoticeUnknownCharset:  i18n.Key("webmail.read.unknown_charset"),
	msgview.NoticeNoBody:          i18n.Key("webmail.read.no_body"),
}

// view parses a stored message for display with mail/msgview. The
// caller closes the returned closer when done with the view.
func (h *Handler) view(m store.Message) (*msgview.View, io.Closer, error) {
	rc, err := h.d.Store.OpenBody(m.Blob)
	if err != nil {
		return nil, nil, err
	}
	var closer io.Closer = rc
	size := m.Size
	ra, ok := rc.(io.ReaderAt)
	if !ok { // a blob store without random access: read it whole, bounded
		b, err := io.ReadAll(io.LimitReader(rc, MaxMessageView))
		rc.Close()
		if err != nil {
			return nil, nil, err
		}
		ra, closer, size = bytes.NewReader(b), io.NopCloser(nil), int64(len(b))
	}
	v, err := msgview.Parse(ra, size, msgview.Options{Hostname: h.d.Hostname, Directory: h.d.Directory})
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	return v, closer, nil
}

// read shows a message: its header, the findings banner, its body in a
// sandboxed frame, its attachments and its conversation. Opening it marks
// it read.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mb, m, ok := h.messageParam(w, r, sess)
	if !ok {
		return
	}
	ctx := r.Context()
	v, closer, err := h.view(m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer closer.Close()
	h.auditRoleRead(r, sess, mb, m.UID, "")
	if !slices.Contains(m.Flags, imap.FlagSeen) {
		if err := h.setFlag(ctx, mb, []imap.UID{m.UID}, imap.FlagSeen, true); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	all, err := h.d.Store.Mailboxes(ctx, sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rf := ref{mb.ID, m.UID}
	l := h.d.Login.Localizer(r)
	p := readPage{
		Base: h.ui(r, sess, l, cleanText(v.Header.Subject)), Boxes: boxes(l, all, mb.ID), Current: mb,
		Ref: rf.String(), Back: msgHref(mb.ID, m.UID),
		Subject: v.Header.Subject, From: joinAddrs(v.Header.From), ReplyTo: joinAddrs(v.Header.ReplyTo),
		To: joinAddrs(v.Header.To), Cc: joinAddrs(v.Header.Cc), Date: v.Header.DateText,
		Flagged: slices.Contains(m.Flags, imap.FlagFlagged), InJunk: mb.Attr == imap.MailboxAttrJunk,
		Banner: h.banner(l, v), Sandbox: msgview.FrameSandbox, Frame: msgHref(mb.ID, m.UID) + "/frame",
	}
	p.MoveTo = moveTargets(p.Boxes, mb)
	if p.Subject == "" {
		p.Subject = l.T("webmail.no_subject")
		p.Title = p.Subject
	}
	if !v.Header.Date.IsZero() {
		p.Date = longDate(l, v.Header.Date)
	}
	for _, n := range v.Notices {
		if key := noticeText[n]; key != "" {
			p.Notices = append(p.Notices, l.T(key)) // i18n:keyed
		}
	}
	if f, res, err := h.frameBody(r, sess, mb.ID, m, v); err == nil {
		p.RemoteBlocked, p.Mismatches = res.RemoteBlocked, res.Mismatches
		if res.Truncated {
			p.Notices = append(p.Notices, l.T("webmail.read.truncated"))
		}
		h.bodies.put(frameKey(sess, mb.ID, m), f, h.d.Now())
	}
	for i, a := range v.Attachments {
		if i == maxListed {
			p.Notices = append(p.Notices, l.T("webmail.read.many_attachments", "n", len(v.Attachments), "shown", maxListed))
			break
		}
		av := attView{Href: fmt.Sprintf("%s/part/%s", msgHref(mb.ID, m.UID), a.ID), Name: partName(a), Type: a.Type, Size: l.Size(a.Size)}
		if slices.Contains(previewTypes, a.Type) {
			av.Preview = fmt.Sprintf("%s/preview/%s", msgHref(mb.ID, m.UID), a.ID)
		}
		p.Attachments = append(p.Attachments, av)
	}
	if p.Thread, err = h.thread(ctx, l, sess.Account.ID, mb, m, v.Header); err != nil {
		h.log.Warn("webmail: conversation", "err", err)
	}
	w.Header().Set("Content-Security-Policy", readCSP)
	h.render(w, r, "read", p)
}

func joinAddrs(as []msgview.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// partName is an attachment's name to show and save as.
func partName(p *msgview.Part) string {
	if p.Filename != "" {
		return p.Filename
	}
	ext := ""
	if exts, _ := mime.ExtensionsByType(p.Type); len(exts) > 0 {
		ext = exts[0]
	}
	return "part-" + p.ID + ext
}

// banner is the findings banner of a message, but for mail that never
// came through the MX from one of the party's own addresses: a member's
// message delivered within caucus (submission checked its sender), a
// Sent copy or a draft. A grey "not checked" on all of them would be a
// banner nobody reads.
func (h *Handler) banner(l *i18n.Localizer, v *msgview.View) *msgview.Banner {
	if v.Findings.Level == msgview.LevelUnchecked && len(v.Header.From) == 1 {
		addr := v.Header.From[0].Addr
		if i := strings.LastIndexByte(addr, '@'); i >= 0 && slices.ContainsFunc(h.d.Submit.OwnDomains(), func(d string) bool { return strings.EqualFold(d, addr[i+1:]) }) {
			return nil
		}
	}
	return msgview.FindingsBanner(l, v.Findings, cleanText)
}

// frame serves a message's body for the message page's sandboxed frame:
// mail/msgview's sanitized HTML (or escaped text) as a document of its
// own, under a Content-Security-Policy that is itself a sandbox (no
// script, unique origin) and loads nothing but data: images and the
// message's own cid: images, each by its URL (inline.go).
func (h *Handler) frame(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mb, m, ok := h.messageParam(w, r, sess)
	if !ok {
		return
	}
	f, ok := h.bodies.get(frameKey(sess, mb.ID, m), h.d.Now())
	if !ok {
		var err error
		if f, err = h.sanitized(r, sess, mb.ID, m); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", f.csp)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "SAMEORIGIN")
	hdr.Set("Cache-Control", "private, no-store")
	w.Write(f.body)
}

// frameKey names the frame of message m in mailbox mb as sess sees it.
func frameKey(sess auth.Session, mb int64, m store.Message) bodyKey {
	return bodyKey{ref: m.Blob, session: sess.ID, mb: mb, uid: m.UID}
}

// frameBody makes the frame's document for message m in mailbox mb as
// sess sees it through r: the body sanitized by mail/msgview, its cid:
// images pointing at their inline URLs, and the policy that allows
// exactly those URLs.
func (h *Handler) frameBody(r *http.Request, sess auth.Session, mb int64, m store.Message, v *msgview.View) (framed, msgview.Result, error) {
	cid, sources := h.inlineImages(r, sess, mb, m.UID, v)
	var b bytes.Buffer
	res, err := v.SanitizeBody(&b, "", msgview.SanitizeOptions{CID: cid})
	if err != nil {
		return framed{}, res, err
	}
	f := framed{body: b.Bytes(), csp: msgview.FrameCSP}
	if sources != nil && len(*sources) > 0 {
		f.csp = msgview.FrameCSPWithImages(*sources...)
	}
	return f, res, nil
}

// sanitized is frameBody for a frame whose page's body is no longer
// cached.
func (h *Handler) sanitized(r *http.Request, sess auth.Session, mb int64, m store.Message) (framed, error) {
	v, closer, err := h.view(m)
	if err != nil {
		return framed{}, err
	}
	defer closer.Close()
	f, _, err := h.frameBody(r, sess, mb, m, v)
	return f, err
}

// part sends one part of a message as a download: attachment (RFC 6266),
// application/octet-stream, never sniffed, sandboxed, as file downloads
// are.
func (h *Handler) part(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.sendPart(w, r, sess, false)
}

// preview shows an image attachment in the browser: inline, with its
// own media type (one of previewTypes, never sniffed), under the same
// sandbox as a download. Any other part answers 404.
func (h *Handler) preview(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.sendPart(w, r, sess, true)
}

// sendPart sends a part as a download, or, inline, as an image preview.
func (h *Handler) sendPart(w http.ResponseWriter, r *http.Request, sess auth.Session, inline bool) {
	mb, m, ok := h.messageParam(w, r, sess)
	if !ok {
		return
	}
	id := r.PathValue("part")
	if !validPartID(id) {
		h.notFound(w, r)
		return
	}
	if !inline {
		h.auditRoleRead(r, sess, mb, m.UID, "part="+id)
	}
	v, closer, err := h.view(m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer closer.Close()
	p := v.PartByID(id)
	if p == nil || p.IsMultipart() || inline && !slices.Contains(previewTypes, p.Type) {
		h.notFound(w, r)
		return
	}
	hdr := w.Header()
	typ, disp := "application/octet-stream", "attachment"
	if inline {
		typ, disp = p.Type, "inline"
	}
	hdr.Set("Content-Type", typ)
	hdr.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": partName(p)}))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", DownloadCSP)
	hdr.Set("Cache-Control", "private, no-store")
	if _, err := v.WritePart(w, id); err != nil && !errors.Is(err, msgview.ErrNoPart) {
		h.log.Warn("webmail: part", "err", err)
	}
}

// validPartID accepts IMAP section numbers: "1", "1.2.3".
func validPartID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return false
	}
	for _, c := range id {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// keptAttachments reads the attachments the compose form keeps: parts
// ids of the account's message from ("mb/uid": the draft being edited, or
// the message forwarded), within MaxCompose in all.
func (h *Handler) keptAttachments(ctx context.Context, sess auth.Session, from string, ids []string) ([]attachment, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > maxAttach {
		return nil, formError(i18n.Key("webmail.err.too_many_attachments"), "max", maxAttach)
	}
	rf, ok := parseRef(from)
	if !ok {
		return nil, store.ErrNoMessage
	}
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return nil, err
	}
	v, closer, err := h.view(m)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var out []attachment
	var total int64
	for _, id := range ids {
		p := v.PartByID(id)
		if !validPartID(id) || p == nil || p.IsMultipart() {
			return nil, formError(i18n.Key("webmail.err.kept_gone"))
		}
		if total += p.Size; total > MaxCompose {
			return nil, formError(i18n.Key("webmail.err.attachments_too_large"), "mb", MaxCompose>>20)
		}
		var b bytes.Buffer
		if _, err := v.WritePart(&b, id); err != nil {
			return nil, err
		}
		out = append(out, attachment{Name: partName(p), Type: p.Type, Data: b.Bytes()})
	}
	return out, nil
}

// keptOf lists the attachments of the account's message rf, for the
// compose form to keep.
func (h *Handler) keptOf(ctx context.Context, l *i18n.Localizer, sess auth.Session, rf ref) []keptView {
	m, err := h.d.Store.AccountMessage(ctx, sess.Account.ID, rf.MB, rf.UID)
	if err != nil {
		return nil
	}
	v, closer, err := h.view(m)
	if err != nil {
		return nil
	}
	defer closer.Close()
	return keptFromView(l, v)
}

// keptFromView lists a message's attachments for the compose form.
func keptFromView(l *i18n.Localizer, v *msgview.View) []keptView {
	var out []keptView
	for _, a := range v.Attachments {
		if !a.IsMultipart() && len(out) < maxAttach {
			out = append(out, keptView{ID: a.ID, Name: partName(a), Size: l.Size(a.Size)})
		}
	}
	return out
}

// textOf is a message's body as plain text (HTML converted by
// mail/msgview), at most maxQuoted bytes, for a reply's quote or a
// forward; "" if it cannot be read.
func textOf(v *msgview.View) string {
	var b strings.Builder
	if err := v.BodyText(&limitedWriter{w: &b, left: maxQuoted}); err != nil && !errors.Is(err, errFull) {
		return ""
	}
	return b.String()
}

var errFull = errors.New("webmail: enough text")

// limitedWriter takes up to left bytes, then fails with errFull.
type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		n, _ := l.w.Write(p[:l.left])
		l.left = 0
		return n, errFull
	}
	l.left -= len(p)
	return l.w.Write(p)
}
