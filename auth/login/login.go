// Package login serves caucus's sign-in pages: password and second factor,
// passkey sign-in, invite enrolment (password → passkey, security key or
// TOTP → recovery codes), step-up, and the account security page. It also
// provides the middleware through which every other web page of caucus reads
// the signed-in session.
//
// Sessions live on the server; the browser holds a random token in a
// __Host- cookie (HttpOnly, Secure, SameSite=Lax). Every state-changing form
// carries the session's CSRF token, on top of the cross-origin protection of
// internal/web.
package login

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
)

// Cookie names. The __Host- prefix makes the browser refuse them unless they
// are Secure, host-only and for path /.
const (
	SessionCookie  = "__Host-caucus"
	CeremonyCookie = "__Host-caucus-pk"
	// DeviceCookie marks a browser that has signed in to an account
	// before: its password sign-ins are not held up by guesses made
	// elsewhere (auth.Service.DeviceToken).
	DeviceCookie = "__Host-caucus-device"
)

// deviceMaxAge is how long the browser keeps the device cookie.
const deviceMaxAge = 90 * 24 * time.Hour

//go:embed templates/*.html
var templateFS embed.FS

// Handler serves the sign-in and account pages.
type Handler struct {
	svc   *auth.Service
	log   *slog.Logger
	pages *ui.Pages
	party ui.Party
}

// Option changes a Handler made by New.
type Option func(*Handler)

// WithParty gives the pages the party's name, look, default language and
// time zone (by default: "caucus", English, the server's zone).
func WithParty(p ui.Party) Option { return func(h *Handler) { h.party = p } }

// New builds the handler.
func New(svc *auth.Service, log *slog.Logger, opts ...Option) (*Handler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{svc: svc, log: log, pages: pages}
	for _, o := range opts {
		o(h)
	}
	pages.SetParty(h.party)
	h.party = pages.Party()
	return h, nil
}

// Party is the party's name, look and language that the pages show.
func (h *Handler) Party() ui.Party { return h.party }

// Localizer returns the localizer for a request: the signed-in member's
// language setting, else the browser's Accept-Language, else the party's
// default, in the party's time zone. Other packages' pages use it too.
func (h *Handler) Localizer(r *http.Request) *i18n.Localizer {
	lang := ""
	if sess, ok := SessionFrom(r.Context()); ok {
		lang = sess.Account.Language
	}
	return h.pages.Localizer(r, lang)
}

