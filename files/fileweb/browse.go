package fileweb

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/i18n"
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
		errors.Is(err, files.ErrLifetime), errors.Is(err, files.ErrNoGrantee):
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

// storeErrors are the store's errors a person may meet, with their words.
var storeErrors = []struct {
	err error
	key string
}{
	{files.ErrNotFound, i18n.Key("files.error.not_found")},
	{files.ErrFrozen, i18n.Key("files.error.frozen")}, // before ErrForbidden, which it wraps
	{files.ErrForbidden, i18n.Key("files.error.forbidden")},
	{files.ErrExists, i18n.Key("files.error.exists")},
	{files.ErrQuota, i18n.Key("files.error.quota")},
	{files.ErrInvalidName, i18n.Key("files.error.invalid_name")},
	{files.ErrNotDir, i18n.Key("files.error.not_dir")},
	{files.ErrIsDir, i18n.Key("files.error.is_dir")},
	{files.ErrLoop, i18n.Key("files.error.loop")},
	{files.ErrTooDeep, i18n.Key("files.error.too_deep")},
	{files.ErrNotEmpty, i18n.Key("files.error.not_empty")},
	{files.ErrLifetime, i18n.Key("files.error.lifetime")},
	{files.ErrExpired, i18n.Key("files.error.expired")},
	{files.ErrExhausted, i18n.Key("files.error.exhausted")},
	{files.ErrRevoked, i18n.Key("files.error.revoked")},
}

// humanError is the sentence a person sees for a store error, in l's
// language.
func humanError(l *i18n.Localizer, err error) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return l.T("files.error.too_large")
	}
	for _, e := range storeErrors {
		if errors.Is(err, e.err) {
			return l.T(e.key) // i18n:keyed (storeErrors)
		}
	}
	if errors.Is(err, errTooLong) {
		return l.T("files.error.field_long")
	}
	var fe errForm
	if errors.As(err, &fe) {
		return l.T(fe.key, fe.args...) // i18n:keyed (formErr)
	}
	return l.T("files.error.logged")
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
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.refused.title"), "")
	p.Error = humanError(l, err)
	p.Message = l.T("files.refused.text")
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

