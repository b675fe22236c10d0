package webmail

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/store"
)

// group is the selected messages of one of the account's mailboxes.
type group struct {
	mb   store.Mailbox
	uids []imap.UID
}

// selection reads the selected messages: sel, repeated, each "mb/uid"
// (at most MaxSelect), grouped by mailbox. A mailbox of another account
// answers 404, as a missing one does; no selection, or a malformed one,
// 400.
func (h *Handler) selection(w http.ResponseWriter, r *http.Request, sess auth.Session) ([]group, bool) {
	vals := r.PostForm["sel"]
	if len(vals) == 0 || len(vals) > MaxSelect {
		h.badRequest(w, r, h.d.Login.Localizer(r).T("webmail.act.select", "max", MaxSelect))
		return nil, false
	}
	byMB := map[int64][]imap.UID{}
	var order []int64
	for _, v := range vals {
		rf, ok := parseRef(v)
		if !ok {
			h.badRequest(w, r, "")
			return nil, false
		}
		if _, seen := byMB[rf.MB]; !seen {
			order = append(order, rf.MB)
		}
		byMB[rf.MB] = append(byMB[rf.MB], rf.UID)
	}
	out := make([]group, 0, len(order))
	for _, id := range order {
		mb, err := h.d.Store.AccountMailbox(r.Context(), sess.Account.ID, id)
		if err != nil {
			h.storeError(w, r, err)
			return nil, false
		}
		uids := byMB[id]
		slices.Sort(uids)
		out = append(out, group{mb, slices.Compact(uids)})
	}
	return out, true
}

// act applies one action to the selected messages and sends the browser
// back where it came from (Post/Redirect/Get). The actions: read, unread,
// flag, unflag, move (to the mailbox id in dest), archive, trash (in
// Trash or Junk: delete for good), junk, notjunk.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	groups, ok := h.selection(w, r, sess)
	if !ok {
		return
	}
	do := r.PostFormValue("do")
	var dest store.Mailbox
	switch do {
	case "read", "unread", "flag", "unflag", "archive", "junk", "notjunk", "trash":
	case "move":
		if dest, ok = h.mailboxParam(w, r, sess, r.PostFormValue("dest")); !ok {
			return
		}
	default:
		h.badRequest(w, r, "")
		return
	}
	notice := do
	for _, g := range groups {
		var err error
		if err, notice = h.apply(r.Context(), sess, g, do, dest); err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	back := localBack(r.PostFormValue("back"), boxHref(groups[0].mb.ID))
	if do != "read" && do != "unread" && do != "flag" && do != "unflag" {
		back = afterRemoval(back, groups[0].mb.ID)
	}
	http.Redirect(w, r, withNotice(back, notice), http.StatusSeeOther)
}

// apply does one action on one mailbox's selection and returns the
// notice to show.
func (h *Handler) apply(ctx context.Context, sess auth.Session, g group, do string, dest store.Mailbox) (error, string) {
	switch do {
	case "read", "unread":
		return h.setFlag(ctx, g.mb, g.uids, imap.FlagSeen, do == "read"), do
	case "flag", "unflag":
		return h.setFlag(ctx, g.mb, g.uids, imap.FlagFlagged, do == "flag"), do
	case "move":
		return h.move(ctx, sess, g.mb, g.uids, dest.Name), "moved"
	case "archive":
		return h.move(ctx, sess, g.mb, g.uids, "Archive"), "archived"
	case "junk":
		return h.move(ctx, sess, g.mb, g.uids, "Junk"), "junk"
	case "notjunk":
		return h.move(ctx, sess, g.mb, g.uids, "INBOX"), "notjunk"
	}
	if g.mb.Attr == imap.MailboxAttrTrash || g.mb.Attr == imap.MailboxAttrJunk {
		return h.destroy(ctx, g.mb, g.uids), "deleted"
	}
	return h.move(ctx, sess, g.mb, g.uids, "Trash"), "trashed"
}

// afterRemoval is where to go once messages left mailbox mb: back to the
// list when back was one of those messages.
func afterRemoval(back string, mb int64) string {
	var m, u int64
	if n, _ := fmt.Sscanf(back, "/mail/msg/%d/%d", &m, &u); n == 2 {
		return boxHref(mb)
	}
	return back
}

func (h *Handler) setFlag(ctx context.Context, mb store.Mailbox, uids []imap.UID, f imap.Flag, on bool) error {
	op := imap.StoreFlagsDel
	if on {
		op = imap.StoreFlagsAdd
	}
	_, _, err := h.d.Store.StoreFlags(ctx, mb.ID, uids, op, []imap.Flag{f}, 0)
	return err
}

// move moves messages of mb (the account's) to the account's mailbox dest.
func (h *Handler) move(ctx context.Context, sess auth.Session, mb store.Mailbox, uids []imap.UID, dest string) error {
	if mb.Name == dest {
		return nil
	}
	_, _, _, err := h.d.Store.Move(ctx, mb.ID, uids, sess.Account.ID, dest)
	return err
}

// destroy deletes messages of mb for good: \Deleted, then EXPUNGE of those
// UIDs only (RFC 9051 6.4.9), as an IMAP client would.
func (h *Handler) destroy(ctx context.Context, mb store.Mailbox, uids []imap.UID) error {
	if _, _, err := h.d.Store.StoreFlags(ctx, mb.ID, uids, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		return err
	}
	_, err := h.d.Store.Expunge(ctx, mb.ID, uids)
	return err
}

// empty deletes every message of the account's Trash or Junk for good.
// Any other mailbox is refused.
func (h *Handler) empty(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mb, ok := h.mailboxParam(w, r, sess, r.PathValue("mb"))
	if !ok {
		return
	}
	if mb.Attr != imap.MailboxAttrTrash && mb.Attr != imap.MailboxAttrJunk {
		h.badRequest(w, r, h.d.Login.Localizer(r).T("webmail.act.empty_only"))
		return
	}
	uids, err := h.d.Store.UIDs(r.Context(), mb.ID)
	if err == nil && len(uids) > 0 {
		err = h.destroy(r.Context(), mb, uids)
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	http.Redirect(w, r, withNotice(boxHref(mb.ID), "emptied"), http.StatusSeeOther)
}

// badRequest answers 400 with a sentence, or the status text.
func (h *Handler) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	if msg == "" {
		msg = h.d.Login.Localizer(r).T("webmail.err.bad_request")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintln(w, msg)
}
