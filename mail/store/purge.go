package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/db"
)

// Removing one message from every mailbox of the party: what an admin
// does with a phishing message that members reported (mail/phish).

// Match names a message wherever it was delivered: its Message-ID
// (RFC 5322 section 3.6.4, without the angle brackets) and the address of
// its first From. Both must match: a Message-ID alone is the sender's to
// choose, and a phisher could copy a real message's to have it removed too.
type Match struct {
	MessageID string
	From      string // local@domain, compared without regard to case
}

// ErrBadMatch is a Match without a Message-ID or a From address.
var ErrBadMatch = errors.New("store: a match needs a Message-ID and a From address")

// Found is one copy of a message: an account's mailbox and the UID
// it has there.
type Found struct {
	AccountID int64
	MailboxID int64
	Mailbox   string
	UID       imap.UID
}

// FindEverywhere returns every copy of the message m names, in every
// account, ordered by account, mailbox and UID: what RemoveEverywhere
// would remove, for an admin to see first. Without m.From it returns the
// copies of every message with that Message-ID, whoever it claims to be
// from (to trace who had a message; nothing is removed that way).
func (s *Store) FindEverywhere(ctx context.Context, m Match) ([]Found, error) {
	return findEverywhere(ctx, s.db.Stmts(nil), s.db.Engine(), m, m.From != "")
}

// RemoveEverywhere removes every copy of the message m names from every
// mailbox of every account, in one transaction, and returns where they
// were. Each mailbox's sessions learn of it as of an EXPUNGE (the same
// change, so IMAP sends EXPUNGE or VANISHED, RFC 9051 7.5.1, RFC 7162
// 3.2.10). Bodies stay until [Store.CollectGarbage] as for any expunge.
func (s *Store) RemoveEverywhere(ctx context.Context, m Match) ([]Found, error) {
	var out []Found
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		q := s.db.Stmts(tx)
		found, err := findEverywhere(ctx, q, s.db.Engine(), m, true)
		if err != nil {
			return err
		}
		out = found
		for i := 0; i < len(found); {
			j := i
			for j < len(found) && found[j].MailboxID == found[i].MailboxID {
				j++
			}
			if err := removeUIDs(ctx, q, s.db.Engine(), ch, found[i].AccountID, found[i].MailboxID, found[i:j]); err != nil {
				return err
			}
			i = j
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// removeUIDs deletes the placements of one mailbox and records the change.
func removeUIDs(ctx context.Context, q querier, e db.Engine, ch *changes, accountID, mailboxID int64, ps []Found) error {
	uids := make([]imap.UID, len(ps))
	for i, p := range ps {
		uids[i] = p.UID
	}
	rows, err := q.QueryContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid IN (`+uidsIn(e)+`) RETURNING uid, flags, size`,
		mailboxID, uidJSON(uids))
	if err != nil {
		return fmt.Errorf("store: remove everywhere: %w", err)
	}
	r, err := scanRemoved(rows)
	if err != nil {
		return fmt.Errorf("store: remove everywhere: %w", err)
	}
	if len(r.uids) == 0 {
		return nil
	}
	if err := r.account(ctx, q, mailboxID); err != nil {
		return fmt.Errorf("store: remove everywhere: %w", err)
	}
	ch.add(Change{Kind: ChangeExpunge, AccountID: accountID, MailboxID: mailboxID, UIDs: r.uids})
	return nil
}

// findEverywhere looks the Message-ID up in the stored envelopes and,
// if byFrom, keeps the copies whose first From is m.From.
func findEverywhere(ctx context.Context, q querier, e db.Engine, m Match, byFrom bool) ([]Found, error) {
	id := strings.Trim(strings.TrimSpace(m.MessageID), "<>")
	from := strings.ToLower(strings.TrimSpace(m.From))
	if id == "" || (byFrom && !strings.Contains(from, "@")) {
		return nil, ErrBadMatch
	}
	rows, err := q.QueryContext(ctx, `SELECT mb.account_id, mb.id, mb.name, m.uid, b.envelope
		FROM blobs b JOIN messages m ON m.blob_id = b.id JOIN mailboxes mb ON mb.id = m.mailbox_id
		WHERE `+envelopeMessageID(e)+` = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("store: find everywhere: %w", err)
	}
	defer rows.Close()
	var out []Found
	for rows.Next() {
		var p Found
		var uid int64
		var env string
		if err := rows.Scan(&p.AccountID, &p.MailboxID, &p.Mailbox, &uid, &env); err != nil {
			return nil, fmt.Errorf("store: find everywhere: %w", err)
		}
		e, err := decodeEnvelope(env)
		if err != nil {
			return nil, fmt.Errorf("store: find everywhere: %w", err)
		}
		if byFrom && (len(e.From) == 0 || !strings.EqualFold(e.From[0].Addr(), from)) {
			continue
		}
		p.UID = imap.UID(uid)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: find everywhere: %w", err)
	}
	slices.SortFunc(out, func(a, b Found) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.MailboxID, b.MailboxID), cmp.Compare(a.UID, b.UID))
	})
	return out, nil
}
