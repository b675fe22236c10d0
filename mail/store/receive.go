package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/emersion/go-imap/v2"
)

// inMemory is a body the caller holds in memory (*bytes.Reader,
// *strings.Reader: the MX's and submission's messages), which the store
// can hash before storing it and parse without reading it back.
type inMemory interface {
	io.ReaderAt
	Len() int    // bytes not yet read
	Size() int64 // bytes in all
}

// receiveInMemory is [Store.receive] for a body in memory. It costs the
// blob store one Put and nothing else, which on an object store is one
// request instead of four (the Put, a GET to parse what was just stored,
// and the HEAD in the write transaction, which every delivery queued
// behind it waited for):
//
//   - the body is hashed first, so that its reference is known before
//     the Put, and one statement asks whether any row (blobs, or
//     blob_orphans of a failed delivery) names it yet;
//   - if none does, the blob cannot be collected until GCGrace after that
//     look (the collector deletes only blobs rows have named that long),
//     so the write transaction need not look for it ([Store.mayBeCollected]);
//   - a body no blobs row names is parsed from memory.
func (s *Store) receiveInMemory(ctx context.Context, m inMemory) (*incoming, error) {
	n := int64(m.Len())
	if n > s.opts.MaxMessageSize {
		return nil, s.tooLarge()
	}
	body := io.NewSectionReader(m, m.Size()-n, n)
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return nil, fmt.Errorf("store: hashing message: %w", err)
	}
	in := &incoming{ref: blob.RefOf(h.Sum(nil)), size: n}
	looked := s.now()
	var rowed, noted bool
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE ref = ?1),
		EXISTS (SELECT 1 FROM blob_orphans WHERE ref = ?1)`, string(in.ref)).Scan(&rowed, &noted)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.pin(in.ref) // before the Put: see CollectGarbage
	ref, size, err := s.blobs.Put(ctx, io.NewSectionReader(m, m.Size()-n, n), s.opts.MaxMessageSize)
	if err != nil {
		s.unpin(in.ref)
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, s.tooLarge()
		}
		return nil, fmt.Errorf("store: storing message: %w", err)
	}
	if ref != in.ref || size != n {
		// Not the naming blob.Store documents: look as for any reader.
		s.unpin(in.ref)
		in = &incoming{ref: ref, size: size}
		s.pin(in.ref)
		if err := s.prepare(ctx, in, true); err != nil {
			s.release(ctx, in, false)
			return nil, err
		}
		return in, nil
	}
	if !rowed && !noted {
		in.unseenAt = looked
	}
	if err := s.parseInMemory(in, io.NewSectionReader(m, m.Size()-n, n), rowed); err != nil {
		s.release(ctx, in, false)
		return nil, err
	}
	return in, nil
}

// parseInMemory is [Store.prepare] for a body in memory, read from body
// instead of the blob store; rowed says whether a blobs row named it.
func (s *Store) parseInMemory(in *incoming, body io.ReadSeeker, rowed bool) error {
	if in.size == 0 {
		return fmt.Errorf("store: empty message")
	}
	if rowed {
		return nil
	}
	p, err := parseMessageText(body, in.size, true)
	if err != nil {
		return err
	}
	in.p = p
	s.headers.put(in.ref, p.headers) // as parse keeps them
	return nil
}

// mayBeCollected reports whether CollectGarbage may have deleted in's blob
// after its Put, so that the write transaction must check it is there.
// Not if no row named the blob when in.unseenAt was taken, before the
// Put: the collector deletes only blobs that a blobs row has marked
// unreferenced, or a failed delivery has noted, for GCGrace, and any row
// made since is younger. Half of GCGrace is the bound kept, leaving the
// rest to clocks that differ between nodes.
func (s *Store) mayBeCollected(in *incoming) bool {
	return in.unseenAt.IsZero() || s.now().Sub(in.unseenAt) >= GCGrace/2
}

// deliverOneTx is [Store.deliverTx] of a delivery to one account's INBOX
// on PostgreSQL, the MX's usual case, in two statements where the general
// path takes three (each a round trip made while every delivery queued
// behind holds on): the blobs row, then the mailbox's counters raised
// and the message inserted only if the INBOX exists and the message
// fits the account's quota. When it does not, nothing was changed and the
// general path says why (an account without mailboxes yet gets them; an
// account over quota gets a [*QuotaError]).
func (s *Store) deliverOneTx(ctx context.Context, tx *sql.Tx, ch *changes, d *delivery) (map[int64]imap.UID, error) {
	q := s.db.Stmts(tx)
	a := d.accts[0]
	var (
		m         newMessage
		mbID      int64
		uid       imap.UID
		err       error
		blobFirst bool // the blobs row is in, the message not yet
	)
	if d.in.p != nil && d.in.noteUnindexed && !s.mayBeCollected(d.in) {
		// A body no row named when it was stored: most likely new.
		var inserted bool
		m, mbID, uid, inserted, err = s.deliverNew(ctx, q, a, d)
		switch {
		case err != nil:
			return nil, err
		case inserted && mbID != 0:
			ch.add(Change{Kind: ChangeAppend, AccountID: a, MailboxID: mbID, UIDs: []imap.UID{uid}})
			return map[int64]imap.UID{a: uid}, nil
		}
		blobFirst = inserted
	}
	err = sql.ErrNoRows // blobFirst: the message is still to append
	if !blobFirst {
		var sentDay *int64
		d.blobID, sentDay, d.index, err = s.blobRowUnindexed(ctx, q, d.in)
		if err != nil {
			return nil, err
		}
		m = messageFor(d.blobID, sentDay, d.in.size, flagSet{}, d.date)
		mbID, uid, err = appendInboxWithinQuota(ctx, q, a, m)
	}
	if errors.Is(err, sql.ErrNoRows) {
		mb, over, err := s.deliveryMailbox(ctx, tx, ch, a, d)
		if err != nil {
			return nil, err
		}
		if over != nil {
			return nil, &QuotaError{Over: []QuotaExcess{*over}}
		}
		u, err := s.appendOne(ctx, q, mb.ID, m)
		if err != nil {
			return nil, err
		}
		mbID, uid = mb.ID, u[0]
	} else if err != nil {
		return nil, err
	}
	ch.add(Change{Kind: ChangeAppend, AccountID: a, MailboxID: mbID, UIDs: []imap.UID{uid}})
	return map[int64]imap.UID{a: uid}, nil
}

// appendInboxWithinQuota appends m to the INBOX of account a in one
// statement (PostgreSQL's: a data-modifying WITH), if the account has an
// INBOX and m fits its quota (none, or the sum of its mailboxes' sizes
// and m's at most the quota, as [inboxUsage]'s caller checks); else it
// changes nothing and returns [sql.ErrNoRows].
func appendInboxWithinQuota(ctx context.Context, q querier, a int64, m newMessage) (mailboxID int64, uid imap.UID, err error) {
	var unseen int64
	if m.flags.bits&bitSeen == 0 {
		unseen = 1
	}
	var u int64
	err = q.QueryRowContext(ctx, `WITH lim AS (SELECT coalesce((SELECT quota FROM mail_accounts WHERE account_id = ?1), 0) AS quota,
			(SELECT coalesce(sum(size), 0) FROM mailboxes WHERE account_id = ?1) AS used),
		mb AS (UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1,
			messages = messages + 1, unseen = unseen + ?2, size = size + ?3
			FROM lim WHERE account_id = ?1 AND name = ?11 AND (lim.quota <= 0 OR lim.used + ?3 <= lim.quota)
			RETURNING id, uid_next, highest_modseq)
		INSERT INTO messages (mailbox_id, uid, blob_id, flags, keywords, internal_date, internal_tz, internal_day, sent_day, size, modseq)
		SELECT id, uid_next - 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?3, highest_modseq FROM mb RETURNING mailbox_id, uid`,
		a, unseen, m.size, m.blobID, m.flags.bits, encodeKeywords(m.flags.keywords), m.date, m.tz, m.day, m.sentDay, inbox).Scan(&mailboxID, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: deliver: %w", err)
	}
	if u > math.MaxUint32 {
		return 0, 0, fmt.Errorf("store: deliver: mailbox %d has used up its UIDs", mailboxID)
	}
	return mailboxID, imap.UID(u), nil
}

// deliverNew is the whole of deliverOneTx in one statement, for a parsed
// body that is most likely new: it inserts the blobs row (noted for the
// index), and, if that row is new, the INBOX's counters and the message
// as [appendInboxWithinQuota] does. inserted says whether the blobs row
// was new (then d says so); mailboxID is 0 if the message was not
// appended (no INBOX yet, or over quota: the caller finds out which),
// in which case only the blobs row was written.
func (s *Store) deliverNew(ctx context.Context, q querier, a int64, d *delivery) (m newMessage, mailboxID int64, uid imap.UID, inserted bool, err error) {
	in := d.in
	env, err := encodeEnvelope(in.p.envelope)
	if err != nil {
		return m, 0, 0, false, fmt.Errorf("store: encoding envelope: %w", err)
	}
	bs, err := encodeStructure(in.p.structure)
	if err != nil {
		return m, 0, 0, false, fmt.Errorf("store: encoding body structure: %w", err)
	}
	m = messageFor(0, in.p.sentDay, in.size, flagSet{}, d.date)
	var unseen int64
	if m.flags.bits&bitSeen == 0 {
		unseen = 1
	}
	var blobID, mbID, u sql.NullInt64
	in.unindexedNoted = false
	err = q.QueryRowContext(ctx, `WITH b AS (INSERT INTO blobs (ref, size, envelope, structure, sent_day, created_at)
			VALUES (?4, ?3, ?5, ?6, ?7, ?8) ON CONFLICT (ref) DO NOTHING RETURNING id),
		u AS (INSERT INTO blob_unindexed (blob_id) SELECT id FROM b),
		lim AS (SELECT coalesce((SELECT quota FROM mail_accounts WHERE account_id = ?1), 0) AS quota,
			(SELECT coalesce(sum(size), 0) FROM mailboxes WHERE account_id = ?1) AS used),
		mb AS (UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1,
			messages = messages + 1, unseen = unseen + ?2, size = size + ?3
			FROM lim, b WHERE account_id = ?1 AND name = ?15 AND (lim.quota <= 0 OR lim.used + ?3 <= lim.quota)
			RETURNING mailboxes.id, uid_next, highest_modseq, b.id AS blob_id),
		msg AS (INSERT INTO messages (mailbox_id, uid, blob_id, flags, keywords, internal_date, internal_tz, internal_day, sent_day, size, modseq)
			SELECT id, uid_next - 1, blob_id, ?9, ?10, ?11, ?12, ?13, ?14, ?3, highest_modseq FROM mb RETURNING mailbox_id, uid)
		SELECT (SELECT id FROM b), (SELECT mailbox_id FROM msg), (SELECT uid FROM msg)`,
		a, unseen, in.size, string(in.ref), env, bs, in.p.sentDay, s.now().Unix(),
		m.flags.bits, encodeKeywords(m.flags.keywords), m.date, m.tz, m.day, m.sentDay, inbox).Scan(&blobID, &mbID, &u)
	if err != nil {
		return m, 0, 0, false, fmt.Errorf("store: deliver: %w", err)
	}
	if !blobID.Valid {
		return m, 0, 0, false, nil // a row names the body already
	}
	in.unindexedNoted = true
	d.blobID, d.index = blobID.Int64, in.p
	m.blobID = blobID.Int64
	if !mbID.Valid {
		return m, 0, 0, true, nil
	}
	if u.Int64 > math.MaxUint32 {
		return m, 0, 0, true, fmt.Errorf("store: deliver: mailbox %d has used up its UIDs", mbID.Int64)
	}
	return m, mbID.Int64, imap.UID(u.Int64), true, nil
}
