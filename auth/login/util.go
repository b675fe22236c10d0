package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// decodeJSON reads a small JSON request body strictly.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("login: bad JSON: %w", err)
	}
	return nil
}

// policyMessage gives the password policy's own words for its refusals.
func policyMessage(err error) string {
	for _, e := range []error{password.ErrTooShort, password.ErrTooLong, password.ErrCommon, password.ErrRelated} {
		if errors.Is(err, e) {
			msg := strings.TrimPrefix(err.Error(), "password: ")
			return "The password " + msg + "."
		}
	}
	return ""
}

// waitFor is how long a throttled person is told to wait: whole seconds,
// rounded up, and never less than one (a wait of 300 ms said "Wait 0s").
func waitFor(d time.Duration) time.Duration {
	return max((d+time.Second-1)/time.Second, 1) * time.Second
}

// status is code, or 429 Too Many Requests with Retry-After (RFC 6585
// section 4, RFC 9110 section 10.2.3) when err is a throttled sign-in, or
// 503 with Retry-After when it waited too long behind others in flight.
func status(w http.ResponseWriter, err error, code int) int {
	if errors.Is(err, auth.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		return http.StatusServiceUnavailable
	}
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		return code
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(waitFor(te.Wait)/time.Second)))
	return http.StatusTooManyRequests
}

// formError answers a form body that could not be read: the client was too
// slow (408), sent too much (413) or sent something unreadable (400). It is
// the client's doing, so it is logged at debug level only.
func (h *Handler) formError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadRequest
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		code = http.StatusRequestTimeout
		w.Header().Set("Connection", "close")
	case errors.As(err, &mbe):
		code = http.StatusRequestEntityTooLarge
	}
	h.log.Debug("unreadable form", "path", r.URL.Path, "status", code, "err", err)
	h.message(w, r, code, "Something is not right", "The form did not arrive in full. Try again.", "")
}

// Why a person was signed out, for the sign-in page that follows.
const (
	// SignedOutIncident: an admin switched incident mode on.
	SignedOutIncident = "incident"
)

// signedOutWhy are the sign-in page's explanations, by the signedout
// query parameter: fixed words, never text from the address.
var signedOutWhy = map[string]string{
	SignedOutIncident: "Incident mode is on: everyone was signed out, you too, every app password was revoked and public links are suspended. Sign in again; admins then confirm with their passkey or security key and see the report of what was revoked.",
}

// SignedOutURL is the sign-in page that tells why the person was signed
// out (one of the SignedOut constants) and leads to next afterwards.
func SignedOutURL(why, next string) string {
	return "/login?" + url.Values{"signedout": {why}, "next": {next}}.Encode()
}
