// Package importweb is the member's own page for moving mail in
// (/mail/import): a form for another provider's IMAP server (Gmail,
// Microsoft 365 or any other) with the member's login and app password,
// the member's import jobs with their progress updated live (a small
// script polls /mail/import/jobs.json), cancel, and each job's report;
// and a resumable browser upload of an mbox or Google Takeout archive
// (upload.go, protocol in its doc comment). Jobs are mail/mailimport's:
// this package only starts, lists, cancels and reports them through the
// importer's API.
//
// Safety: every page needs a full session, every change the session's
// CSRF token and answers with a redirect (Post/Redirect/Get); a job or
// upload of another member answers 404 as a missing one does. A
// member's IMAP source must be on the public internet: its name is
// resolved and every address checked before the job is recorded, and
// the job itself connects only through [Dialer] (mailimport's
// PublicDial), which dials the checked address, so that a member cannot
// make the server connect to its own or its network's private services
// (server-side request forgery). The source's app password goes
// straight to the importer, which seals it; it is never logged or shown.
package importweb

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/upload"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/mailimport"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits of the form.
const (
	maxServer   = 255  // bytes of a host name and port
	maxLogin    = 320  // bytes of the source login (an address)
	maxPassword = 1024 // bytes of the app password
	maxJobs     = 50   // jobs a page lists, newest first
	// maxActive is how many unfinished jobs a member may have: the
	// importer runs a few jobs at a time for everyone, and one member's
	// many must not keep the others' waiting.
	maxActive = 3
)

// Importer is what the pages use of mail/mailimport (*mailimport.Importer).
type Importer interface {
	Start(ctx context.Context, req mailimport.Request) (int64, error)
	Jobs(ctx context.Context, accountID int64) ([]mailimport.Job, error)
	Progress(ctx context.Context, jobID int64) (mailimport.Progress, <-chan struct{}, error)
	Report(ctx context.Context, jobID int64) (mailimport.Report, error)
	Cancel(ctx context.Context, jobID int64, actor string) error
}

// Guard lets through requests with a full session and says in which
// language a request's page is written (*login.Handler).
type Guard interface {
	Require(next http.Handler) http.Handler
	Localizer(r *http.Request) *i18n.Localizer
	Party() ui.Party
}

// Checker checks a member's source server before the job is recorded
// (*Dialer); the job itself connects through the importer's PublicDial.
type Checker interface {
	Check(ctx context.Context, hostport string) ([]netip.AddrPort, error)
}

// Deps are what the pages work with.
type Deps struct {
	Imports Importer
	Login   Guard
	Check   Checker
	// Uploads keeps the browser's uploads; nil: no upload on the page.
	Uploads *upload.Spool
	// Kinds are the upload kinds accepted, with what starts their jobs
	// (see [StartKind]).
	Kinds Kinds
	// Quota bounds an upload by the member's free quota; nil: no bound
	// but MaxUpload.
	Quota Quota
	// MaxUpload bounds every upload; default DefaultMaxUpload.
	MaxUpload int64
	Log       *slog.Logger
	Now       func() time.Time
	// Poll is how often the page's script asks for progress; default 2 s.
	Poll time.Duration
}

// Handler serves the member's import page.
type Handler struct {
	d     Deps
	log   *slog.Logger
	pages *ui.Pages
}

// New builds the pages.
func New(d Deps) (*Handler, error) {
	if d.Imports == nil || d.Login == nil || d.Check == nil {
		return nil, errors.New("importweb: Imports, Login and Check are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Poll <= 0 {
		d.Poll = 2 * time.Second
	}
	if d.MaxUpload <= 0 {
		d.MaxUpload = DefaultMaxUpload
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(d.Login.Party())
	return &Handler{d: d, log: d.Log, pages: p}, nil
}

// Register adds the routes to mux, all behind sign-in:
//
//	GET  /mail/import                     the page
//	POST /mail/import/imap                start a job from an IMAP server
//	GET  /mail/import/jobs.json           the member's jobs and their progress
//	POST /mail/import/jobs/{id}/cancel    cancel a job
//	GET  /mail/import/jobs/{id}           a job's report
//	GET  /mail/import/static/             the page's script
//
// and, with Deps.Uploads, the upload protocol's (see upload.go).
func (h *Handler) Register(mux *http.ServeMux) {
	user := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.d.Login.Require(login.WithSession(fn)))
	}
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.d.Login.Require(login.Action(fn)))
	}
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/mail/import/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /mail/import/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		assets.ServeHTTP(w, r)
	})
	user("GET /mail/import", h.page)
	user("GET /mail/import/jobs.json", h.jobsJSON)
	user("GET /mail/import/jobs/{id}", h.report)
	post("POST /mail/import/imap", h.startIMAP)
	post("POST /mail/import/jobs/{id}/cancel", h.cancel)
	if h.d.Uploads != nil {
		h.registerUploads(mux, user, post)
	}
}

// provider is a choice of the form: a known server, or "other".
type provider struct {
	Value, Addr string
}

