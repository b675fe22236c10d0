package fileweb

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// maxTokenLen bounds the token of a public link URL; real ones are 22
// characters (web.RandomToken of 16 bytes) or a little more.
const maxTokenLen = 64

// resolve finds the link of r's {token}. When it cannot be used it answers
// with a page that says why (410 for an expired, used-up or revoked link,
// 404 for an unknown or suspended one) and returns ok false.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request) (files.Link, files.Node, string, bool) {
	token := r.PathValue("token")
	if token == "" || len(token) > maxTokenLen {
		h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.nolink.title"), i18n.Key("files.public.nolink.copied"))
		return files.Link{}, files.Node{}, "", false
	}
	l, n, err := h.store.ResolveLink(r.Context(), token)
	if err != nil {
		h.linkGone(w, r, err)
		return files.Link{}, files.Node{}, "", false
	}
	return l, n, token, true
}

// linkGone answers a link the store refused.
func (h *Handler) linkGone(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, files.ErrExpired):
		h.gone(w, r, http.StatusGone, i18n.Key("files.public.expired.title"), i18n.Key("files.public.expired.text"))
	case errors.Is(err, files.ErrExhausted):
		h.gone(w, r, http.StatusGone, i18n.Key("files.public.used_up.title"), i18n.Key("files.public.used_up.text"))
	case errors.Is(err, files.ErrRevoked):
		h.gone(w, r, http.StatusGone, i18n.Key("files.public.withdrawn.title"), i18n.Key("files.public.withdrawn.text"))
	case errors.Is(err, files.ErrNotDir), errors.Is(err, files.ErrIsDir):
		h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.not_found.title"), i18n.Key("files.public.not_found.item"))
	case errors.Is(err, files.ErrNotFound), errors.Is(err, files.ErrSuspended), errors.Is(err, files.ErrForbidden):
		h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.nolink.title"), i18n.Key("files.public.nolink.text"))
	default:
		h.fail(w, r, err)
	}
}

// throttleKey is the throttle's key for a guess at a link's password from
// r: the sender's address (an IPv6 /64) only. A key per link would let
// anyone lock the link's real recipients out with a few wrong guesses;
// guessers spread over many addresses are left to the password's hash
// (argon2id, slow by design), the link's expiry, and the audit log, which
// records every wrong guess.
func throttleKey(r *http.Request) string {
	return throttle.AddrKey(iweb.ClientAddr(r))
}

// public shows a link: its password form, its file, its folder's files,
// or the upload form of a file drop.
func (h *Handler) public(w http.ResponseWriter, r *http.Request) {
	l, n, token, ok := h.resolve(w, r)
	if !ok {
		return
	}
	h.publicPage(w, r, http.StatusOK, l, n, token, "")
}

// ownerName is how a public page names the link's owner: their display
// name, never their address (an internal address is not for outsiders),
// or the party's name if the account cannot be read.
func (h *Handler) ownerName(ctx context.Context, owner string) string {
	if a, err := h.svc.AccountByLogin(ctx, owner); err == nil && a.DisplayName != "" {
		return a.DisplayName
	}
	return h.login.Party().DisplayName()
}

func (h *Handler) publicPage(w http.ResponseWriter, r *http.Request, code int, l files.Link, n files.Node, token, errText string) {
	loc := h.login.Localizer(r)
	p := page{Base: ui.Base{Title: n.Name, Error: errText, L: loc}, Token: token, Name: n.Name, Owner: h.ownerName(r.Context(), l.Owner)}
	p.Expires = loc.T("files.public.works_until", "when", loc.DateTime(l.ExpiresAt))
	switch {
	case l.HasPassword && !h.unlocked(r, token):
		p.Title, p.NeedPassword = loc.T("files.public.password_title"), true
	case l.Kind == files.LinkDrop:
		p.Title, p.Drop, p.Name = loc.T("files.public.send_title"), true, ""
		p.DropLimits = loc.T("files.public.drop_limits", "each", loc.Size(h.store.Options().DropFileBytes), "left", loc.Size(max(l.MaxBytes-l.Received, 0)))
	case n.Dir:
		var id int64
		if d := r.URL.Query().Get("d"); d != "" {
			var err error
			if id, err = strconv.ParseInt(d, 10, 64); err != nil {
				h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.not_found.title"), i18n.Key("files.public.not_found.folder"))
				return
			}
		}
		if id != 0 {
			sub, err := h.store.LinkNode(r.Context(), l, id)
			if err == nil && !sub.Dir {
				err = files.ErrNotDir
			}
			if err != nil {
				h.linkGone(w, r, err)
				return
			}
			p.Name = sub.Name
		}
		list, err := h.store.LinkList(r.Context(), l, id)
		if err != nil {
			h.linkGone(w, r, err)
			return
		}
		for _, c := range list {
			e := entry{ID: c.ID, Name: c.Name, IsDir: c.Dir}
			if !c.Dir {
				e.Size = loc.Size(c.Size)
			}
			p.Entries = append(p.Entries, e)
		}
		if len(p.Entries) == 0 {
			p.Message = loc.T("files.public.empty")
		}
	default:
		p.Size = loc.Size(n.Size)
	}
	h.render(w, r, code, "public", p)
}

