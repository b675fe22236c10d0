package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/store"
)

// Phish is what the phishing pages work with (*phish.Service): members'
// reports, the block list, and removing a message from every mailbox.
type Phish interface {
	Open(ctx context.Context, limit int) ([]phish.Case, error)
	Case(ctx context.Context, id int64) (phish.Case, error)
	Where(ctx context.Context, c phish.Case) ([]store.Found, error)
	RemoveEverywhere(ctx context.Context, actor, addr string, id int64, wholeDomain bool) (phish.Outcome, error)
	Dismiss(ctx context.Context, actor, addr string, id int64) error
	Blocks(ctx context.Context) ([]phish.Block, error)
	AddBlock(ctx context.Context, actor, addr, sender, reason string) error
	RemoveBlock(ctx context.Context, actor, addr, sender string) error
}

// maxCases bounds the reports page; older open cases show once newer ones
// are handled.
const maxCases = 200

// phishView is the data of the phishing pages.
type phishView struct {
	Cases  []phish.Case
	Blocks []phish.Block
	Case   phish.Case
	Where  []whereRow // the case's copies, by member
	Copies int
}

// whereRow is one member's copies of a reported message.
type whereRow struct {
	Account   auth.Account
	Mailboxes []string
}

func (h *Handler) phishRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/phish":                h.phishPage,
		"GET /admin/phish/{id}":           h.phishCase,
		"POST /admin/phish/{id}/remove":   h.action(h.phishRemove),
		"POST /admin/phish/{id}/dismiss":  h.action(h.phishDismiss),
		"POST /admin/phish/blocks":        h.action(h.phishBlock),
		"POST /admin/phish/blocks/remove": h.action(h.phishUnblock),
	}
}

func (h *Handler) phishPage(w http.ResponseWriter, r *http.Request) {
	if h.d.Phish == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	ctx := r.Context()
	cases, err := h.d.Phish.Open(ctx, maxCases)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	blocks, err := h.d.Phish.Blocks(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Base: h.base(r, h.loc(r).T("console.nav.phish")), Phish: &phishView{Cases: cases, Blocks: blocks}}
	h.render(w, r, http.StatusOK, "phish", p)
}

// phishCase shows one reported message, who reported it and every
// mailbox it is in now, before the admin decides.
func (h *Handler) phishCase(w http.ResponseWriter, r *http.Request) {
	c, ok := h.phishCaseOf(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	found, err := h.d.Phish.Where(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &phishView{Case: c, Copies: len(found)}
	if v.Where, err = h.byAccount(ctx, found); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "phishcase", page{Base: h.base(r, h.loc(r).T("console.phish.case_title")), Phish: v})
}

func (h *Handler) phishCaseOf(w http.ResponseWriter, r *http.Request) (phish.Case, bool) {
	if h.d.Phish == nil {
		web.Error(w, r, http.StatusNotFound)
		return phish.Case{}, false
	}
	return byPathID(h, w, r, h.d.Phish.Case, phish.ErrNoReport)
}

// phishRemove blocks the sender (or the domain) and removes the message
// from every mailbox.
func (h *Handler) phishRemove(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	c, ok := h.phishCaseOf(w, r)
	if !ok {
		return
	}
	out, err := h.d.Phish.RemoveEverywhere(r.Context(), sess.Account.Login, web.ClientAddr(r).String(), c.ID, r.PostFormValue("domain") == "on")
	if errors.Is(err, phish.ErrInvalid) {
		h.done(w, r, "/admin/phish", notice{Error: h.loc(r).T("console.phish.not_actionable")})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.loc(r)
	text := l.T("console.phish.removed", "n", len(out.Removed), "accounts", out.Accounts)
	if out.Blocked != "" {
		text += " " + l.T("console.phish.blocked", "sender", out.Blocked)
	}
	h.done(w, r, "/admin/phish", notice{Text: text})
}

func (h *Handler) phishDismiss(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	c, ok := h.phishCaseOf(w, r)
	if !ok {
		return
	}
	if err := h.d.Phish.Dismiss(r.Context(), sess.Account.Login, web.ClientAddr(r).String(), c.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, "/admin/phish", notice{Text: h.loc(r).T("console.phish.dismissed")})
}

func (h *Handler) phishBlock(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	if h.d.Phish == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	sender := strings.TrimSpace(r.PostFormValue("sender"))
	err := h.d.Phish.AddBlock(r.Context(), sess.Account.Login, web.ClientAddr(r).String(), sender, r.PostFormValue("reason"))
	if errors.Is(err, phish.ErrInvalid) {
		h.done(w, r, "/admin/phish", notice{Error: h.loc(r).T("console.phish.bad_sender", "sender", sender)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, "/admin/phish", notice{Text: h.loc(r).T("console.phish.blocked", "sender", strings.ToLower(sender))})
}

func (h *Handler) phishUnblock(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	if h.d.Phish == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	sender := r.PostFormValue("sender")
	err := h.d.Phish.RemoveBlock(r.Context(), sess.Account.Login, web.ClientAddr(r).String(), sender)
	if err != nil && !errors.Is(err, phish.ErrInvalid) {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, "/admin/phish", notice{Text: h.loc(r).T("console.phish.unblocked", "sender", sender)})
}
