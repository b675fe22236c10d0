package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// This file answers the questions about a mailbox that STATUS and SELECT
// ask beyond the counters kept in its row: the \Deleted messages
// (STATUS DELETED, DELETED-STORAGE), the keywords in use (the FLAGS
// response), and what IMAP4rev1 clients need for \Recent and UNSEEN.

// DeletedStats returns the number of the mailbox's messages flagged
// \Deleted and the sum of their sizes in bytes (STATUS DELETED, RFC 9051
// 6.3.11; DELETED-STORAGE, RFC 9208 4.2).
func (s *Store) DeletedStats(ctx context.Context, mailboxID int64) (n uint32, size int64, err error) {
	err = s.db.Stmts(nil).QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ? AND flags & ? != 0`,
		mailboxID, bitDeleted).Scan(&n, &size)
	if err != nil {
		return 0, 0, fmt.Errorf("store: deleted messages: %w", err)
	}
	return n, size, nil
}

// Keywords returns the keywords set on at least one message of the
// mailbox, sorted case-insensitively (the FLAGS response lists them,
// RFC 9051 7.3.5); at most limit of them.
func (s *Store) Keywords(ctx context.Context, mailboxID int64, limit int) ([]string, error) {
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT DISTINCT keywords FROM messages WHERE mailbox_id = ? AND keywords != ''`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("store: keywords: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kws string
		if err := rows.Scan(&kws); err != nil {
			return nil, fmt.Errorf("store: keywords: %w", err)
		}
		for _, kw := range decodeKeywords(kws) {
			if len(out) >= limit {
				return out, nil
			}
			out = addKeywordFolded(out, kw)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: keywords: %w", err)
	}
	return out, nil
}

// addKeywordFolded inserts kw into the case-insensitively sorted list kws
// unless it is there in any case.
func addKeywordFolded(kws []string, kw string) []string {
	i, found := slices.BinarySearchFunc(kws, kw, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	if found {
		return kws
	}
	return slices.Insert(kws, i, kw)
}

// FirstUnseen returns the lowest UID of a message without \Seen, or 0 if
// every message is seen (SELECT's OK [UNSEEN n] of IMAP4rev1, RFC 3501
// 6.3.1).
func (s *Store) FirstUnseen(ctx context.Context, mailboxID int64) (imap.UID, error) {
	var uid int64
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND flags & ? = 0 ORDER BY uid LIMIT 1`,
		mailboxID, bitSeen).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: first unseen: %w", err)
	}
	return imap.UID(uid), nil
}

// CountFrom returns how many of the mailbox's messages have a UID of at
// least uid.
func (s *Store) CountFrom(ctx context.Context, mailboxID int64, uid imap.UID) (uint32, error) {
	var n uint32
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid >= ?`, mailboxID, int64(uid)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// FirstSince returns the lowest UID of a message whose internal date
// (its delivery, or the date given to APPEND) is t or later; next if there
// is none.
func (s *Store) FirstSince(ctx context.Context, mailboxID int64, t time.Time, next imap.UID) (imap.UID, error) {
	var uid int64
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT coalesce(min(uid), ?) FROM messages WHERE mailbox_id = ? AND internal_date >= ?`,
		int64(next), mailboxID, t.Unix()).Scan(&uid)
	if err != nil {
		return 0, fmt.Errorf("store: messages since: %w", err)
	}
	return imap.UID(uid), nil
}
