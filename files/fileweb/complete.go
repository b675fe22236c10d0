package fileweb

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// Bounds of the share form's completion.
const (
	maxSuggestions = 10
	maxTermRunes   = 100
)

// suggestion is one completion of the share form's "with" field: what
// the list shows and what goes into the field.
type suggestion struct {
	Label string `json:"label"`
	Value string `json:"value"`
	Kind  string `json:"kind"` // "member" or "group"
}

// completionTerm is the lower-cased, trimmed text to complete, without a
// leading "group:" (then onlyGroups); "" when empty or too long to be a
// name being typed.
func completionTerm(q string) (term string, onlyGroups bool) {
	q = strings.ToLower(strings.TrimSpace(strings.ToValidUTF8(q, "")))
	q, onlyGroups = strings.CutPrefix(q, "group:")
	if q = strings.TrimSpace(q); utf8.RuneCountInString(q) > maxTermRunes {
		return "", false
	}
	return q, onlyGroups
}

// wordPrefix reports whether term starts s or one of the words of s.
func wordPrefix(term, s string) bool {
	s = strings.ToLower(s)
	if strings.HasPrefix(s, term) {
		return true
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '.' || r == '@' || r == '-' || r == '_' }) {
		if strings.HasPrefix(w, term) {
			return true
		}
	}
	return false
}

// complete answers the share form's completion (?q= the field's text)
// with JSON: active members other than oneself, then groups, whose name
// or address starts with what is being typed. A group's value is
// "group:name", the form the share form takes.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	out := []suggestion{}
	if term, onlyGroups := completionTerm(r.URL.Query().Get("q")); term != "" {
		var err error
		if out, err = h.suggest(r.Context(), sess, term, onlyGroups); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "private, no-store")
	iweb.JSON(w, http.StatusOK, out)
}

// suggest finds up to maxSuggestions members (unless onlyGroups) and
// groups matching term.
func (h *Handler) suggest(ctx context.Context, sess auth.Session, term string, onlyGroups bool) ([]suggestion, error) {
	out := []suggestion{}
	// A volunteer is not offered the member directory (auth.RoleVolunteer).
	onlyGroups = onlyGroups || sess.Account.Role == auth.RoleVolunteer
	accts, err := h.svc.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		if len(out) == maxSuggestions {
			return out, nil
		}
		if onlyGroups || a.State != auth.StateActive || a.ID == sess.Account.ID || !(wordPrefix(term, a.Login) || wordPrefix(term, a.DisplayName)) {
			continue
		}
		label := a.Login
		if a.DisplayName != "" {
			label = a.DisplayName + " <" + a.Login + ">"
		}
		out = append(out, suggestion{Label: label, Value: a.Login, Kind: "member"})
	}
	groups, err := h.svc.Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if len(out) == maxSuggestions {
			break
		}
		if wordPrefix(term, g.Name) {
			out = append(out, suggestion{Label: g.Name, Value: "group:" + g.Name, Kind: "group"})
		}
	}
	return out, nil
}
