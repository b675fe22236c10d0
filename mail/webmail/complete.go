package webmail

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// Bounds of address completion.
const (
	maxSuggestions = 10
	maxTermRunes   = 100
	recentScan     = 200 // newest messages of Sent read for recent correspondents
)

// suggestion is one completion: what the list shows and what goes into
// the field.
type suggestion struct {
	Label string `json:"label"`
	Value string `json:"value"`
	Kind  string `json:"kind"` // "member", "group", "recent"
}

// completionTerm returns what to complete in an address field's text:
// what follows its last comma or semicolon, trimmed and lower-cased; ""
// when that is empty or too long to be a name or address being typed.
func completionTerm(field string) string {
	if i := strings.LastIndexAny(field, ",;"); i >= 0 {
		field = field[i+1:]
	}
	field = strings.TrimSpace(strings.ToValidUTF8(field, ""))
	if field == "" || utf8.RuneCountInString(field) > maxTermRunes {
		return ""
	}
	return strings.ToLower(field)
}

// matches reports whether term starts one of the words of label, or
// starts the address.
func matches(term, label, addr string) bool {
	if strings.HasPrefix(strings.ToLower(addr), term) {
		return true
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(label), func(r rune) bool {
		return r == ' ' || r == '<' || r == '>' || r == '"' || r == '.' || r == '@'
	}) {
		if strings.HasPrefix(w, term) {
			return true
		}
	}
	return false
}

// complete answers the compose form's address completion (?q= the
// field's text) with JSON: party members, groups, and the member's recent
// correspondents whose name or address starts with what is being typed.
// Only active members and the groups' addresses are offered; nothing of
// another account's mail is read.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	term := completionTerm(r.URL.Query().Get("q"))
	out := []suggestion{}
	if term != "" {
		var err error
		if out, err = h.suggest(r.Context(), sess, term); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "private, no-store")
	iweb.JSON(w, http.StatusOK, out)
}

// suggest finds up to maxSuggestions completions of term.
func (h *Handler) suggest(ctx context.Context, sess auth.Session, term string) ([]suggestion, error) {
	out := []suggestion{}
	seen := map[string]bool{}
	add := func(kind, name, addr string) bool {
		key := strings.ToLower(addr)
		if seen[key] || !matches(term, name, addr) {
			return len(out) < maxSuggestions
		}
		seen[key] = true
		v := formatAddress(name, addr)
		label := addr
		if name = cleanText(name); name != "" {
			label = name + " <" + addr + ">"
		}
		out = append(out, suggestion{Label: label, Value: v, Kind: kind})
		return len(out) < maxSuggestions
	}
	// A volunteer is not offered the member directory (auth.RoleVolunteer):
	// only groups and the people they wrote to.
	if sess.Account.Role != auth.RoleVolunteer {
		accts, err := h.d.Accounts.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			if a.State == auth.StateActive && !add("member", a.DisplayName, a.Login) {
				return out, nil
			}
		}
	}
	groups, err := h.d.Accounts.Groups(ctx)
	if err != nil {
		return nil, err
	}
	domains := h.d.Submit.OwnDomains()
	for _, g := range groups {
		for _, d := range domains {
			if !add("group", g.Name, g.Name+"@"+d) {
				return out, nil
			}
		}
	}
	for _, c := range h.recent(ctx, sess) {
		if !add("recent", c[0], c[1]) {
			return out, nil
		}
	}
	return out, nil
}

// recent returns the (name, address) pairs the member wrote to most
// recently: the To and Cc of the newest messages in Sent.
func (h *Handler) recent(ctx context.Context, sess auth.Session) [][2]string {
	sent, err := h.d.Store.Mailbox(ctx, sess.Account.ID, "Sent")
	if err != nil {
		return nil
	}
	msgs, err := h.d.Store.MessagePage(ctx, sess.Account.ID, sent.ID, 0, recentScan)
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, m := range msgs {
		if m.Envelope == nil {
			continue
		}
		for _, a := range slices.Concat(m.Envelope.To, m.Envelope.Cc) {
			if addr := a.Addr(); addr != "" {
				out = append(out, [2]string{a.Name, addr})
			}
		}
	}
	return out
}