// publicPassword checks the password of a link, slowing down repeated
// wrong guesses per address, and records each wrong one.
func (h *Handler) publicPassword(w http.ResponseWriter, r *http.Request) {
	l, n, token, ok := h.resolve(w, r)
	if !ok {
		return
	}
	key := throttleKey(r)
	if d := h.throttle.Wait(key); d > 0 {
		h.record(r.Context(), r, l, audit.Refused, "throttled")
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
		h.publicPage(w, r, http.StatusTooManyRequests, l, n, token, h.login.Localizer(r).T("files.public.throttled"))
		return
	}
	pw := r.PostFormValue("password")
	if len(pw) > maxLinkPassword {
		pw = "" // never a match; counted as a wrong guess
	}
	err := h.store.CheckLinkPassword(r.Context(), l, pw)
	if errors.Is(err, files.ErrPassword) || (err == nil && pw == "" && l.HasPassword) {
		h.throttle.Fail(key)
		h.record(r.Context(), r, l, audit.Fail, "bad-password")
		h.publicPage(w, r, http.StatusForbidden, l, n, token, h.login.Localizer(r).T("files.public.wrong_password"))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.throttle.Succeed(key)
	h.setUnlocked(w, token)
	http.Redirect(w, r, "/s/"+token, http.StatusSeeOther)
}

// record writes a refused use of link l to the audit log, about its owner.
func (h *Handler) record(ctx context.Context, r *http.Request, l files.Link, outcome, reason string) {
	if h.audit == nil {
		return
	}
	if err := h.audit.Record(ctx, audit.Event{
		Subject: l.Owner, Kind: "files.link.password", Outcome: outcome, Reason: reason,
		Detail: "link " + strconv.FormatInt(l.ID, 10), Addr: iweb.ClientAddr(r).String(), UserAgent: r.UserAgent(),
	}); err != nil {
		h.log.Error("audit", "err", err)
	}
}

// publicDownload sends the file of a link, or a file inside its folder
// (/s/{token}/f/{id}); each download counts against the link's limit.
func (h *Handler) publicDownload(w http.ResponseWriter, r *http.Request) {
	l, _, token, ok := h.resolve(w, r)
	if !ok {
		return
	}
	if l.Kind != files.LinkDownload {
		h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.not_found.title"), i18n.Key("files.public.not_found.drop_only"))
		return
	}
	if l.HasPassword && !h.unlocked(r, token) {
		http.Redirect(w, r, "/s/"+token, http.StatusSeeOther)
		return
	}
	var id int64
	if s := r.PathValue("id"); s != "" {
		var err error
		if id, err = strconv.ParseInt(s, 10, 64); err != nil || id <= 0 {
			h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.not_found.title"), i18n.Key("files.public.not_found.file"))
			return
		}
	}
	if r.Method == http.MethodHead {
		// A HEAD (a link checker, a download manager) learns the size
		// and does not use up a download.
		n, err := h.store.LinkNode(r.Context(), l, id)
		if err != nil || n.Dir {
			h.linkGone(w, r, cmp.Or(err, files.ErrNotFound))
			return
		}
		serveFile(w, r, n.Name, n.ModTime, io.NewSectionReader(zeroReader{}, 0, n.Size))
		return
	}
	rc, n, err := h.store.LinkOpen(r.Context(), l, id, client(r))
	if err != nil {
		if errors.Is(err, files.ErrIsDir) {
			http.Redirect(w, r, "/s/"+token, http.StatusSeeOther)
			return
		}
		h.linkGone(w, r, err)
		return
	}
	defer rc.Close()
	d, done := h.linkTransfer(w, r, l)
	defer done()
	serveFile(iweb.SlideWrites(d, w), r, n.Name, n.ModTime, rc)
}

// publicUpload receives files through a file-drop link. There is no
// session and so no CSRF token: the cross-origin protection of
// internal/web refuses forms from other sites, and the link itself (with
// its password, if it has one) is the permission.
func (h *Handler) publicUpload(w http.ResponseWriter, r *http.Request) {
	l, _, token, ok := h.resolve(w, r)
	if !ok {
		return
	}
	if l.Kind != files.LinkDrop {
		h.gone(w, r, http.StatusNotFound, i18n.Key("files.public.not_found.title"), i18n.Key("files.public.not_found.no_drop"))
		return
	}
	if l.HasPassword && !h.unlocked(r, token) {
		if wantsJSON(r) {
			iweb.JSON(w, http.StatusForbidden, map[string]string{"error": h.login.Localizer(r).T("files.public.password_first")})
			return
		}
		http.Redirect(w, r, "/s/"+token, http.StatusSeeOther)
		return
	}
	if r.ContentLength > h.maxDropBody() { // refused before anything is read
		h.uploadDone(w, r, 0, "", &http.MaxBytesError{Limit: h.maxDropBody()})
		return
	}
	d, done := h.linkTransfer(w, r, l)
	defer done()
	d.MinReadRate(h.dropRate, h.dropGrace)
	iweb.SlideReads(d, r)
	n, err := receive(r, true, nil, func(name string, size int64, body io.Reader) error {
		_, err := h.store.DropPut(r.Context(), l, name, body, size, client(r))
		return err
	})
	h.uploadDone(w, r, n, "", err)
}

// zeroReader stands in for a file's content where none is sent (HEAD).
type zeroReader struct{}

func (zeroReader) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}
