package fileweb

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// actor is the store's view of the signed-in person making r.
func actor(r *http.Request, sess auth.Session) files.Actor {
	return files.Actor{ID: sess.Account.ID, Login: sess.Account.Login, Client: client(r)}
}

// sessionActor is actor for a request that went through Require.
func sessionActor(r *http.Request) files.Actor {
	sess, _ := login.SessionFrom(r.Context())
	return actor(r, sess)
}

// statusOf maps a store error to the HTTP status that answers it, and
// whether its text may be shown to the person (the store's sentinels are
// written for people).
func statusOf(err error) (int, bool) {
	switch {
	case errors.Is(err, files.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, files.ErrForbidden):
		return http.StatusForbidden, true
	case errors.Is(err, files.ErrExists):
		return http.StatusConflict, true
	case errors.Is(err, files.ErrQuota):
		return http.StatusRequestEntityTooLarge, true
	case errors.Is(err, files.ErrInvalidName), errors.Is(err, files.ErrNotDir), errors.Is(err, files.ErrIsDir),
		errors.Is(err, files.ErrLoop), errors.Is(err, files.ErrTooDeep), errors.Is(err, files.ErrNotEmpty),
		errors.Is(err, files.ErrLifetime):
		return http.StatusBadRequest, true
	case errors.Is(err, files.ErrExpired), errors.Is(err, files.ErrExhausted), errors.Is(err, files.ErrRevoked):
		return http.StatusGone, true
	case errors.Is(err, files.ErrSuspended):
		return http.StatusNotFound, true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, true
	}
	return http.StatusInternalServerError, false
}

// humanError is the sentence a person sees for a store error.
func humanError(err error) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "The upload is larger than one request may be."
	}
	for _, e := range []error{files.ErrNotFound, files.ErrForbidden, files.ErrExists, files.ErrQuota, files.ErrInvalidName,
		files.ErrNotDir, files.ErrIsDir, files.ErrLoop, files.ErrTooDeep, files.ErrNotEmpty, files.ErrLifetime,
		files.ErrExpired, files.ErrExhausted, files.ErrRevoked} {
		if errors.Is(err, e) {
			msg := strings.TrimPrefix(e.Error(), "files: ")
			return strings.ToUpper(msg[:1]) + msg[1:] + "."
		}
	}
	if errors.Is(err, errTooLong) {
		return "A field of the form is too long."
	}
	var fe errForm
	if errors.As(err, &fe) {
		return string(fe)
	}
	return "Something went wrong; the error was logged."
}

// refuse answers a failed store call on a signed-in page: a page with the
// reason for a refusal, a bare 500 for anything else.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code, show := statusOf(err)
	var fe errForm
	if errors.As(err, &fe) || errors.Is(err, errTooLong) {
		code, show = http.StatusBadRequest, true
	}
	if !show {
		h.fail(w, r, err)
		return
	}
	p := h.base(r, "Not possible", "")
	p.Error = humanError(err)
	p.Message = "Go back and try again, or choose another folder."
	h.render(w, r, code, "gone", p)
}

// pathNode reads the {path...} of r and finds its node.
func (h *Handler) pathNode(r *http.Request) (files.Node, error) {
	p, ok := cleanViewPath(r.PathValue("path"))
	if !ok {
		return files.Node{}, files.ErrNotFound
	}
	return h.store.Stat(r.Context(), sessionActor(r), "/"+p)
}

// viewPath is the view path of n without its leading slash, as the
// routes carry it.
func viewPath(n files.Node) string { return strings.Trim(n.Path, "/") }

func toEntry(n files.Node) entry {
	p := viewPath(n)
	e := entry{
		ID: n.ID, Name: n.Name, Path: p, EPath: escapePath(p), Parent: parentPath(p), IsDir: n.Dir,
		Modified: when(n.ModTime), CanWrite: n.Writable && !n.Virtual && n.ID != 0,
		CanShare: !n.Virtual && n.ID != 0 && n.ParentID != 0,
	}
	if e.Name == "" {
		e.Name = "Files"
	}
	if !n.Dir {
		e.Size = humanSize(n.Size)
		if n.Versions > 1 {
			e.Note = strconv.Itoa(n.Versions) + " versions"
		}
	}
	return e
}

