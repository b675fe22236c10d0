package webmail

import (
	"net/http"
	"slices"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/store"
)

// maxResults bounds the messages a search page shows, newest first, over
// all the mailboxes searched.
const maxResults = 200

// search runs the search box's query (?q=) in the mailbox ?mb= (the
// account's; in:Name or in:all in the query override it) and lists the
// newest matches.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx := r.Context()
	raw := r.URL.Query().Get("q")
	q := parseQuery(raw)
	all, err := h.d.Store.Mailboxes(ctx, sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.d.Login.Localizer(r)
	scope, ok := h.searchScope(w, r, l, sess, all, q)
	if !ok {
		return
	}
	title := l.T("webmail.search.title")
	p := listPage{Base: h.ui(r, sess, l, title), Boxes: boxes(l, all, 0), Label: title, Query: raw, Search: true, Back: r.URL.RequestURI()}
	p.MoveTo = moveTargets(p.Boxes, store.Mailbox{})
	if len(q.Ignored) > 0 {
		p.Notice = l.T("webmail.search.ignored", "words", cleanText(strings.Join(q.Ignored, " ")))
	}
	if !q.empty() {
		if p.Rows, err = h.runSearch(r, l, sess, scope, q); err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	h.render(w, r, "list", p)
}

// searchScope returns the mailboxes a query searches: in:all every one,
// in:Name that one (404 if the account has none of the name), else the
// ?mb= mailbox or, without one, INBOX.
func (h *Handler) searchScope(w http.ResponseWriter, r *http.Request, l *i18n.Localizer, sess auth.Session, all []store.Mailbox, q query) ([]store.Mailbox, bool) {
	switch {
	case q.In == "*":
		return all, true
	case q.In != "":
		for _, mb := range all {
			if strings.EqualFold(mb.Name, q.In) || strings.EqualFold(boxLabel(l, mb), q.In) {
				return []store.Mailbox{mb}, true
			}
		}
		h.notFound(w, r)
		return nil, false
	case r.URL.Query().Get("mb") != "":
		mb, ok := h.mailboxParam(w, r, sess, r.URL.Query().Get("mb"))
		return []store.Mailbox{mb}, ok
	}
	for _, mb := range all {
		if mb.Name == "INBOX" {
			return []store.Mailbox{mb}, true
		}
	}
	return nil, true
}

// runSearch searches each mailbox of scope with the store's full-text
// search and returns the newest maxResults matches.
func (h *Handler) runSearch(r *http.Request, l *i18n.Localizer, sess auth.Session, scope []store.Mailbox, q query) ([]rowView, error) {
	ctx := r.Context()
	type hit struct {
		mb store.Mailbox
		m  store.Message
	}
	var hits []hit
	c := q.criteria()
	for _, mb := range scope {
		uids, err := h.d.Store.AccountSearch(ctx, sess.Account.ID, mb.ID, c)
		if err != nil {
			return nil, err
		}
		slices.Sort(uids)
		if len(uids) > maxResults {
			uids = uids[len(uids)-maxResults:]
		}
		msgs, err := h.d.Store.AccountMessages(ctx, sess.Account.ID, mb.ID, uids)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if !q.Attachment || hasAttachment(m.BodyStructure) {
				hits = append(hits, hit{mb, m})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return b.m.InternalDate.Compare(a.m.InternalDate) })
	if len(hits) > maxResults {
		hits = hits[:maxResults]
	}
	rows := make([]rowView, len(hits))
	for i, x := range hits {
		rows[i] = h.row(l, x.mb.ID, x.m)
	}
	return rows, nil
}
