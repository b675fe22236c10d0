package webmail

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/store"
)

// boxView is one mailbox in the side bar.
type boxView struct {
	ID       int64
	Name     string // full name, as the Move menu shows it
	Label    string // what the side bar shows
	Depth    int    // hierarchy level, for indentation
	Unseen   uint32
	Messages uint32
	Current  bool
	Role     bool // one of a role mailbox's (shared.go)
}

// rowView is one message in a list.
type rowView struct {
	MB      int64
	UID     imap.UID
	Href    string
	From    string
	Subject string
	Date    string
	Size    string
	Seen    bool
	Flagged bool
	Attach  bool
	Draft   bool
	when    time.Time // for sorting
}

// listPage is the data of a mailbox's message list or search results.
type listPage struct {
	ui.Base
	Boxes   []boxView
	MoveTo  []boxView // the Move menu (moveTargets)
	Current store.Mailbox
	Label   string
	Rows    []rowView
	Older   string // link to the next page, "" at the end
	Newer   bool   // not on the first page
	Query   string // search text, on a search page
	Search  bool
	IsTrash bool // offer Empty
	Back    string
}

// roleOrder puts the special-use mailboxes first, in the order people
// expect them (RFC 6154 attributes).
var roleOrder = map[imap.MailboxAttr]int{
	imap.MailboxAttrDrafts: 1, imap.MailboxAttrSent: 2, imap.MailboxAttrArchive: 3,
	imap.MailboxAttrJunk: 4, imap.MailboxAttrTrash: 5,
}

// boxLabel is the name a mailbox is shown with: its last level, and for
// INBOX and the special-use mailboxes at the top (RFC 6154), which caucus
// creates with English names, the name in l's language.
func boxLabel(l *i18n.Localizer, mb store.Mailbox) string {
	if address, inner, ok := store.SplitSharedName(mb.Name); ok && inner == "INBOX" && store.IsRoleOwner(mb.AccountID) {
		return l.T("webmail.roles.shared", "addr", address)
	}
	if mb.Name == "INBOX" {
		return l.T("webmail.box.inbox")
	}
	if i := strings.LastIndexByte(mb.Name, '/'); i >= 0 {
		return mb.Name[i+1:]
	}
	switch mb.Attr {
	case imap.MailboxAttrDrafts:
		return l.T("webmail.box.drafts")
	case imap.MailboxAttrSent:
		return l.T("webmail.box.sent")
	case imap.MailboxAttrArchive:
		return l.T("webmail.box.archive")
	case imap.MailboxAttrJunk:
		return l.T("webmail.box.junk")
	case imap.MailboxAttrTrash:
		return l.T("webmail.box.trash")
	}
	return mb.Name
}

// boxFullName is a mailbox's name in the Move menu: its whole path, with
// a top-level mailbox named as in the side bar.
func boxFullName(l *i18n.Localizer, mb store.Mailbox) string {
	if strings.Contains(mb.Name, "/") {
		return mb.Name
	}
	return boxLabel(l, mb)
}

// boxes lists the account's mailboxes for the side bar: INBOX, the
// special-use ones, then the member's own and the Offboarded/ copies by
// name; then each role mailbox granted (shared.go), its INBOX first and
// its other mailboxes below it.
func boxes(l *i18n.Localizer, all []store.Mailbox, current int64) []boxView {
	rank := func(mb store.Mailbox) int {
		switch {
		case mb.Name == "INBOX":
			return 0
		case mb.Attr != "":
			return roleOrder[mb.Attr]
		}
		return 10
	}
	sorted := slices.Clone(all)
	slices.SortStableFunc(sorted, func(a, b store.Mailbox) int {
		ra, rb := store.IsRoleOwner(a.AccountID), store.IsRoleOwner(b.AccountID)
		if ra != rb {
			return cmp.Compare(boolInt(ra), boolInt(rb))
		}
		if ra {
			addrA, innerA, _ := store.SplitSharedName(a.Name)
			addrB, innerB, _ := store.SplitSharedName(b.Name)
			a.Name, b.Name = innerA, innerB
			if c := strings.Compare(addrA, addrB); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a.Name, b.Name))
	})
	out := make([]boxView, 0, len(sorted))
	for _, mb := range sorted {
		depth := strings.Count(mb.Name, "/")
		if _, inner, ok := store.SplitSharedName(mb.Name); ok && store.IsRoleOwner(mb.AccountID) {
			depth = 1 + strings.Count(inner, "/")
			if inner == "INBOX" {
				depth = 0
			}
		}
		out = append(out, boxView{
			ID: mb.ID, Name: boxFullName(l, mb), Label: boxLabel(l, mb), Depth: depth,
			Unseen: mb.Unseen, Messages: mb.Messages, Current: mb.ID == current,
			Role: store.IsRoleOwner(mb.AccountID),
		})
	}
	return out
}

