package connauth

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/caucus-org/caucus/auth"
)

// BasicRealm is how an HTTP protocol (WebDAV, CalDAV, CardDAV) asks for
// an app password: its realm and the words of its 401.
type BasicRealm struct {
	Realm string // e.g. "caucus files"
	Hint  string // e.g. "sign in with a files app password"
}

// Unauthorized answers 401 with a Basic challenge (RFC 7617 section 2,
// UTF-8 charset).
func (b BasicRealm) Unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+b.Realm+`", charset="UTF-8"`)
	http.Error(w, b.Hint, http.StatusUnauthorized)
}

// SignInBasic opens a connection for an HTTP request from addr and signs
// it in with the request's Basic credentials (an app password of the
// gate's scope). On success the caller serves the request under the
// connection's context (revocation cancels it) and closes it. Otherwise
// it has answered: 401 with the challenge, or 429 with Retry-After for
// a throttled address or an account at its connection limit (RFC 6585
// section 4), and returns nil.
func (g *Gate) SignInBasic(w http.ResponseWriter, r *http.Request, addr netip.Addr, b BasicRealm) *Conn {
	login, secret, ok := r.BasicAuth()
	if !ok {
		b.Unauthorized(w)
		return nil
	}
	c := g.Open(r.Context(), addr)
	err := c.SignIn(login, secret, r.UserAgent(), nil)
	if err == nil && c.Context().Err() == nil {
		return c
	}
	c.Close()
	var te *auth.ThrottledError
	switch {
	case err == nil: // revoked at once
		b.Unauthorized(w)
	case errors.As(err, &te):
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many failed sign-ins", http.StatusTooManyRequests)
	case errors.Is(err, ErrTooManyConns):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests at once for this account", http.StatusTooManyRequests)
	default:
		c.Log.Debug("sign-in refused", "err", err)
		b.Unauthorized(w)
	}
	return nil
}