// browse shows a folder, or the page of a file.
func (h *Handler) browse(w http.ResponseWriter, r *http.Request) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if !n.Dir {
		http.Redirect(w, r, "/files/item/"+escapePath(viewPath(n)), http.StatusSeeOther)
		return
	}
	var list []files.Node
	if n.Virtual {
		list, err = h.store.List(r.Context(), sessionActor(r), n.Path)
	} else {
		list, err = h.store.ListID(r.Context(), sessionActor(r), n.ID)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	p := h.base(r, n.Name, "/files/p/"+strings.SplitN(viewPath(n), "/", 2)[0])
	p.Crumbs = crumbs(viewPath(n))
	p.Folder = toEntry(n)
	p.Folder.CanWrite = n.Writable && !n.Virtual
	for _, c := range list {
		p.Entries = append(p.Entries, toEntry(c))
	}
	h.render(w, r, http.StatusOK, "browse", p)
}

// item shows what can be done with one file or folder.
func (h *Handler) item(w http.ResponseWriter, r *http.Request) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	h.itemPage(w, r, http.StatusOK, n, "", "")
}

func (h *Handler) itemPage(w http.ResponseWriter, r *http.Request, code int, n files.Node, notice, errText string) {
	p := h.base(r, n.Name, "")
	p.Crumbs = crumbs(viewPath(n))
	p.Item = toEntry(n)
	p.Notice, p.Error = notice, errText
	o := h.store.Options()
	p.MaxDays = max(1, int(o.MaxLinkLifetime/(24*time.Hour)))
	p.DefaultDays = min(p.MaxDays, max(1, int(o.DefaultLinkLifetime/(24*time.Hour))))
	p.MaxDropMB = o.DropLinkBytes / (1000 * 1000)
	if !n.Dir && !n.Virtual {
		vs, err := h.store.Versions(r.Context(), sessionActor(r), n.ID)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		for _, v := range vs {
			if !v.Current {
				p.Versions = append(p.Versions, version{ID: v.ID, Size: humanSize(v.Size), Modified: when(v.Created)})
			}
		}
	}
	h.render(w, r, code, "item", p)
}

// download sends a file, or one of its older versions (?v=id).
func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if n.Dir {
		h.refuse(w, r, files.ErrIsDir)
		return
	}
	a := sessionActor(r)
	if v := r.URL.Query().Get("v"); v != "" {
		vid, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			iweb.Error(w, r, http.StatusNotFound)
			return
		}
		rc, ver, err := h.store.OpenVersion(r.Context(), a, n.ID, vid)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		defer rc.Close()
		d, done := h.transfer(w, r)
		defer done()
		serveFile(iweb.SlideWrites(d, w), r, n.Name, ver.Created, rc)
		return
	}
	rc, n, err := h.store.Open(r.Context(), a, n.ID)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	defer rc.Close()
	d, done := h.transfer(w, r)
	defer done()
	serveFile(iweb.SlideWrites(d, w), r, n.Name, n.ModTime, rc)
}

// transfer gives a download or an upload its sliding deadlines, ended
// when the session is signed out or the account revoked (public links,
// without a session, only by the request's end). done must be deferred.
func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) (d *iweb.Deadlines, done func()) {
	ctx, release := r.Context(), func() {}
	if sess, ok := login.SessionFrom(ctx); ok {
		ctx, release = h.svc.ConnectSession(ctx, sess)
	}
	d = iweb.NewDeadlines(ctx, w)
	return d, func() { d.Stop(); release() }
}

// linkTransfer is transfer for a download or a drop through link l: it
// ends when the link is revoked or suspended (files.Store.WatchLink).
func (h *Handler) linkTransfer(w http.ResponseWriter, r *http.Request, l files.Link) (d *iweb.Deadlines, done func()) {
	ctx, release := h.store.WatchLink(r.Context(), l)
	d = iweb.NewDeadlines(ctx, w)
	return d, func() { d.Stop(); release() }
}

// back sends the browser to the folder page of view path p after a change.
func back(w http.ResponseWriter, r *http.Request, p string) {
	http.Redirect(w, r, "/files/p/"+escapePath(p), http.StatusSeeOther)
}

// formValue reads a form field, refusing one over maxFieldBytes.
func formValue(r *http.Request, name string) (string, error) {
	v := r.PostFormValue(name)
	if len(v) > maxFieldBytes {
		return "", errTooLong
	}
	return v, nil
}

