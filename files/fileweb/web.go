// Package fileweb serves caucus's file pages: browsing one's home, group and
// shared folders, uploads with a progress bar, downloads, folders, rename,
// move, trash and versions, sharing with members and groups, and public
// links (download links and upload-only "file drop" links) with expiry,
// password and download limit, under /files/ for signed-in people and
// /s/{token} for everyone.
//
// Every page needs a full session (login.Handler.Require), every change is
// a POST carrying the session's CSRF token and goes through the store,
// which checks access and writes the audit log. Uploads stream part by
// part from the multipart body (RFC 7578) into the store; nothing is
// buffered whole in memory or in a temporary file here. Downloads are sent
// as attachments (RFC 6266) with nosniff and a sandboxing
// Content-Security-Policy, so a file never runs script in caucus's origin.
package fileweb

import (
	"crypto/rand"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// MaxUpload bounds the request body of one upload (all its files). The
// store's quotas are the real limit; this only keeps a single request
// finite.
const MaxUpload = 64 << 30

// Bounds of file drops, which anyone holding a link may send: after
// DropGrace, a drop's body must arrive at MinDropRate bytes a second on
// average or it is cut (one sender trickling a byte at a time would hold
// a connection and an upload open for ever). 8 KiB/s is 64 kbit/s, less
// than a poor mobile uplink.
const (
	MinDropRate = 8 << 10
	DropGrace   = 30 * time.Second
)

// Handler serves the file pages.
type Handler struct {
	store     *files.Store
	svc       *auth.Service
	audit     *audit.Log
	login     *login.Handler
	log       *slog.Logger
	pages     *ui.Pages
	throttle  *throttle.Limiter // wrong link passwords, per address
	unlockKey []byte            // MACs the cookie of an unlocked link
	now       func() time.Time
	maxUpload int64 // request body bound of the upload routes
	dropRate  int64 // MinDropRate
	dropGrace time.Duration
}

// New builds the file pages over store. svc gives the session's account
// and the groups; pages is the sign-in handler whose Require and
// RequireAdmin guard the pages.
func New(store *files.Store, svc *auth.Service, pages *login.Handler, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(pages.Party()) // the party's name and look, as on the sign-in pages
	key := make([]byte, 32)
	rand.Read(key)
	h := &Handler{
		store: store, svc: svc, audit: svc.Audit(), login: pages, log: log, pages: p,
		unlockKey: key,
		now:       time.Now,
		maxUpload: MaxUpload,
		dropRate:  MinDropRate,
		dropGrace: DropGrace,
	}
	if now := store.Options().Now; now != nil {
		h.now = now
	}
	h.throttle = throttle.New(throttle.Config{}, h.now)
	return h, nil
}

// Register adds the routes to mux: /files/… behind sign-in (the admin's
// list of links behind RequireAdmin), /s/{token}… for everyone.
func (h *Handler) Register(mux *http.ServeMux) {
	user := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, h.login.Require(fn)) }
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.login.Require(h.action(fn)))
	}
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/files/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /files/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		assets.ServeHTTP(w, r)
	})

	user("GET /files/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/files/p/Home", http.StatusSeeOther)
	})
	user("GET /files/p/{path...}", h.browse)
	user("GET /files/item/{path...}", h.item)
	user("GET /files/dl/{path...}", h.download)
	user("GET /files/view/{path...}", h.view)
	mux.Handle("POST /files/upload/{path...}", iweb.WithMaxBody(h.login.Require(http.HandlerFunc(h.upload)), h.maxUpload))
	post("POST /files/mkdir/{path...}", h.mkdir)
	post("POST /files/rename/{path...}", h.rename)
	post("POST /files/move/{path...}", h.move)
	post("POST /files/delete/{path...}", h.delete)
	post("POST /files/restore-version/{path...}", h.restoreVersion)
	post("POST /files/share/{path...}", h.share)
	user("GET /files/complete", h.complete)
	post("POST /files/link/{path...}", h.makeLink)
	user("GET /files/trash", h.trash)
	user("GET /files/connect", h.connect)
	post("POST /files/trash/{id}/restore", h.restore)
	user("GET /files/shares", h.shares)
	post("POST /files/shares/{id}/undo", h.unshare)
	user("GET /files/links", h.links)
	post("POST /files/links/{id}/revoke", h.revokeLink)
	mux.Handle("GET /files/admin/links", h.login.RequireAdmin(http.HandlerFunc(h.allLinks)))
	mux.Handle("POST /files/admin/links/{id}/revoke", h.login.RequireAdmin(h.action(h.adminRevokeLink)))

	mux.HandleFunc("GET /s/{token}", h.public)
	mux.HandleFunc("POST /s/{token}", h.publicPassword)
	mux.HandleFunc("GET /s/{token}/dl", h.publicDownload)
	mux.HandleFunc("GET /s/{token}/f/{id}", h.publicDownload)
	mux.Handle("POST /s/{token}/upload", iweb.WithMaxBody(http.HandlerFunc(h.publicUpload), h.maxDropBody()))
}

// maxDropBody bounds the body of one request to a drop link: what one
// link takes in all, and room for the multipart framing.
func (h *Handler) maxDropBody() int64 {
	return min(h.maxUpload, h.store.Options().DropLinkBytes+1<<20)
}

// action guards a state-changing request: the form's CSRF token must be
// the session's.
func (h *Handler) action(fn func(http.ResponseWriter, *http.Request, auth.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := login.SessionFrom(r.Context())
		if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
			h.gone(w, r, http.StatusForbidden, i18n.Key("error.form_expired.title"), i18n.Key("error.form_expired.text"))
			return
		}
		fn(w, r, sess)
	}
}

func client(r *http.Request) auth.Client {
	return auth.Client{Addr: iweb.ClientAddr(r), UserAgent: r.UserAgent()}
}