// providers are the servers the form offers (their IMAP over TLS, port
// 993, RFC 8314).
var providers = []provider{
	{"gmail", "imap.gmail.com:993"},
	{"microsoft", "outlook.office365.com:993"},
	{"other", ""},
}

// source returns the IMAP source the form describes: the provider's
// server, or the one typed ("host" or "host:port", 993 when no port is
// given): port 143 means STARTTLS (RFC 9051 section 6.2.1), any other
// TLS from the first byte (RFC 8314).
func source(providerValue, server string) (addr, security string, err error) {
	for _, p := range providers {
		if p.Value == providerValue && p.Addr != "" {
			return p.Addr, mailimport.TLSImplicit, nil
		}
	}
	if providerValue != "other" {
		return "", "", errForm
	}
	server = strings.TrimSpace(server)
	if server == "" || len(server) > maxServer || strings.ContainsAny(server, "/ \t\r\n@") {
		return "", "", errForm
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		host, port = server, "993"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || !hostOK(host) {
		return "", "", errForm
	}
	security = mailimport.TLSImplicit
	if port == "143" {
		security = mailimport.TLSStart
	}
	return net.JoinHostPort(host, port), security, nil
}

// hostOK says whether host is an IP address or a host name: letters
// (any script, for internationalised names), digits, hyphens and dots,
// neither starting nor ending with a dot or hyphen.
func hostOK(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Zone() == ""
	}
	if host == "" || strings.IndexAny(host[:1], ".-") == 0 || strings.IndexAny(host[len(host)-1:], ".-") == 0 {
		return false
	}
	for _, r := range host {
		if r != '.' && r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// errForm reports a form that is not filled in as it should be.
var errForm = errors.New("importweb: the form is not filled in right")

// startIMAP starts a job from the IMAP server of the form, once its
// address is checked.
func (h *Handler) startIMAP(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	srcLogin := strings.TrimSpace(r.PostFormValue("login"))
	password := r.PostFormValue("password")
	addr, security, err := source(r.PostFormValue("provider"), r.PostFormValue("server"))
	if err != nil || srcLogin == "" || len(srcLogin) > maxLogin || password == "" || len(password) > maxPassword {
		h.renderPage(w, r, sess, http.StatusBadRequest, l.T("importweb.error.form"))
		return
	}
	if busy, err := h.tooManyActive(r.Context(), sess.Account.ID); err != nil || busy {
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.renderPage(w, r, sess, http.StatusTooManyRequests, l.T("importweb.error.too_many", "n", maxActive))
		return
	}
	if _, err := h.d.Check.Check(r.Context(), addr); err != nil {
		msg := l.T("importweb.error.unreachable")
		if errors.Is(err, ErrNotPublic) {
			msg = l.T("importweb.error.not_public")
		}
		h.log.Info("importweb: source refused", "account", sess.Account.Login, "server", addr, "err", err)
		h.renderPage(w, r, sess, http.StatusBadRequest, msg)
		return
	}
	_, err = h.d.Imports.Start(r.Context(), mailimport.Request{
		AccountID: sess.Account.ID, Actor: sess.Account.Login, Subject: sess.Account.Login, Addr: iweb.ClientAddr(r).String(),
		Source: mailimport.SourceSpec{Kind: mailimport.KindIMAP, Addr: addr, Security: security, Login: srcLogin,
			Password: mailimport.Secret(password), Public: true},
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/mail/import?n=started", http.StatusSeeOther)
}

// tooManyActive says whether the member has maxActive unfinished jobs.
func (h *Handler) tooManyActive(ctx context.Context, accountID int64) (bool, error) {
	jobs, err := h.d.Imports.Jobs(ctx, accountID)
	if err != nil {
		return false, err
	}
	n := 0
	for _, j := range jobs {
		if active(j.State) {
			n++
		}
	}
	return n >= maxActive, nil
}

// ownJob returns the job {id} of the URL if it is the member's; else it
// answers 404 and returns false.
func (h *Handler) ownJob(w http.ResponseWriter, r *http.Request, sess auth.Session) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		iweb.Error(w, r, http.StatusNotFound)
		return 0, false
	}
	p, _, err := h.d.Imports.Progress(r.Context(), id)
	if errors.Is(err, mailimport.ErrNoJob) || err == nil && p.AccountID != sess.Account.ID {
		iweb.Error(w, r, http.StatusNotFound)
		return 0, false
	}
	if err != nil {
		h.fail(w, r, err)
		return 0, false
	}
	return id, true
}

// cancel stops one of the member's jobs.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	id, ok := h.ownJob(w, r, sess)
	if !ok {
		return
	}
	err := h.d.Imports.Cancel(r.Context(), id, sess.Account.Login)
	switch {
	case errors.Is(err, mailimport.ErrFinished):
		http.Redirect(w, r, "/mail/import?n=finished", http.StatusSeeOther)
	case err != nil:
		h.fail(w, r, err)
	default:
		http.Redirect(w, r, "/mail/import?n=cancelled", http.StatusSeeOther)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		h.log.Error("importweb", "path", r.URL.Path, "err", err)
	}
	iweb.Error(w, r, http.StatusInternalServerError)
}