// Register adds the handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", ui.StaticFor(h.party))

	mux.HandleFunc("GET /login", h.getLogin)
	mux.HandleFunc("POST /login", h.postLogin)
	mux.HandleFunc("GET /login/second", h.stage(h.getSecond, auth.StageSecond, auth.StageFull))
	mux.HandleFunc("POST /login/totp", h.form(h.postTOTP, auth.StageSecond, auth.StageFull))
	mux.HandleFunc("POST /login/recovery", h.form(h.postRecovery, auth.StageSecond))
	mux.HandleFunc("POST /login/webauthn/begin", h.api(h.webauthnBegin, auth.StageSecond, auth.StageFull))
	mux.HandleFunc("POST /login/webauthn/finish", h.api(h.webauthnFinish, auth.StageSecond, auth.StageFull))
	mux.HandleFunc("POST /login/passkey/begin", h.passkeyBegin)
	mux.HandleFunc("POST /login/passkey/finish", h.passkeyFinish)
	mux.HandleFunc("POST /logout", h.form(h.logout, auth.StageSecond, auth.StageEnrol, auth.StageFull))

	mux.HandleFunc("GET /enrol/{token}", h.getInvite)
	mux.HandleFunc("POST /enrol/{token}", h.postInvite)
	mux.HandleFunc("GET /enrol", h.stage(h.getEnrol, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("POST /enrol/totp/start", h.form(h.totpStart, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("GET /enrol/totp", h.stage(h.getTOTP, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("GET /enrol/totp/qr.png", h.stage(h.totpQR, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("POST /enrol/totp", h.form(h.totpFinish, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("POST /webauthn/register/begin", h.api(h.registerBegin, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("POST /webauthn/register/finish", h.api(h.registerFinish, auth.StageEnrol, auth.StageFull))
	mux.HandleFunc("GET /enrol/recovery", h.stage(h.getRecovery, auth.StageFull))
	mux.HandleFunc("POST /enrol/recovery", h.form(h.postRecoveryCodes, auth.StageFull))
	mux.HandleFunc("POST /enrol/recovery/download", h.form(h.downloadRecoveryCodes, auth.StageFull))

	mux.HandleFunc("GET /account", h.stage(h.getAccount, auth.StageFull))
	mux.HandleFunc("POST /account/language", h.form(h.setLanguage, auth.StageFull))
	mux.HandleFunc("POST /account/share-mail", h.form(h.setShareMail, auth.StageFull))
	mux.HandleFunc("POST /account/password", h.form(h.changePassword, auth.StageFull))
	mux.HandleFunc("POST /account/name", h.form(h.changeName, auth.StageFull))
	mux.HandleFunc("POST /account/factors/{id}/rename", h.form(h.renameFactor, auth.StageFull))
	mux.HandleFunc("POST /account/factors/{id}/remove", h.form(h.removeFactor, auth.StageFull))
	mux.HandleFunc("POST /account/app-passwords", h.form(h.createAppPassword, auth.StageFull))
	mux.HandleFunc("POST /account/app-passwords/{id}/revoke", h.form(h.revokeAppPassword, auth.StageFull))
	mux.HandleFunc("POST /account/sessions/{id}/revoke", h.form(h.endSession, auth.StageFull))
	mux.HandleFunc("POST /account/sessions/revoke-all", h.form(h.endAllSessions, auth.StageFull))
	mux.HandleFunc("GET /reauth", h.stage(h.getReauth, auth.StageFull))
}

type ctxKey struct{}

// SessionFrom returns the session that [Handler.Require] put in the request context.
func SessionFrom(ctx context.Context) (auth.Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(auth.Session)
	return s, ok
}

// Require lets a request through only with a full session (password and
// second factor, or passkey). Anything less is sent to the one page its stage
// allows; there is no way around enrolment.
func (h *Handler) Require(next http.Handler) http.Handler {
	return h.stage(next.ServeHTTP, auth.StageFull)
}

// RequireAdmin is [Handler.Require] for admins only.
func (h *Handler) RequireAdmin(next http.Handler) http.Handler {
	return h.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := SessionFrom(r.Context())
		if !sess.Account.IsAdmin() {
			l := h.Localizer(r)
			h.message(w, r, http.StatusForbidden, l.T("error.not_allowed.title"), l.T("error.not_allowed.admins"), "/")
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func (h *Handler) client(r *http.Request) auth.Client {
	c := auth.Client{Addr: web.ClientAddr(r), UserAgent: r.UserAgent()}
	if d, err := r.Cookie(DeviceCookie); err == nil {
		c.Device = d.Value
	}
	return c
}

// rememberDevice gives the browser a device cookie after a full sign-in
// with the session token.
func (h *Handler) rememberDevice(w http.ResponseWriter, r *http.Request, token string) {
	sess, err := h.svc.Session(r.Context(), token)
	if err != nil || sess.Stage != auth.StageFull {
		return
	}
	setCookie(w, DeviceCookie, h.svc.DeviceToken(sess.Account.Login), deviceMaxAge)
}

func (h *Handler) session(r *http.Request) (auth.Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return auth.Session{}, auth.ErrSessionInvalid
	}
	return h.svc.Session(r.Context(), c.Value)
}

// redirectFor sends a session to the page its stage allows.
func (h *Handler) redirectFor(w http.ResponseWriter, r *http.Request, st auth.Stage) {
	switch st {
	case auth.StageSecond:
		http.Redirect(w, r, "/login/second", http.StatusSeeOther)
	case auth.StageEnrol:
		http.Redirect(w, r, "/enrol", http.StatusSeeOther)
	case auth.StageFull:
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	default:
		q := ""
		if r.Method == http.MethodGet && r.URL.Path != "/" {
			q = "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, "/login"+q, http.StatusSeeOther)
	}
}

// stage wraps a handler that needs a session in one of the given stages.
func (h *Handler) stage(fn http.HandlerFunc, stages ...auth.Stage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := h.session(r)
		if err != nil {
			if !errors.Is(err, auth.ErrSessionInvalid) {
				h.fail(w, r, err)
				return
			}
			clearCookie(w, SessionCookie)
			h.redirectFor(w, r, "")
			return
		}
		ok := false
		for _, st := range stages {
			ok = ok || sess.Stage == st
		}
		if !ok {
			h.redirectFor(w, r, sess.Stage)
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

// form wraps a state-changing form handler: the session's CSRF token must
// come with the form.
func (h *Handler) form(fn http.HandlerFunc, stages ...auth.Stage) http.HandlerFunc {
	return h.stage(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := SessionFrom(r.Context())
		if !ValidCSRF(sess, r.PostFormValue("csrf")) {
			l := h.Localizer(r)
			h.message(w, r, http.StatusForbidden, l.T("error.form_expired.title"), l.T("error.form_expired.text"), "")
			return
		}
		fn(w, r)
	}, stages...)
}

// api wraps a JSON endpoint for the WebAuthn script: CSRF token in a header,
// JSON errors instead of redirects.
func (h *Handler) api(fn http.HandlerFunc, stages ...auth.Stage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := h.session(r)
		if err != nil {
			web.JSON(w, http.StatusUnauthorized, map[string]string{"error": h.Localizer(r).T("error.session_ended_reload")})
			return
		}
		ok := false
		for _, st := range stages {
			ok = ok || sess.Stage == st
		}
		if !ok || !ValidCSRF(sess, r.Header.Get("X-CSRF-Token")) {
			web.JSON(w, http.StatusForbidden, map[string]string{"error": h.Localizer(r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))).T("error.not_allowed_here")})
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

// ValidCSRF reports whether got is the session's CSRF token (constant time).
func ValidCSRF(sess auth.Session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) setSession(w http.ResponseWriter, token string) {
	setCookie(w, SessionCookie, token, h.svc.Config().AbsoluteTimeout)
}

// localNext keeps a post-sign-in destination only if it is a path on this
// site (no open redirect).
func localNext(next string) string {
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/account"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/account"
	}
	return next
}

// page is what every template gets.
type page struct {
	// What the layout reads (see ui.Base).
	Title, Error, Notice, CSRF string
	UserName                   string
	IsAdmin                    bool
	L                          *i18n.Localizer

	User      *auth.Account
	SessionID int64
	Next      string
	Login     string
	Token     string
	Message   string
	Link      string

	Invite       auth.Invite
	Enrolling    bool
	TOTPAllowed  bool
	KeysNeed     int // passkeys or security keys the role holds (an officer's two)
	KeysHave     int // of them, enrolled so far
	HasWebAuthn  bool
	HasTOTP      bool
	StepUp       bool
	Secret       string
	OTPAuth      template.URL // the otpauth:// address of a key being added
	Codes        []string
	Left         int
	Factors      []auth.Factor
	RecoveryLeft int
	AppPasswords []auth.AppPasswordInfo
	AppPassword  auth.AppPasswordInfo
	Sessions     []auth.Session
	Languages    []language
	ShareMail    bool   // the member gets mail when something is shared with them
	Device       string // the profile form's device name, typed before a step-up
}

// language is one choice of the account page's language menu.
type language struct {
	Code, Name string
	Selected   bool
}

// Localizer is the page's language, for ui.Pages.Render.
func (p page) Localizer() *i18n.Localizer { return p.L }

// KindName is a factor kind in the page's language.
func (p page) KindName(k auth.FactorKind) string {
	switch k {
	case auth.KindPasskey:
		return p.L.T("account.kind.passkey")
	case auth.KindSecurityKey:
		return p.L.T("account.kind.security_key")
	case auth.KindTOTP:
		return p.L.T("account.kind.totp")
	}
	return string(k)
}

// totpDefaultName is the name auth gives an authenticator app until its
// owner renames it.
const totpDefaultName = "Authenticator app"

// FactorName is a factor's name as the page shows it: the name auth gives
// every authenticator app is shown in the page's language.
func (p page) FactorName(f auth.Factor) string {
	if f.Kind == auth.KindTOTP && f.Name == totpDefaultName {
		return p.L.T("second.totp.heading")
	}
	return f.Name
}

// ScopeName is what an app password opens, in the page's language.
func (p page) ScopeName(sc auth.Scope) string {
	switch sc {
	case auth.ScopeMail:
		return p.L.T("account.scope.mail")
	case auth.ScopeFiles:
		return p.L.T("account.scope.files")
	case auth.ScopeCalendar:
		return p.L.T("account.scope.calendar")
	case auth.ScopeMail | auth.ScopeFiles:
		return p.L.T("account.scope.both")
	case auth.ScopeAll:
		return p.L.T("account.scope.all")
	}
	return sc.String()
}

// RoleName is a role in the page's language.
func (p page) RoleName(r auth.Role) string {
	switch r {
	case auth.RoleAdmin:
		return p.L.T("account.role.admin")
	case auth.RoleOfficer:
		return p.L.T("account.role.officer")
	case auth.RoleVolunteer:
		return p.L.T("account.role.volunteer")
	}
	return p.L.T("account.role.member")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if p.L == nil {
		p.L = h.Localizer(r)
	}
	if sess, ok := SessionFrom(r.Context()); ok {
		p.CSRF = sess.CSRF
		p.SessionID = sess.ID
		if sess.Stage == auth.StageFull {
			a := sess.Account
			p.User = &a
		}
	}
	if p.User != nil {
		p.UserName, p.IsAdmin = p.User.DisplayName, p.User.IsAdmin()
	}
	if err := h.pages.Render(w, code, name, p); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		web.Error(w, r, http.StatusInternalServerError)
	}
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request, code int, title, msg, link string) {
	h.render(w, r, code, "message", page{Title: title, Message: msg, Link: link})
}

// userMessage turns a service error into words for the person, in their
// language, without internal detail; the detail is in the log and the
// audit log.
func userMessage(l *i18n.Localizer, err error) string {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te) && te.Shared:
		return l.T("error.throttled_shared", "n", int(waitFor(te.Wait)/time.Second))
	case errors.As(err, &te):
		return l.T("error.throttled", "n", int(waitFor(te.Wait)/time.Second))
	case errors.Is(err, auth.ErrBusy):
		return l.T("error.busy")
	case errors.Is(err, auth.ErrBadCredentials):
		return l.T("error.bad_credentials")
	case errors.Is(err, auth.ErrBadCode):
		return l.T("error.bad_code")
	case errors.Is(err, auth.ErrInactive):
		return l.T("error.inactive")
	case errors.Is(err, auth.ErrNeedsFactor):
		return l.T("error.needs_factor")
	case errors.Is(err, auth.ErrInviteInvalid):
		return l.T("error.invite_invalid")
	case errors.Is(err, auth.ErrLastFactor):
		return l.T("error.last_factor")
	case errors.Is(err, auth.ErrNeedWebAuthn):
		return l.T("error.need_webauthn")
	case errors.Is(err, auth.ErrSessionInvalid):
		return l.T("error.session_ended")
	case errors.Is(err, auth.ErrNotFound):
		return l.T("error.not_found")
	case errors.Is(err, auth.ErrStepUp):
		return l.T("error.step_up")
	case errors.Is(err, auth.ErrInvalid):
		return invalidMessage(l, err)
	}
	return ""
}

// invalidMessage words an auth.ErrInvalid. The checks a person meets on
// these pages have words in the catalogue; any other check's own detail
// is English, so in another language the person gets the catalogue's
// general words instead.
func invalidMessage(l *i18n.Localizer, err error) string {
	msg := ""
	if i := strings.LastIndex(err.Error(), "invalid input: "); i >= 0 {
		msg = err.Error()[i+len("invalid input: "):]
	}
	switch {
	case strings.Contains(msg, "a name of 1 to 64 characters"):
		return l.T("error.invalid.name")
	case strings.Contains(msg, "remove the current authenticator app first"):
		return l.T("error.invalid.one_totp")
	case strings.Contains(msg, "cannot hold a passkey"):
		return l.T("error.invalid.no_passkey_room")
	case strings.Contains(msg, "sign-in timed out"):
		return l.T("error.invalid.timed_out")
	case strings.Contains(msg, "no passkey or security key on this account"):
		return l.T("error.invalid.no_key")
	case msg == "" || l.Lang() != i18n.Fallback: // no detail (go-webauthn's can be empty): no panic, no "auth:" text
		return l.T("error.not_accepted")
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// fail answers an error: a known one in words, an unknown one as a generic
// 500 with the detail only in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrStepUp) {
		http.Redirect(w, r, "/reauth?next=/account", http.StatusSeeOther)
		return
	}
	l := h.Localizer(r)
	if msg := userMessage(l, err); msg != "" {
		h.message(w, r, status(w, err, http.StatusBadRequest), l.T("error.title"), msg, "")
		return
	}
	if clientGone(r, err) {
		h.log.Debug("request ended by the client", "path", r.URL.Path, "err", err)
		web.Error(w, r, http.StatusRequestTimeout)
		return
	}
	h.log.Error("request failed", "path", r.URL.Path, "err", err)
	web.Error(w, r, http.StatusInternalServerError)
}

// clientGone reports whether err comes from the request's context having
// ended: the client hung up or its connection timed out (a slow body). That
// is the client's doing, not a server error.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && errors.Is(err, r.Context().Err())
}

func (h *Handler) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	l := h.Localizer(r)
	msg := userMessage(l, err)
	if msg == "" && clientGone(r, err) {
		h.log.Debug("request ended by the client", "path", r.URL.Path, "err", err)
		web.JSON(w, http.StatusRequestTimeout, map[string]string{"error": l.T("error.too_slow")})
		return
	}
	if msg == "" {
		h.log.Error("request failed", "path", r.URL.Path, "err", err)
		web.JSON(w, http.StatusInternalServerError, map[string]string{"error": l.T("error.server")})
		return
	}
	if errors.Is(err, auth.ErrStepUp) {
		web.JSON(w, http.StatusForbidden, map[string]string{"error": l.T("error.step_up_reload"), "next": "/reauth?next=/enrol"})
		return
	}
	web.JSON(w, status(w, err, http.StatusBadRequest), map[string]string{"error": msg})
}

// RenderError writes the page for an error status code in the layout, in
// the reader's language (the member's setting, else Accept-Language), for
// [web.ErrorPages]. It writes nothing when it fails, and never calls
// [web.Error] itself, so a broken page cannot loop.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, code int) error {
	if _, ok := SessionFrom(r.Context()); !ok {
		// An address no route takes passed no Require: the member's
		// language and navigation come from their cookie, if any.
		if sess, err := h.session(r); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
		}
	}
	l := h.Localizer(r)
	p := page{L: l}
	switch code {
	case http.StatusNotFound:
		p.Title, p.Message = l.T("pages.error.notfound.title"), l.T("pages.error.notfound.text")
	case http.StatusMethodNotAllowed:
		p.Title, p.Message = l.T("pages.error.method.title"), l.T("pages.error.method.text")
	case http.StatusForbidden:
		p.Title, p.Message = l.T("pages.error.forbidden.title"), l.T("pages.error.forbidden.text")
	case http.StatusRequestEntityTooLarge:
		p.Title, p.Message = l.T("pages.error.toolarge.title"), l.T("pages.error.toolarge.text")
	case http.StatusTooManyRequests:
		p.Title, p.Message = l.T("pages.error.toomany.title"), l.T("pages.error.toomany.text")
	default:
		if code < 500 {
			p.Title, p.Message = l.T("pages.error.bad.title"), l.T("pages.error.bad.text")
		} else {
			p.Title, p.Message = l.T("pages.error.server.title"), l.T("pages.error.server.text")
		}
	}
	if sess, ok := SessionFrom(r.Context()); ok && sess.Stage == auth.StageFull {
		p.CSRF, p.UserName, p.IsAdmin = sess.CSRF, sess.Account.DisplayName, sess.Account.IsAdmin()
	}
	return h.pages.Render(w, code, "error", p)
}
