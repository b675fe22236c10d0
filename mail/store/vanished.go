package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// VanishedKeep is the default retention rule for expunged UIDs (QRESYNC, RFC 7162
// 3.2.5.2): each mailbox keeps the newest VanishedKeep expunged UIDs with
// their mod-sequences, plus whatever is expunged between two runs of
// [Store.CollectGarbage] (hourly), which prunes the rest. A client that
// last synchronised before what is kept gets, as RFC 7162 3.2.5.2 and
// 3.2.6 allow, every UID of its known set that no longer exists, a
// superset of what it must forget; its flags are still exact.
const VanishedKeep = 10000

// MessageState is a message's flags and mod-sequence.
type MessageState struct {
	UID    imap.UID
	Flags  []imap.Flag
	ModSeq uint64
}

// States returns the flags and mod-sequences of the messages with the
// given UIDs, ascending by UID; UIDs that do not exist are left out.
func (s *Store) States(ctx context.Context, mailboxID int64, uids []imap.UID) ([]MessageState, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	return queryStates(ctx, s.db, `SELECT uid, flags, keywords, modseq FROM messages
		WHERE mailbox_id = ? AND uid IN (`+uidsIn(s.db.Engine())+`) ORDER BY uid`, mailboxID, uidJSON(uids))
}

// ChangedSince returns the state of every message of the mailbox whose
// mod-sequence is above since, ascending by UID (CONDSTORE, RFC 7162
// 3.1.4.1). It reads the mailbox's rows once.
func (s *Store) ChangedSince(ctx context.Context, mailboxID int64, since uint64) ([]MessageState, error) {
	return queryStates(ctx, s.db, `SELECT uid, flags, keywords, modseq FROM messages
		WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, int64(min(since, 1<<63-1)))
}

func queryStates(ctx context.Context, q querier, query string, args ...any) ([]MessageState, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: message states: %w", err)
	}
	defer rows.Close()
	var out []MessageState
	for rows.Next() {
		var uid, modseq int64
		var fs flagSet
		var kws string
		if err := rows.Scan(&uid, &fs.bits, &kws, &modseq); err != nil {
			return nil, fmt.Errorf("store: message states: %w", err)
		}
		fs.keywords = decodeKeywords(kws)
		out = append(out, MessageState{UID: imap.UID(uid), Flags: fs.list(), ModSeq: uint64(modseq)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: message states: %w", err)
	}
	return out, nil
}

// Vanished returns the UIDs expunged from the mailbox with a mod-sequence
// above since, ascending (QRESYNC, RFC 7162 3.2.5 and 3.2.6). complete is
// false when the retention rule ([VanishedKeep]) has pruned expunges above
// since: then some are missing, and the caller must treat every UID it
// cannot find in the mailbox as expunged.
func (s *Store) Vanished(ctx context.Context, mailboxID int64, since uint64) (uids []imap.UID, complete bool, err error) {
	var floor int64
	if err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT vanished_floor FROM mailboxes WHERE id = ?`, mailboxID).Scan(&floor); err != nil {
		if err == sql.ErrNoRows {
			return nil, false, ErrNoMailbox
		}
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	uids, err = queryUIDs(ctx, s.db, `SELECT uid FROM mail_vanished WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`,
		mailboxID, int64(min(since, 1<<63-1)))
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	return uids, since >= uint64(floor), nil
}

// pruneVanished applies the retention rule: in each mailbox with more than
// Options.VanishedKeep expunged UIDs, all but the newest are deleted
// (and any sharing the mod-sequence of the newest deleted one) and the
// mailbox's vanished_floor is raised to that mod-sequence.
func (s *Store) pruneVanished(ctx context.Context) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT mailbox_id FROM mail_vanished GROUP BY mailbox_id HAVING count(*) > ?`, s.opts.VanishedKeep)
		if err != nil {
			return fmt.Errorf("store: prune vanished: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("store: prune vanished: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			var cut int64
			err := tx.QueryRowContext(ctx, `SELECT modseq FROM mail_vanished WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?`,
				id, s.opts.VanishedKeep).Scan(&cut)
			if err != nil {
				return fmt.Errorf("store: prune vanished: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM mail_vanished WHERE mailbox_id = ? AND modseq <= ?`, id, cut); err != nil {
				return fmt.Errorf("store: prune vanished: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET vanished_floor = CASE WHEN vanished_floor > ?1 THEN vanished_floor ELSE ?1 END WHERE id = ?2`, cut, id); err != nil {
				return fmt.Errorf("store: prune vanished: %w", err)
			}
		}
		return rows.Err()
	})
}
