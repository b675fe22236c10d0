package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

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
