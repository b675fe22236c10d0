package webmail

import (
	"context"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/msgview"
	"github.com/caucus-org/caucus/mail/store"
)

// Bounds of a conversation.
const (
	maxThreadIDs = 8  // message ids of References searched for
	maxThread    = 50 // messages shown
)

// threadBoxes are the mailboxes a conversation is gathered from, besides
// the one the message is in.
var threadBoxes = []string{"INBOX", "Sent", "Archive"}

// threadIDs returns the message ids that tie a message to its
// conversation (RFC 5322 section 3.6.4): its own, the first of References
// (the conversation's root), In-Reply-To and the newest of References;
// at most maxThreadIDs.
func threadIDs(hdr msgview.Header) []string {
	var ids []string
	if hdr.MessageID != "" {
		ids = append(ids, hdr.MessageID)
	}
	if len(hdr.References) > 0 {
		ids = append(ids, hdr.References[0])
	}
	ids = append(ids, hdr.InReplyTo...)
	for i := len(hdr.References) - 1; i > 0 && len(ids) < maxThreadIDs; i-- {
		ids = append(ids, hdr.References[i])
	}
	ids = strings.Fields(msgIDs(strings.Join(ids, " ")))
	if len(ids) > maxThreadIDs {
		ids = ids[:maxThreadIDs]
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// threadCriteria matches a message that has one of ids as its
// Message-ID, or names one in References or In-Reply-To.
func threadCriteria(ids []string) *imap.SearchCriteria {
	var alts []imap.SearchCriteria
	for _, id := range ids {
		for _, f := range []string{"Message-ID", "References", "In-Reply-To"} {
			alts = append(alts, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: f, Value: id}}})
		}
	}
	for len(alts) > 1 { // a balanced tree of ORs, shallow for the store's bound
		var next []imap.SearchCriteria
		for i := 0; i+1 < len(alts); i += 2 {
			next = append(next, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{alts[i], alts[i+1]}}})
		}
		if len(alts)%2 == 1 {
			next = append(next, alts[len(alts)-1])
		}
		alts = next
	}
	if len(alts) == 0 {
		return nil
	}
	return &alts[0]
}

// threadRow is a message of the conversation.
type threadRow struct {
	rowView
	Current bool
}

// thread gathers the conversation of message m of mailbox mb from mb,
// INBOX, Sent and Archive: the messages tied to it by Message-ID,
// References or In-Reply-To, oldest first. It is empty when m stands
// alone.
func (h *Handler) thread(ctx context.Context, l *i18n.Localizer, acct int64, mb store.Mailbox, m store.Message, hdr msgview.Header) ([]threadRow, error) {
	c := threadCriteria(threadIDs(hdr))
	if c == nil {
		return nil, nil
	}
	scope := []store.Mailbox{mb}
	for _, name := range threadBoxes {
		if x, err := h.d.Store.Mailbox(ctx, acct, name); err == nil && x.ID != mb.ID {
			scope = append(scope, x)
		}
	}
	var rows []threadRow
	for _, x := range scope {
		uids, err := h.d.Store.AccountSearch(ctx, acct, x.ID, c)
		if err != nil {
			return nil, err
		}
		if len(uids) > maxThread {
			uids = uids[len(uids)-maxThread:]
		}
		msgs, err := h.d.Store.AccountMessages(ctx, acct, x.ID, uids)
		if err != nil {
			return nil, err
		}
		for _, t := range msgs {
			rows = append(rows, threadRow{rowView: h.row(l, x.ID, t), Current: x.ID == mb.ID && t.UID == m.UID})
		}
	}
	if len(rows) <= 1 {
		return nil, nil
	}
	slices.SortStableFunc(rows, func(a, b threadRow) int { return a.when.Compare(b.when) })
	if len(rows) > maxThread {
		rows = rows[len(rows)-maxThread:]
	}
	return rows, nil
}
