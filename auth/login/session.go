package login

import (
	"net/http"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/web"
)

// SessionHandler serves a request of the signed-in session.
type SessionHandler func(http.ResponseWriter, *http.Request, auth.Session)

// WithSession hands fn the session [Handler.Require] put in the request's
// context.
func WithSession(fn SessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := SessionFrom(r.Context())
		fn(w, r, sess)
	}
}

// Action is [WithSession] for a state-changing request: its CSRF token,
// the form's csrf field or a page script's X-CSRF-Token header, must be
// the session's ([ValidCSRF]); else 403.
func Action(fn SessionHandler) http.HandlerFunc {
	return WithSession(CheckCSRF(fn))
}

// CheckCSRF wraps fn with the token check of [Action].
func CheckCSRF(fn SessionHandler) SessionHandler {
	return func(w http.ResponseWriter, r *http.Request, sess auth.Session) {
		tok := r.Header.Get("X-CSRF-Token")
		if tok == "" {
			tok = r.PostFormValue("csrf")
		}
		if !ValidCSRF(sess, tok) {
			web.Error(w, r, http.StatusForbidden)
			return
		}
		fn(w, r, sess)
	}
}
