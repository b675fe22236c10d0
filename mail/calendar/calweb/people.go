package calweb

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/contacts"
)

// People is what the attendee field completes from: the address books
// the member sees (*contacts.Store), their own, their groups' and the
// party directory, which a volunteer is not shown.
type People interface {
	Books(ctx context.Context, m contacts.Member) ([]contacts.Book, error)
	Cards(ctx context.Context, m contacts.Member, slug string) ([]contacts.Card, error)
}

// Bounds of attendee completion.
const (
	maxPeople   = 10  // suggestions in one answer
	maxTypedLen = 100 // runes of what is typed
)

// person is one suggestion: "Name <address>", as the attendee field
// takes it.
type person struct {
	Value string `json:"value"`
}

// people answers the attendee field's completion (?q= what is typed)
// with JSON: up to maxPeople addresses of the member's address books
// whose name or address holds every word typed.
func (h *Handler) people(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	if h.d.People == nil {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	q := strings.ToLower(strings.TrimSpace(strings.ToValidUTF8(r.URL.Query().Get("q"), "")))
	out := []person{}
	if q != "" && utf8.RuneCountInString(q) <= maxTypedLen {
		var err error
		if out, err = h.findPeople(r.Context(), sess, q); err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "private, no-store")
	iweb.JSON(w, http.StatusOK, out)
}

// findPeople searches the member's books, own first, for q.
func (h *Handler) findPeople(ctx context.Context, sess auth.Session, q string) ([]person, error) {
	m := contacts.MemberOf(sess.Account)
	books, err := h.d.People.Books(ctx, m)
	if err != nil {
		return nil, err
	}
	out := []person{}
	seen := map[string]bool{}
	for _, b := range books {
		cards, err := h.d.People.Cards(ctx, m, b.Slug)
		if err != nil {
			return nil, err
		}
		for _, c := range cards {
			if h.prefilter && !mayHold(c.Data, q) {
				continue
			}
			card, err := contacts.Parse(c.Data)
			if err != nil {
				continue
			}
			name := paramText(card.PreferredValue(vcard.FieldFormattedName))
			for _, addr := range card.Values(vcard.FieldEmail) {
				key := strings.ToLower(addr)
				if seen[key] || !hasWords(q, name+" "+addr) {
					continue
				}
				seen[key] = true
				out = append(out, person{Value: addressText(name, addr)})
				if len(out) == maxPeople {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// mayHold reports whether a card's text may hold every word of q (lower
// case): a card without one of them is not parsed. Folded lines (RFC 6350
// section 3.2) are unfolded first; a word with a character vCard escapes
// (section 3.4) is not looked for in the raw text.
func mayHold(data []byte, q string) bool {
	if bytes.Contains(data, []byte("\n ")) || bytes.Contains(data, []byte("\n\t")) {
		data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n "), nil), []byte("\r\n\t"), nil)
	}
	data = bytes.ToLower(data)
	for w := range strings.FieldsSeq(q) {
		if !strings.ContainsAny(w, ",;\\") && !bytes.Contains(data, []byte(w)) {
			return false
		}
	}
	return true
}

// hasWords reports whether every word of q (lower case) is in s, in any
// case.
func hasWords(q, s string) bool {
	s = strings.ToLower(s)
	for w := range strings.FieldsSeq(q) {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