func toEntry(l *i18n.Localizer, n files.Node) entry {
	p := viewPath(n)
	e := entry{
		ID: n.ID, Name: n.Name, Path: p, EPath: escapePath(p), Parent: parentPath(p), IsDir: n.Dir,
		Modified: l.DateTime(n.ModTime), CanWrite: n.Writable && !n.Virtual && n.ID != 0,
		CanShare: !n.Virtual && n.ID != 0 && n.ParentID != 0,
	}
	if e.Name == "" {
		e.Name = l.T("ui.nav.files")
	}
	if !n.Dir {
		e.Size = l.Size(n.Size)
		if n.Versions > 1 {
			e.Note = l.T("files.versions", "n", n.Versions)
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
	l := h.login.Localizer(r)
	p := h.base(r, l, n.Name, "/files/p/"+strings.SplitN(viewPath(n), "/", 2)[0])
	p.Crumbs = crumbs(viewPath(n))
	p.Folder = toEntry(l, n)
	p.Folder.CanWrite = n.Writable && !n.Virtual
	for _, c := range list {
		p.Entries = append(p.Entries, toEntry(l, c))
	}
	if top := strings.SplitN(viewPath(n), "/", 2)[0]; top == "Shared" {
		h.sawShares(w)
	} else if p.SharedNotice, err = h.newShares(r.Context(), r, sessionActor(r), l); err != nil {
		h.refuse(w, r, err)
		return
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
	l := h.login.Localizer(r)
	p := h.base(r, l, n.Name, "")
	p.Crumbs = crumbs(viewPath(n))
	p.Item = toEntry(l, n)
	p.Notice, p.Error = notice, errText
	o := h.store.Options()
	p.MaxDays = max(1, int(o.MaxLinkLifetime/(24*time.Hour)))
	p.DefaultDays = min(p.MaxDays, max(1, int(o.DefaultLinkLifetime/(24*time.Hour))))
	p.MaxDropMB = o.DropLinkBytes / (1000 * 1000)
	if p.Item.CanWrite {
		var err error
		if p.Folders, err = h.moveChoices(r.Context(), sessionActor(r), p.Item.Path); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	if !n.Dir && !n.Virtual {
		var err error
		if p.Preview, err = h.previewOf(r.Context(), sessionActor(r), n); err != nil {
			h.refuse(w, r, err)
			return
		}
		vs, err := h.store.Versions(r.Context(), sessionActor(r), n.ID)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		for _, v := range vs {
			if !v.Current {
				p.Versions = append(p.Versions, version{ID: v.ID, Size: l.Size(v.Size), Modified: l.DateTime(v.Created)})
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
	h.itemPage(w, r, http.StatusOK, n, h.login.Localizer(r).T("files.version_restored"), "")
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
	if errors.Is(err, files.ErrNoGrantee) {
		err = formErr(i18n.Key("files.sharepick.no_grantee"), "name", cmp.Or(target.Login, target.Group))
	}
	if err != nil {
		if code, show := statusOf(err); show || errors.As(err, new(errForm)) {
			if !show {
				code = http.StatusBadRequest
			}
			h.itemPage(w, r, code, n, "", humanError(h.login.Localizer(r), err))
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
	l := h.login.Localizer(r)
	if err != nil {
		h.itemPage(w, r, http.StatusBadRequest, n, "", humanError(l, err))
		return
	}
	kind := files.LinkDownload
	if f.Drop {
		kind = files.LinkDrop
	}
	token, link, err := h.store.CreateLink(r.Context(), actor(r, sess), n.ID, files.LinkOptions{
		Kind: kind, ExpiresAt: h.now().Add(f.Lifetime), Password: f.Password, MaxDownloads: f.MaxDownloads, MaxBytes: f.DropBytes,
	})
	if err != nil {
		if _, show := statusOf(err); show {
			code, _ := statusOf(err)
			h.itemPage(w, r, code, n, "", humanError(l, err))
			return
		}
		h.fail(w, r, err)
		return
	}
	p := h.base(r, l, l.T("files.linkmade.title"), "")
	p.Link = h.origin(r) + "/s/" + token
	p.LinkInfo = describeLink(l, link)
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

// describeLink says in one sentence what a new link does.
func describeLink(l *i18n.Localizer, link files.Link) string {
	parts := []string{l.T("files.link.download")}
	if link.Kind == files.LinkDrop {
		parts[0] = l.T("files.link.drop")
	}
	parts = append(parts, l.T("files.link.expires", "when", l.DateTime(link.ExpiresAt)))
	if link.HasPassword {
		parts = append(parts, l.T("files.link.with_password"))
	}
	if link.MaxDownloads > 0 {
		parts = append(parts, l.T("files.link.at_most", "n", link.MaxDownloads))
	}
	if link.Kind == files.LinkDrop {
		parts = append(parts, l.T("files.link.takes", "size", l.Size(link.MaxBytes)))
	}
	return l.T("files.link.sentence", "parts", strings.Join(parts, l.T("files.link.sep")))
}

func (h *Handler) trash(w http.ResponseWriter, r *http.Request) {
	items, err := h.store.Trash(r.Context(), sessionActor(r))
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.tab.trash"), "/files/trash")
	p.TrashDays = int(h.store.Options().TrashRetention / (24 * time.Hour))
	for _, it := range items {
		p.Trash = append(p.Trash, trashRow{ID: it.ID, Name: it.Name, Where: it.From, Deleted: l.DateTime(it.DeletedAt)})
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
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.tab.my_shares"), "/files/shares")
	for _, s := range list {
		with, mode := s.With.Login, l.T("files.share.read_only")
		if s.With.Group != "" {
			with = l.T("files.share.group", "group", s.With.Group)
		}
		if s.Write {
			mode = l.T("files.share.read_write")
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

func (h *Handler) linkRows(loc *i18n.Localizer, list []files.Link) []linkRow {
	now := h.now()
	out := make([]linkRow, 0, len(list))
	for _, l := range list {
		row := linkRow{ID: l.ID, Path: l.NodePath, Owner: l.Owner, Kind: loc.T("files.link.download"), Password: l.HasPassword, Expires: loc.DateTime(l.ExpiresAt)}
		if l.Kind == files.LinkDrop {
			row.Kind = loc.T("files.link.drop")
		}
		switch {
		case l.Revoked:
			row.State = loc.T("files.links.state.revoked")
		case l.Suspended:
			row.State, row.Live = loc.T("files.links.state.suspended"), true
		case !now.Before(l.ExpiresAt):
			row.State = loc.T("files.links.state.expired")
		case l.MaxDownloads > 0 && l.Downloads >= l.MaxDownloads:
			row.State = loc.T("files.links.state.used_up")
		default:
			row.State, row.Live = loc.T("files.links.state.live"), true
		}
		row.Downloads = loc.T("files.links.downloads", "n", l.Downloads)
		if l.MaxDownloads > 0 {
			row.Downloads = loc.T("files.links.downloads_of", "n", l.Downloads, "max", l.MaxDownloads)
		}
		if l.Kind == files.LinkDrop {
			row.Downloads = loc.T("files.links.received", "size", loc.Size(l.Received), "max", loc.Size(l.MaxBytes))
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
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.tab.my_links"), "/files/links")
	p.Links = h.linkRows(l, list)
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
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.tab.all_links"), "/files/admin/links")
	p.Links, p.AllLinks = h.linkRows(l, list), true
	h.render(w, r, http.StatusOK, "links", p)
}

func (h *Handler) adminRevokeLink(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.byID(w, r, "/files/admin/links", func(id int64) error { return h.store.RevokeLink(r.Context(), sess.Account.Login, id) })
}
