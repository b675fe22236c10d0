package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// Placement is one mailbox an imported message goes to, with its flags
// there (system flags and keywords, as for [Store.Append]).
type Placement struct {
	Mailbox string
	Flags   []imap.Flag
}

// ImportDecider is called by [Store.Import] inside the write transaction,
// once the message's body is stored, with its content reference. It
// returns where the message goes; nothing, and nothing is appended. It may
// write rows of its own with tx (the import's bookkeeping), which commit
// or roll back with the messages. It must use ctx and tx, and must not
// call the store.
type ImportDecider func(ctx context.Context, tx *sql.Tx, ref blob.Ref, size int64) ([]Placement, error)

// Import stores one message read from r (at most Options.MaxMessageSize
// bytes, [ErrTooLarge]) and appends it, in one transaction, to each
// mailbox that decide returns, with internal date date (zero: now): one
// body, shared by every mailbox, so that a Gmail message with three
// labels is stored once and appears in three mailboxes. The mailboxes
// must exist ([ErrNoMailbox]). Over quota nothing is stored and a
// [*QuotaError] is returned; if decide fails nothing is stored and its
// error is returned as it is. Either every placement and decide's rows
// are committed, or none: a message is never half imported. As for
// [Store.Append], the fields only this host's MX writes are removed from
// the message first (see Options.Hostname).
func (s *Store) Import(ctx context.Context, accountID int64, r io.Reader, date time.Time, decide ImportDecider) (blob.Ref, []Mailbox, []imap.UID, error) {
	if date.IsZero() {
		date = s.now()
	}
	r, err := s.withoutOwnFindings(r)
	if err != nil {
		return "", nil, nil, err
	}
	in, err := s.receive(ctx, r)
	if err != nil {
		return "", nil, nil, err
	}
	committed := false
	defer func() { s.release(ctx, in, committed) }()
	var mbs []Mailbox
	var uids []imap.UID
	for attempt := 0; ; attempt++ {
		mbs, uids, err = s.importTx(ctx, accountID, in, date, decide)
		if errors.Is(err, errNeedParse) && attempt == 0 {
			if err = s.parse(in); err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		return in.ref, nil, nil, err
	}
	committed = len(uids) > 0
	return in.ref, mbs, uids, nil
}

// importTx is the write of [Store.Import], in the group commit, as
// [Store.appendTx] is, except that a new body is left to the background
// indexer ([Store.RunIndexer]) as deliveries are, not indexed in the
// commit as an APPEND's is: half of a bulk import's time went to the
// full-text index, and a search indexes whatever waits before it runs.
func (s *Store) importTx(ctx context.Context, accountID int64, in *incoming, date time.Time, decide ImportDecider) (mbs []Mailbox, uids []imap.UID, err error) {
	var deferred bool
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		mbs, uids = nil, nil
		places, err := decide(ctx, tx, in.ref, in.size)
		if err != nil || len(places) == 0 {
			return err
		}
		q := s.db.Stmts(tx)
		if err := checkQuota(ctx, q, map[int64]int64{accountID: in.size * int64(len(places))}, []int64{accountID}); err != nil {
			return err
		}
		blobID, sentDay, p, err := s.blobRowUnindexed(ctx, q, in)
		if err != nil {
			return err
		}
		for _, pl := range places {
			mb, uid, err := importPlace(ctx, q, accountID, pl, messageFor(blobID, sentDay, in.size, flagSet{}, date))
			if err != nil {
				return err
			}
			ch.add(Change{Kind: ChangeAppend, AccountID: accountID, MailboxID: mb.ID, UIDs: []imap.UID{uid}})
			mbs, uids = append(mbs, mb), append(uids, uid)
		}
		if p != nil {
			deferred = true
			if err := s.index.defer_(ctx, q, blobID, in.ref, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && deferred {
		s.index.forget(in.ref)
	}
	return mbs, uids, err
}

// importPlace appends message m with pl's flags to pl's mailbox.
func importPlace(ctx context.Context, q querier, accountID int64, pl Placement, m newMessage) (Mailbox, imap.UID, error) {
	cn, err := CanonicalName(pl.Mailbox)
	if err != nil {
		return Mailbox{}, 0, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	if m.flags, err = parseFlags(pl.Flags); err != nil {
		return Mailbox{}, 0, err
	}
	mb, err := mailboxByName(ctx, q, accountID, cn)
	if err != nil {
		return Mailbox{}, 0, err
	}
	uids, err := appendMessages(ctx, q, mb.ID, []newMessage{m})
	if err != nil {
		return Mailbox{}, 0, err
	}
	return mb, uids[0], nil
}
