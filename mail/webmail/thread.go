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

// threadCriteria are the searches that find a message's conversation:
// one per message id and field (Message-ID, References, In-Reply-To),
// each a single header match. One search with all of them ORed would
// be one query, but the store answers an OR of matches by reading every
// message of the mailbox (24 ms in a mailbox of 100,000), and each
// single match by looking its few messages up.
func threadCriteria(ids []string) []imap.SearchCriteria {
	var out []imap.SearchCriteria
	for _, id := range ids {
		for _, f := range []string{"Message-ID", "References", "In-Reply-To"} {
			out = append(out, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: f, Value: id}}})
		}
	}
	return out
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
	cs := threadCriteria(threadIDs(hdr))
	if len(cs) == 0 {
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
		var uids []imap.UID
		for i := range cs {
			found, err := h.d.Store.AccountSearch(ctx, acct, x.ID, &cs[i])
			if err != nil {
				return nil, err
			}
			uids = append(uids, found...)
		}
		slices.Sort(uids)
		uids = slices.Compact(uids)
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