// moveTargets are the mailboxes the Move menu offers for messages of
// current: the member's own. A role mailbox's are left out, and a role
// mailbox's messages get no menu at all: the member may not move into
// or out of a role mailbox (shared.go's Move; RFC 4314 "i", "t" and "e"
// are not granted).
func moveTargets(bs []boxView, current store.Mailbox) []boxView {
	if store.IsRoleOwner(current.AccountID) {
		return nil
	}
	out := make([]boxView, 0, len(bs))
	for _, b := range bs {
		if !b.Role {
			out = append(out, b)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// home sends the browser to the INBOX.
func (h *Handler) home(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	if err := h.d.Store.EnsureAccount(r.Context(), sess.Account.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	in, err := h.d.Store.Mailbox(r.Context(), sess.Account.ID, "INBOX")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, boxHref(in.ID), http.StatusSeeOther)
}

func boxHref(id int64) string { return "/mail/box/" + strconv.FormatInt(id, 10) }

func msgHref(mb int64, uid imap.UID) string {
	return fmt.Sprintf("/mail/msg/%d/%d", mb, uid)
}

// list shows one page of a mailbox, newest first; ?before=UID gives the
// page below that UID.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mb, ok := h.mailboxParam(w, r, sess, r.PathValue("mb"))
	if !ok {
		return
	}
	var before imap.UID
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			h.notFound(w, r)
			return
		}
		before = imap.UID(n)
	}
	msgs, err := h.d.Store.MessagePage(r.Context(), sess.Account.ID, mb.ID, before, PageSize)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	all, err := h.d.Store.Mailboxes(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.d.Login.Localizer(r)
	p := listPage{
		Base: h.ui(r, sess, l, boxLabel(l, mb)), Boxes: boxes(l, all, mb.ID), Current: mb, Label: boxLabel(l, mb),
		Newer: before != 0, IsTrash: mb.Attr == imap.MailboxAttrTrash || mb.Attr == imap.MailboxAttrJunk,
		Back: r.URL.RequestURI(),
	}
	p.MoveTo = moveTargets(p.Boxes, mb)
	for _, m := range msgs {
		p.Rows = append(p.Rows, h.row(l, mb.ID, m))
	}
	if len(msgs) == PageSize {
		p.Older = fmt.Sprintf("%s?before=%d", boxHref(mb.ID), msgs[len(msgs)-1].UID)
	}
	h.render(w, r, "list", p)
}

// row is a message's line in a list.
func (h *Handler) row(l *i18n.Localizer, mb int64, m store.Message) rowView {
	v := rowView{MB: mb, UID: m.UID, Href: msgHref(mb, m.UID), Size: l.Size(m.Size)}
	for _, f := range m.Flags {
		switch f {
		case imap.FlagSeen:
			v.Seen = true
		case imap.FlagFlagged:
			v.Flagged = true
		case imap.FlagDraft:
			v.Draft = true
		}
	}
	env := m.Envelope
	if env != nil {
		v.Subject = cleanText(env.Subject)
		v.From = addrList(env.From)
	}
	if v.Subject == "" {
		v.Subject = l.T("webmail.no_subject")
	}
	v.Date = h.shortDate(l, m, env)
	v.when = m.InternalDate
	v.Attach = hasAttachment(m.BodyStructure)
	return v
}

// shortDate is the date a list shows, in l's language and time zone:
// the time today, the date before.
func (h *Handler) shortDate(l *i18n.Localizer, m store.Message, env *imap.Envelope) string {
	t := m.InternalDate
	if env != nil && !env.Date.IsZero() {
		t = env.Date
	}
	if t.IsZero() {
		return ""
	}
	t = t.In(l.Location())
	now := h.d.Now().In(l.Location())
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04")
	}
	return l.Date(t)
}

// longDate is the date a message page shows.
func longDate(l *i18n.Localizer, t time.Time) string {
	return l.DateTime(t)
}

// hasAttachment reports whether a body structure has a part that is an
// attachment: a disposition of attachment, or a named part that is not
// text.
func hasAttachment(bs imap.BodyStructure) bool {
	found := false
	if bs == nil {
		return false
	}
	bs.Walk(func(path []int, part imap.BodyStructure) bool {
		if sp, ok := part.(*imap.BodyStructureSinglePart); ok {
			d := sp.Disposition()
			if d != nil && strings.EqualFold(d.Value, "attachment") || sp.Filename() != "" && !strings.EqualFold(sp.Type, "text") {
				found = true
			}
		}
		return !found
	})
	return found
}

// addrList shows a list of addresses: display names where there are, the
// address otherwise.
func addrList(as []imap.Address) string {
	var parts []string
	for _, a := range as {
		if a.IsGroupStart() || a.IsGroupEnd() {
			continue
		}
		if n := cleanText(a.Name); n != "" {
			parts = append(parts, n)
		} else {
			parts = append(parts, cleanText(a.Addr()))
		}
		if len(parts) == 5 {
			parts = append(parts, "…")
			break
		}
	}
	return strings.Join(parts, ", ")
}

// fullAddrList shows addresses with name and address, for a message page.
func fullAddrList(as []imap.Address) string {
	var parts []string
	for _, a := range as {
		if a.IsGroupStart() || a.IsGroupEnd() {
			continue
		}
		addr := cleanText(a.Addr())
		if n := cleanText(a.Name); n != "" && !strings.EqualFold(n, addr) {
			parts = append(parts, n+" <"+addr+">")
		} else {
			parts = append(parts, addr)
		}
	}
	return strings.Join(parts, ", ")
}