// nodeAndName reads the node of the request's path and the form's name
// field, trimmed.
func (h *Handler) nodeAndName(r *http.Request) (files.Node, string, error) {
	n, err := h.pathNode(r)
	if err != nil {
		return n, "", err
	}
	name, err := formValue(r, "name")
	return n, strings.TrimSpace(name), err
}

func (h *Handler) mkdir(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, name, err := h.nodeAndName(r)
	if err == nil {
		_, err = h.store.Mkdir(r.Context(), actor(r, sess), n.ID, name)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	back(w, r, viewPath(n))
}

func (h *Handler) rename(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, name, err := h.nodeAndName(r)
	if err == nil {
		n, err = h.store.Rename(r.Context(), actor(r, sess), n.ID, name)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	http.Redirect(w, r, "/files/item/"+escapePath(viewPath(n)), http.StatusSeeOther)
}

func (h *Handler) move(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a := actor(r, sess)
	n, err := h.pathNode(r)
	if err == nil {
		var to string
		if to, err = formValue(r, "to"); err == nil {
			dest, ok := cleanViewPath(strings.TrimSpace(to))
			if !ok {
				err = files.ErrNotFound
			} else {
				var d files.Node
				if d, err = h.store.Stat(r.Context(), a, "/"+dest); err == nil {
					n, err = h.store.Move(r.Context(), a, n.ID, d.ID, n.Name)
				}
			}
		}
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	back(w, r, parentPath(viewPath(n)))
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, err := h.pathNode(r)
	if err == nil {
		err = h.store.Delete(r.Context(), actor(r, sess), n.ID)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	back(w, r, parentPath(viewPath(n)))
}

func (h *Handler) restoreVersion(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, err := h.pathNode(r)
	if err == nil {
		var vid int64
		if vid, err = strconv.ParseInt(r.PostFormValue("v"), 10, 64); err != nil {
			err = files.ErrNotFound
		} else {
			n, err = h.store.RestoreVersion(r.Context(), actor(r, sess), n.ID, vid)
		}
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	h.itemPage(w, r, http.StatusOK, n, "The older version is the current one again.", "")
}

func (h *Handler) share(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	target, err := parseShareTarget(r.PostFormValue("with"))
	if err == nil {
		_, err = h.store.Share(r.Context(), actor(r, sess), n.ID, files.Grantee(target), r.PostFormValue("mode") == "write")
	}
	if err != nil {
		if code, show := statusOf(err); show || errors.As(err, new(errForm)) {
			if !show {
				code = http.StatusBadRequest
			}
			h.itemPage(w, r, code, n, "", humanError(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/files/shares", http.StatusSeeOther)
}

func (h *Handler) makeLink(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	o := h.store.Options()
	maxDays := max(1, int(o.MaxLinkLifetime/(24*time.Hour)))
	f, err := parseLinkForm(r.PostFormValue("days"), r.PostFormValue("password"), r.PostFormValue("limit"), r.PostFormValue("kind"), r.PostFormValue("dropmb"),
		maxDays, o.DropLinkBytes/(1000*1000), n.Dir)
	if err != nil {
		h.itemPage(w, r, http.StatusBadRequest, n, "", humanError(err))
		return
	}
	kind := files.LinkDownload
	if f.Drop {
		kind = files.LinkDrop
	}
	token, l, err := h.store.CreateLink(r.Context(), actor(r, sess), n.ID, files.LinkOptions{
		Kind: kind, ExpiresAt: h.now().Add(f.Lifetime), Password: f.Password, MaxDownloads: f.MaxDownloads, MaxBytes: f.DropBytes,
	})
	if err != nil {
		if _, show := statusOf(err); show {
			code, _ := statusOf(err)
			h.itemPage(w, r, code, n, "", humanError(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	p := h.base(r, "Link created", "")
	p.Link = h.origin(r) + "/s/" + token
	p.LinkInfo = describeLink(l)
	h.render(w, r, http.StatusOK, "linkmade", p)
}

// origin is the public address links are made for: the web origin the
// auth service is configured with, else the host the browser used.
func (h *Handler) origin(r *http.Request) string {
	if o := h.svc.Config().Origins; len(o) > 0 {
		return strings.TrimSuffix(o[0], "/")
	}
	return "https://" + r.Host
}

func describeLink(l files.Link) string {
	s := "Download link"
	if l.Kind == files.LinkDrop {
		s = "File drop"
	}
	s += ", expires " + when(l.ExpiresAt)
	if l.HasPassword {
		s += ", with password"
	}
	if l.MaxDownloads > 0 {
		s += ", at most " + strconv.Itoa(l.MaxDownloads) + " downloads"
	}
	if l.Kind == files.LinkDrop {
		s += ", takes at most " + humanSize(l.MaxBytes)
	}
	return s + "."
}

func (h *Handler) trash(w http.ResponseWriter, r *http.Request) {
	items, err := h.store.Trash(r.Context(), sessionActor(r))
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	p := h.base(r, "Trash", "/files/trash")
	p.TrashDays = int(h.store.Options().TrashRetention / (24 * time.Hour))
	for _, it := range items {
		p.Trash = append(p.Trash, trashRow{ID: it.ID, Name: it.Name, Where: it.From, Deleted: when(it.DeletedAt)})
	}
	h.render(w, r, http.StatusOK, "trash", p)
}

// idValue reads the {id} of r.
func idValue(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, files.ErrNotFound
	}
	return id, nil
}

func (h *Handler) restore(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	id, err := idValue(r)
	var n files.Node
	if err == nil {
		n, err = h.store.Restore(r.Context(), actor(r, sess), id)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	back(w, r, parentPath(viewPath(n)))
}

func (h *Handler) shares(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	list, err := h.store.SharesOf(r.Context(), sess.Account.ID)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	p := h.base(r, "What I shared", "/files/shares")
	for _, s := range list {
		with, mode := s.With.Login, "read-only"
		if s.With.Group != "" {
			with = "group " + s.With.Group
		}
		if s.Write {
			mode = "read and change"
		}
		p.Shares = append(p.Shares, shareRow{ID: s.ID, Path: s.NodePath, With: with, Mode: mode})
	}
	h.render(w, r, http.StatusOK, "shares", p)
}

func (h *Handler) unshare(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.byID(w, r, "/files/shares", func(id int64) error { return h.store.Unshare(r.Context(), actor(r, sess), id) })
}

// byID runs op on the id the form names and sends the browser back to
// page, or shows why not.
func (h *Handler) byID(w http.ResponseWriter, r *http.Request, page string, op func(id int64) error) {
	id, err := idValue(r)
	if err == nil {
		err = op(id)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	http.Redirect(w, r, page, http.StatusSeeOther)
}

func (h *Handler) linkRows(list []files.Link) []linkRow {
	now := h.now()
	out := make([]linkRow, 0, len(list))
	for _, l := range list {
		row := linkRow{ID: l.ID, Path: l.NodePath, Owner: l.Owner, Kind: string(l.Kind), Password: l.HasPassword, Expires: when(l.ExpiresAt)}
		switch {
		case l.Revoked:
			row.State = "revoked"
		case l.Suspended:
			row.State, row.Live = "suspended", true
		case !now.Before(l.ExpiresAt):
			row.State = "expired"
		case l.MaxDownloads > 0 && l.Downloads >= l.MaxDownloads:
			row.State = "used up"
		default:
			row.State, row.Live = "live", true
		}
		row.Downloads = strconv.Itoa(l.Downloads) + " downloads"
		if l.MaxDownloads > 0 {
			row.Downloads += " of " + strconv.Itoa(l.MaxDownloads)
		}
		if l.Kind == files.LinkDrop {
			row.Downloads = humanSize(l.Received) + " received of " + humanSize(l.MaxBytes)
		}
		out = append(out, row)
	}
	return out
}

func (h *Handler) links(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	list, err := h.store.LinksOf(r.Context(), sess.Account.ID)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	p := h.base(r, "My links", "/files/links")
	p.Links = h.linkRows(list)
	h.render(w, r, http.StatusOK, "links", p)
}

func (h *Handler) revokeLink(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.byID(w, r, "/files/links", func(id int64) error { return h.store.RevokeMyLink(r.Context(), actor(r, sess), id) })
}

func (h *Handler) allLinks(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.AllLinks(r.Context())
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	p := h.base(r, "All links", "/files/admin/links")
	p.Links, p.AllLinks = h.linkRows(list), true
	h.render(w, r, http.StatusOK, "links", p)
}

func (h *Handler) adminRevokeLink(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.byID(w, r, "/files/admin/links", func(id int64) error { return h.store.RevokeLink(r.Context(), sess.Account.Login, id) })
}
