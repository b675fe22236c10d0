package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// errNeedParse asks the caller of a write transaction to parse the message
// and try again: its blobs row vanished (CollectGarbage) after the check
// that let the parse be skipped.
var errNeedParse = errors.New("store: message needs parsing")

// incoming is a message body in the blob store, on its way to being
// referenced by message rows.
type incoming struct {
	ref  blob.Ref
	size int64
	p    *parsed // nil if a blobs row existed when we looked
	// unseenAt, if not zero, is a time before the Put that stored the
	// blob began at which no row named it (see [Store.mayBeCollected]).
	unseenAt time.Time
	// noteUnindexed asks insertBlobRow to note the row it inserts in
	// blob_unindexed in the same statement where the engine allows it
	// (PostgreSQL); unindexedNoted says it did.
	noteUnindexed, unindexedNoted bool
}

// tooLarge is the error for a message over Options.MaxMessageSize.
func (s *Store) tooLarge() error {
	return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.opts.MaxMessageSize)
}

// receive stores r as a blob (durably), pins it against garbage collection,
// and parses it unless a blobs row for the same content exists. The caller
// must call release.
func (s *Store) receive(ctx context.Context, r io.Reader) (*incoming, error) {
	if m, ok := r.(inMemory); ok {
		return s.receiveInMemory(ctx, m)
	}
	ref, n, err := s.blobs.Put(ctx, r, s.opts.MaxMessageSize)
	if errors.Is(err, blob.ErrTooLarge) {
		return nil, s.tooLarge()
	}
	if err != nil {
		return nil, fmt.Errorf("store: storing message: %w", err)
	}
	s.pin(ref)
	in := &incoming{ref: ref, size: n}
	if err := s.prepare(ctx, in, true); err != nil {
		s.release(ctx, in, false)
		return nil, err
	}
	return in, nil
}

// prepare checks a stored, pinned body: it refuses an empty one and
// parses it (with its searchable text if text) unless a blobs row for the
// same content exists.
func (s *Store) prepare(ctx context.Context, in *incoming, text bool) error {
	if in.size == 0 {
		return fmt.Errorf("store: empty message")
	}
	var exists bool
	st, err := s.db.Prepared(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE ref = ?)`)
	if err == nil {
		err = st.QueryRowContext(ctx, string(in.ref)).Scan(&exists)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !exists {
		if !text {
			return s.parseText(in, false)
		}
		return s.parse(in)
	}
	return nil
}

// parse reads the stored body once, parses it and keeps its header
// fields for header searches (a mailbox's new messages are the ones its
// client searches next).
func (s *Store) parse(in *incoming) error {
	if err := s.parseText(in, true); err != nil {
		return err
	}
	s.headers.put(in.ref, in.p.headers)
	return nil
}

// parseText reads the stored body once and parses it, without the
// searchable text unless text ([parseMessageText]). It leaves the header
// cache alone: the indexer parses every body of an import of a whole
// mailbox, which would push out the bodies members search (and grow the
// import's memory by the cache's size).
func (s *Store) parseText(in *incoming, text bool) error {
	f, err := s.blobs.Open(in.ref)
	if err != nil {
		return fmt.Errorf("store: parse: %w", err)
	}
	defer f.Close()
	p, err := parseMessageText(f, in.size, text)
	if err != nil {
		return err
	}
	in.p = p
	return nil
}

// release unpins the blob. If the write did not commit, the blob is noted
// as a possible orphan for CollectGarbage (best effort: at worst an
// unreferenced blob stays on disk).
func (s *Store) release(ctx context.Context, in *incoming, committed bool) {
	s.unpin(in.ref)
	if committed {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `INSERT INTO blob_orphans (ref, since) VALUES (?, ?) ON CONFLICT DO NOTHING`, string(in.ref), s.now().Unix())
	if err != nil {
		s.log.Warn("store: noting unreferenced blob", "blob", in.ref, "err", err)
	}
}

// blobRow returns the id (and Date header day) of the blobs row of in,
// inserting it with its search index if it is missing.
func (s *Store) blobRow(ctx context.Context, tx querier, in *incoming) (id int64, sentDay *int64, err error) {
	id, sentDay, p, err := s.blobRowUnindexed(ctx, tx, in)
	if err == nil && p != nil {
		err = indexBlob(ctx, tx, s.db.Engine(), id, p)
	}
	return id, sentDay, err
}

// blobRowUnindexed is blobRow without the search index: if it inserted the
// row it returns the parsed message, which the caller must index with
// [indexBlob] in the same transaction.
func (s *Store) blobRowUnindexed(ctx context.Context, tx querier, in *incoming) (id int64, sentDay *int64, index *parsed, err error) {
	// CollectGarbage deletes files only inside its own write transactions,
	// and we hold the write lock: a file seen here stays until we commit.
	if s.mayBeCollected(in) {
		if ok, err := s.blobs.Has(in.ref); err != nil {
			return 0, nil, nil, fmt.Errorf("store: %w", err)
		} else if !ok {
			return 0, nil, nil, fmt.Errorf("%w (blob %s)", ErrBlobCollected, in.ref)
		}
	}
	if in.p != nil {
		// Parsed because no row existed when prepare looked: most
		// likely there is none yet, and one statement inserts it.
		id, err := s.insertBlobRow(ctx, tx, in)
		if err == nil {
			return id, in.p.sentDay, in.p, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, nil, nil, err
		}
	}
	var day sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT id, sent_day FROM blobs WHERE ref = ?`, string(in.ref)).Scan(&id, &day)
	if err == nil {
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET orphaned_at = NULL WHERE id = ? AND orphaned_at IS NOT NULL`, id); err != nil {
			return 0, nil, nil, fmt.Errorf("store: %w", err)
		}
		if day.Valid {
			sentDay = &day.Int64
		}
		return id, sentDay, nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil, fmt.Errorf("store: %w", err)
	}
	// The row prepare saw has gone since (garbage collected): the body
	// must be parsed for a new one. (A parsed body has its row by now.)
	return 0, nil, nil, errNeedParse
}

// insertBlobRow inserts the blobs row of the parsed in and returns its
// id; [sql.ErrNoRows] if a row for the same content exists.
func (s *Store) insertBlobRow(ctx context.Context, tx querier, in *incoming) (int64, error) {
	p := in.p
	env, err := encodeEnvelope(p.envelope)
	if err != nil {
		return 0, fmt.Errorf("store: encoding envelope: %w", err)
	}
	bs, err := encodeStructure(p.structure)
	if err != nil {
		return 0, fmt.Errorf("store: encoding body structure: %w", err)
	}
	query := insertBlob
	noting := in.noteUnindexed && s.db.Engine() == db.Postgres
	if noting {
		query = `WITH b AS (` + insertBlob + `), u AS (INSERT INTO blob_unindexed (blob_id) SELECT id FROM b) SELECT id FROM b`
	}
	var id int64
	in.unindexedNoted = false
	err = tx.QueryRowContext(ctx, query, string(in.ref), in.size, env, bs, p.sentDay, s.now().Unix()).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: inserting blob: %w", err)
	}
	in.unindexedNoted = err == nil && noting
	return id, err
}

// insertBlob inserts a blobs row unless one has the same ref.
const insertBlob = `INSERT INTO blobs (ref, size, envelope, structure, sent_day, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (ref) DO NOTHING RETURNING id`

// newMessage is a message row to insert.
type newMessage struct {
	blobID  int64
	flags   flagSet
	date    int64 // internal date, Unix seconds
	tz      int   // its zone offset, seconds east of UTC
	day     int64 // its calendar day
	sentDay int64 // Date header's day, or day if none
	size    int64
}

// messageFor returns the row for a new message with a stored body.
func messageFor(blobID int64, sentDay *int64, size int64, flags flagSet, date time.Time) newMessage {
	_, off := date.Zone()
	m := newMessage{blobID: blobID, flags: flags, date: date.Unix(), tz: off, day: dayOf(date), size: size}
	m.sentDay = m.day
	if sentDay != nil {
		m.sentDay = *sentDay
	}
	return m
}

// insertMessage inserts a messages row (appendMessages).
const insertMessage = `INSERT INTO messages (mailbox_id, uid, blob_id, flags, keywords, internal_date, internal_tz, internal_day, sent_day, size, modseq)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// appendMessages inserts msgs into the mailbox with consecutive new UIDs
// and one new modseq, and updates its counters.
func appendMessages(ctx context.Context, tx querier, mailboxID int64, msgs []newMessage) ([]imap.UID, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var unseen, size int64
	for _, m := range msgs {
		if m.flags.bits&bitSeen == 0 {
			unseen++
		}
		size += m.size
	}
	var uidNext, modseq int64
	err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uid_next = uid_next + ?1, highest_modseq = highest_modseq + 1,
		messages = messages + ?1, unseen = unseen + ?2, size = size + ?3 WHERE id = ?4 RETURNING uid_next, highest_modseq`,
		len(msgs), unseen, size, mailboxID).Scan(&uidNext, &modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: id %d", ErrNoMailbox, mailboxID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	if uidNext-1 > math.MaxUint32 {
		return nil, fmt.Errorf("store: append: mailbox %d has used up its UIDs", mailboxID)
	}
	// One message (a delivery, an APPEND) goes in with tx's statement
	// ([db.Stmts] keeps it prepared); several (COPY) with one prepared
	// here. Preparing for one message cost PostgreSQL two more round
	// trips per recipient of a delivery.
	exec := tx.ExecContext
	if len(msgs) > 1 {
		stmt, err := tx.PrepareContext(ctx, insertMessage)
		if err != nil {
			return nil, fmt.Errorf("store: append: %w", err)
		}
		defer stmt.Close()
		exec = func(ctx context.Context, _ string, args ...any) (sql.Result, error) {
			return stmt.ExecContext(ctx, args...)
		}
	}
	first := uidNext - int64(len(msgs))
	uids := make([]imap.UID, len(msgs))
	for i, m := range msgs {
		uid := first + int64(i)
		_, err := exec(ctx, insertMessage, mailboxID, uid, m.blobID, m.flags.bits, encodeKeywords(m.flags.keywords), m.date, m.tz, m.day, m.sentDay, m.size, modseq)
		if err != nil {
			return nil, fmt.Errorf("store: append: %w", err)
		}
		uids[i] = imap.UID(uid)
	}
	return uids, nil
}

// appendOne is appendMessages for one message. On PostgreSQL it is one
// statement, the mailbox's update and the message's insert (a round trip
// less per recipient, under the write lock).
func (s *Store) appendOne(ctx context.Context, tx querier, mailboxID int64, m newMessage) ([]imap.UID, error) {
	if s.db.Engine() != db.Postgres {
		return appendMessages(ctx, tx, mailboxID, []newMessage{m})
	}
	var unseen int64
	if m.flags.bits&bitSeen == 0 {
		unseen = 1
	}
	var uid int64
	err := tx.QueryRowContext(ctx, `WITH mb AS (UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1,
			messages = messages + 1, unseen = unseen + ?2, size = size + ?3 WHERE id = ?1 RETURNING uid_next, highest_modseq)
		INSERT INTO messages (mailbox_id, uid, blob_id, flags, keywords, internal_date, internal_tz, internal_day, sent_day, size, modseq)
		SELECT ?1, uid_next - 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?3, highest_modseq FROM mb RETURNING uid`,
		mailboxID, unseen, m.size, m.blobID, m.flags.bits, encodeKeywords(m.flags.keywords), m.date, m.tz, m.day, m.sentDay).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: id %d", ErrNoMailbox, mailboxID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	if uid > math.MaxUint32 {
		return nil, fmt.Errorf("store: append: mailbox %d has used up its UIDs", mailboxID)
	}
	return []imap.UID{imap.UID(uid)}, nil
}

// Append stores a message in the account's mailbox (IMAP APPEND, RFC 9051
// 6.3.12). It reads r to EOF, at most Options.MaxMessageSize bytes
// ([ErrTooLarge]); the body is fsynced and the metadata committed before it
// returns. flags may include keywords; \Recent is ignored. A zero date
// means now. It returns the mailbox's state after the append and the new
// UID. Over quota it stores nothing and returns a [*QuotaError]. The
// fields only this host's MX writes are removed from the message first
// (see Options.Hostname).
func (s *Store) Append(ctx context.Context, accountID int64, mailbox string, r io.Reader, flags []imap.Flag, date time.Time) (Mailbox, imap.UID, error) {
	cn, err := CanonicalName(mailbox)
	if err != nil {
		return Mailbox{}, 0, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	fs, err := parseFlags(flags)
	if err != nil {
		return Mailbox{}, 0, err
	}
	ctx, tr := s.traceWrite(ctx, "append")
	defer tr.done()
	// Refuse early what would be refused after reading the message.
	if _, err := mailboxByName(ctx, s.db.Stmts(nil), accountID, cn); err != nil {
		return Mailbox{}, 0, err
	}
	if date.IsZero() {
		date = s.now()
	}
	if r, err = s.withoutOwnFindings(r); err != nil {
		return Mailbox{}, 0, err
	}
	in, err := s.receive(ctx, r)
	if err != nil {
		return Mailbox{}, 0, err
	}
	committed := false
	defer func() { s.release(ctx, in, committed) }()
	tr.read()

	var mb Mailbox
	var uid imap.UID
	for attempt := 0; ; attempt++ {
		mb, uid, err = s.appendTx(ctx, accountID, cn, in, fs, date)
		if errors.Is(err, errNeedParse) && attempt == 0 {
			if err = s.parse(in); err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		return Mailbox{}, 0, err
	}
	committed = true
	return mb, uid, nil
}

// appendTx is the write of [Store.Append], in the group commit (see
// [Store.write]). A new body is not added to the full-text index in the
// commit, where FTS5's work (half of a serialized commit's CPU) made every
// other session's STORE and EXPUNGE wait, but noted in blob_unindexed as
// deliveries' are: the indexer adds it within seconds, in a commit of its
// own that need not reach the disk ([Store.RunIndexer]), and a search
// meanwhile checks the waiting bodies itself ([Store.pendingForSearch]).
// The statements are the cached ones.
func (s *Store) appendTx(ctx context.Context, accountID int64, cn string, in *incoming, fs flagSet, date time.Time) (mb Mailbox, uid imap.UID, err error) {
	var deferred bool
	var newBlob int64
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		q := s.db.Stmts(tx)
		var err error
		if mb, err = mailboxByName(ctx, q, accountID, cn); err != nil {
			return err
		}
		if err := checkQuota(ctx, q, map[int64]int64{accountID: in.size}, []int64{accountID}); err != nil {
			return err
		}
		blobID, sentDay, p, err := s.blobRowUnindexed(ctx, q, in)
		if err != nil {
			return err
		}
		uids, err := appendMessages(ctx, q, mb.ID, []newMessage{messageFor(blobID, sentDay, in.size, fs, date)})
		if err != nil {
			return err
		}
		uid = uids[0]
		if mb, err = mailboxByID(ctx, q, mb.ID); err != nil {
			return err
		}
		ch.add(Change{Kind: ChangeAppend, AccountID: accountID, MailboxID: mb.ID, UIDs: uids})
		if p != nil {
			deferred, newBlob = true, blobID
			if err := s.index.defer_(ctx, q, blobID, in.ref, p); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil && deferred:
		s.index.forget(in.ref)
	case deferred:
		s.index.hurry(newBlob, in.ref)
	}
	return mb, uid, err
}

// Deliver stores one incoming message (SMTP delivery) in the INBOX of each
// account, all or nothing: one blob, parsed once, and one message row per
// account, in one transaction, committed before Deliver returns. Accounts
// the store has not seen get their special-use mailboxes first. If any
// account would go over quota nothing is stored and the [*QuotaError]
// names every such account. It returns the UID of the message in each
// account's INBOX.
func (s *Store) Deliver(ctx context.Context, accountIDs []int64, r io.Reader) (map[int64]imap.UID, error) {
	return s.DeliverTo(ctx, accountIDs, inbox, r)
}

// Junk is the special-use mailbox (\Junk) that [Store.DeliverTo] files
// suspicious mail into.
const Junk = "Junk"

// DeliverTo is [Store.Deliver] into mailbox of each account, which is
// INBOX or [Junk]; an account whose Junk mailbox is gone gets the message
// in its INBOX. It returns the UID in the mailbox each message went to.
func (s *Store) DeliverTo(ctx context.Context, accountIDs []int64, mailbox string, r io.Reader) (map[int64]imap.UID, error) {
	if mailbox != inbox && mailbox != Junk {
		return nil, fmt.Errorf("store: deliver: into %q: only INBOX or Junk", mailbox)
	}
	var accts []int64
	for _, a := range accountIDs {
		if !slices.Contains(accts, a) {
			accts = append(accts, a)
		}
	}
	if len(accts) == 0 {
		return nil, fmt.Errorf("store: deliver: no recipients")
	}
	in, err := s.receive(ctx, r)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() { s.release(ctx, in, committed) }()
	in.noteUnindexed = true // deliverGrouped notes it otherwise

	date := s.now()
	var uids map[int64]imap.UID
	for attempt := 0; ; attempt++ {
		uids, err = s.deliverGrouped(ctx, &delivery{accts: accts, mailbox: mailbox, in: in, date: date})
		if errors.Is(err, errNeedParse) && attempt == 0 {
			if err = s.parse(in); err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		return nil, err
	}
	committed = true
	return uids, nil
}

// deliverTx stores d in the transaction tx: the part of [Store.DeliverTo] that
// runs under the write lock. It leaves the full-text indexing of a new
// body to the caller (d.index).
func (s *Store) deliverTx(ctx context.Context, tx *sql.Tx, ch *changes, d *delivery) (map[int64]imap.UID, error) {
	q := s.db.Stmts(tx)
	if s.db.Engine() == db.Postgres && len(d.accts) == 1 && d.mailbox == inbox {
		return s.deliverOneTx(ctx, tx, ch, d)
	}
	uids := make(map[int64]imap.UID, len(d.accts))
	inboxes := make([]Mailbox, len(d.accts))
	var qe QuotaError
	for i, a := range d.accts {
		mb, over, err := s.deliveryMailbox(ctx, tx, ch, a, d)
		if err != nil {
			return nil, err
		}
		if over != nil {
			qe.Over = append(qe.Over, *over)
		}
		inboxes[i] = mb
	}
	if len(qe.Over) > 0 {
		return nil, &qe
	}
	blobID, sentDay, p, err := s.blobRowUnindexed(ctx, q, d.in)
	if err != nil {
		return nil, err
	}
	d.blobID, d.index = blobID, p
	m := messageFor(blobID, sentDay, d.in.size, flagSet{}, d.date)
	for i, a := range d.accts {
		u, err := s.appendOne(ctx, q, inboxes[i].ID, m)
		if err != nil {
			return nil, err
		}
		uids[a] = u[0]
		ch.add(Change{Kind: ChangeAppend, AccountID: a, MailboxID: inboxes[i].ID, UIDs: u})
	}
	return uids, nil
}

// deliveryMailbox returns the mailbox of account a that d goes to, made
// with the account's others if it has none yet, and whether d would take
// the account over its quota.
func (s *Store) deliveryMailbox(ctx context.Context, tx *sql.Tx, ch *changes, a int64, d *delivery) (Mailbox, *QuotaExcess, error) {
	q := s.db.Stmts(tx)
	// An account with an INBOX has had all its special-use mailboxes
	// made in the same transaction, and they cannot be deleted.
	mb, used, quota, err := inboxUsage(ctx, q, a)
	if errors.Is(err, ErrNoMailbox) {
		if err := s.ensureAccount(ctx, tx, ch, a); err != nil {
			return Mailbox{}, nil, err
		}
		mb, used, quota, err = inboxUsage(ctx, q, a)
	}
	if err != nil {
		return Mailbox{}, nil, err
	}
	var over *QuotaExcess
	if quota > 0 && used+d.in.size > quota {
		over = &QuotaExcess{AccountID: a, Used: used, Adding: d.in.size, Quota: quota}
	}
	if d.mailbox != inbox {
		switch other, err := mailboxByName(ctx, q, a, d.mailbox); {
		case err == nil:
			mb = other
		case !errors.Is(err, ErrNoMailbox):
			return Mailbox{}, nil, err
		}
	}
	return mb, over, nil
}

// UIDs returns the mailbox's UIDs, ascending.
func (s *Store) UIDs(ctx context.Context, mailboxID int64) ([]imap.UID, error) {
	return uidsAfter(ctx, s.db.Stmts(nil), mailboxID, 0)
}

// UIDsAfter returns the mailbox's UIDs greater than after, ascending.
func (s *Store) UIDsAfter(ctx context.Context, mailboxID int64, after imap.UID) ([]imap.UID, error) {
	return uidsAfter(ctx, s.db.Stmts(nil), mailboxID, after)
}

// uidsAfter reads the mailbox's UIDs greater than after, ascending.
func uidsAfter(ctx context.Context, q querier, mailboxID int64, after imap.UID) ([]imap.UID, error) {
	uids, err := queryUIDs(ctx, q, `SELECT uid FROM messages WHERE mailbox_id = ? AND uid > ? ORDER BY uid`, mailboxID, int64(after))
	if err != nil {
		return nil, fmt.Errorf("store: list UIDs: %w", err)
	}
	return uids, nil
}

// uidJSON formats uids as a JSON array, for json_each.
func uidJSON(uids []imap.UID) string {
	b := make([]byte, 0, 2+8*len(uids))
	b = append(b, '[')
	for i, u := range uids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(u), 10)
	}
	return string(append(b, ']'))
}

// Messages returns the metadata of the messages with the given UIDs, in the
// order of uids; UIDs that do not exist are skipped. One query, whatever
// the number of UIDs; nothing is parsed but the JSON stored at delivery.
func (s *Store) Messages(ctx context.Context, mailboxID int64, uids []imap.UID) ([]Message, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT m.uid, m.flags, m.keywords, m.internal_date, m.internal_tz, m.size, m.modseq, b.ref, b.envelope, b.structure
		FROM messages m JOIN blobs b ON b.id = m.blob_id
		WHERE m.mailbox_id = ? AND m.uid IN (`+uidsIn(s.db.Engine())+`)`, mailboxID, uidJSON(uids))
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	byUID := make(map[imap.UID]*Message, len(uids))
	for rows.Next() {
		var m Message
		var uid, date, modseq int64
		var tz int
		var fs flagSet
		var kws, ref, env, bs string
		if err := rows.Scan(&uid, &fs.bits, &kws, &date, &tz, &m.Size, &modseq, &ref, &env, &bs); err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		fs.keywords = decodeKeywords(kws)
		m.UID = imap.UID(uid)
		m.Flags = fs.list()
		m.InternalDate = zoned(date, tz)
		m.ModSeq = uint64(modseq)
		m.Blob = blob.Ref(ref)
		if m.Envelope, err = decodeEnvelope(env); err != nil {
			return nil, err
		}
		if m.BodyStructure, err = decodeStructure(bs); err != nil {
			return nil, err
		}
		byUID[m.UID] = &m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	out := make([]Message, 0, len(byUID))
	for _, u := range uids {
		if m := byUID[u]; m != nil {
			out = append(out, *m)
		}
	}
	return out, nil
}

// Flags returns the flags of the messages with the given UIDs: out[i] is
// the sorted flag list of uids[i], an empty non-nil slice if it has none,
// nil if no such message exists.
func (s *Store) Flags(ctx context.Context, mailboxID int64, uids []imap.UID) ([][]imap.Flag, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT uid, flags, keywords FROM messages WHERE mailbox_id = ? AND uid IN (`+uidsIn(s.db.Engine())+`)`,
		mailboxID, uidJSON(uids))
	if err != nil {
		return nil, fmt.Errorf("store: flags: %w", err)
	}
	defer rows.Close()
	byUID := make(map[imap.UID][]imap.Flag, len(uids))
	for rows.Next() {
		var uid int64
		var fs flagSet
		var kws string
		if err := rows.Scan(&uid, &fs.bits, &kws); err != nil {
			return nil, fmt.Errorf("store: flags: %w", err)
		}
		fs.keywords = decodeKeywords(kws)
		byUID[imap.UID(uid)] = fs.list()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: flags: %w", err)
	}
	out := make([][]imap.Flag, len(uids))
	for i, u := range uids {
		out[i] = byUID[u]
	}
	return out, nil
}

// OpenBody opens a message body (Message.Blob) for reading.
func (s *Store) OpenBody(ref blob.Ref) (io.ReadSeekCloser, error) {
	f, err := s.blobs.Open(ref)
	if err != nil {
		return nil, fmt.Errorf("store: open body: %w", err)
	}
	return f, nil
}

// StoreFlags changes the flags of the messages with the given UIDs (IMAP
// STORE, RFC 9051 6.4.6). \Recent is ignored; an invalid flag is
// [ErrBadFlag]. With unchangedSince > 0 (CONDSTORE, RFC 7162 3.1.3) a
// message whose modseq is greater is left alone and left out of changed.
//
// changed lists, ascending, every existing message the store applied to
// (whether or not its flags actually differ now), and newFlags[i] the full
// flags of changed[i], for the untagged FETCH responses. The messages whose
// flags did change get the mailbox's next modseq (one bump per call) and
// are announced as a ChangeFlags.
func (s *Store) StoreFlags(ctx context.Context, mailboxID int64, uids []imap.UID, op imap.StoreFlagsOp, flags []imap.Flag, unchangedSince uint64) (changed []imap.UID, newFlags [][]imap.Flag, err error) {
	arg, err := parseFlags(flags)
	if err != nil {
		return nil, nil, err
	}
	if len(uids) == 0 {
		return nil, nil, nil
	}
	ctx, tr := s.traceWrite(ctx, "store")
	defer tr.done()
	// A STORE that changes nothing (the flags are so already: a client
	// marking read what is read, a FETCH BODY[] of a read message) needs
	// no write transaction and no wait for a commit: answer from a read.
	// It is as if it ran when that read did.
	plan, err := planFlags(ctx, s.db.Stmts(nil), s.db.Engine(), mailboxID, uids, op, arg, unchangedSince)
	if err != nil {
		return nil, nil, err
	}
	if len(plan.updates) == 0 {
		if _, err := mailboxByID(ctx, s.db.Stmts(nil), mailboxID); err != nil {
			return nil, nil, err
		}
		return plan.changed, plan.newFlags, nil
	}
	tr.read()
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		q := s.db.Stmts(tx)
		mb, err := mailboxByID(ctx, q, mailboxID)
		if err != nil {
			return err
		}
		if plan, err = planFlags(ctx, q, s.db.Engine(), mailboxID, uids, op, arg, unchangedSince); err != nil || len(plan.updates) == 0 {
			return err
		}
		var modseq int64
		err = q.QueryRowContext(ctx, `UPDATE mailboxes SET highest_modseq = highest_modseq + 1, unseen = unseen + ? WHERE id = ? RETURNING highest_modseq`,
			plan.unseenDelta, mailboxID).Scan(&modseq)
		if err != nil {
			return fmt.Errorf("store: store flags: %w", err)
		}
		if err := plan.write(ctx, q, s.db.Engine(), mailboxID, modseq); err != nil {
			return fmt.Errorf("store: store flags: %w", err)
		}
		c := Change{Kind: ChangeFlags, AccountID: mb.AccountID, MailboxID: mailboxID, ModSeq: uint64(modseq)}
		for _, u := range plan.updates {
			c.UIDs = append(c.UIDs, u.uid)
			c.Flags = append(c.Flags, u.fs.list())
		}
		ch.add(c)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return plan.changed, plan.newFlags, nil
}

// flagPlan is what a STORE does to the messages that exist.
type flagPlan struct {
	changed     []imap.UID    // every existing message applied to, ascending
	newFlags    [][]imap.Flag // the full flags of changed[i] after the STORE
	updates     []flagUpdate  // the messages whose flags differ after it
	unseenDelta int64
}

// flagUpdate is one message's new flags.
type flagUpdate struct {
	uid imap.UID
	fs  flagSet
}

// write gives every message of plan.updates its new flags and modseq, in
// one statement whatever their number (RFC 7162 3.1.3: they all get the
// same new modseq): the new flags go in as one JSON array of [uid, flags,
// keywords], which the statement reads first and then looks each message
// up by primary key.
func (plan flagPlan) write(ctx context.Context, q querier, e db.Engine, mailboxID, modseq int64) error {
	var b strings.Builder
	b.WriteByte('[')
	for i, u := range plan.updates {
		if i > 0 {
			b.WriteByte(',')
		}
		kws, err := json.Marshal(encodeKeywords(u.fs.keywords))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "[%d,%d,%s]", u.uid, u.fs.bits, kws)
	}
	b.WriteByte(']')
	_, err := q.ExecContext(ctx, flagsQuery(e), b.String(), modseq, mailboxID)
	return err
}

// storeFlagsQuery sets the flags of many messages at once (flagPlan.write).
// MATERIALIZED makes the list the outer loop of the join; without it
// SQLite scans the mailbox and the list for each message
// (TestStoreFlagsQueryPlan).
const storeFlagsQuery = `WITH u(uid, flags, keywords) AS MATERIALIZED (SELECT value->>0, value->>1, value->>2 FROM json_each(?))
	UPDATE messages SET flags = u.flags, keywords = u.keywords, modseq = ? FROM u WHERE messages.mailbox_id = ? AND messages.uid = u.uid`

// planFlags reads the messages' flags with q and works out the STORE.
func planFlags(ctx context.Context, q querier, e db.Engine, mailboxID int64, uids []imap.UID, op imap.StoreFlagsOp, arg flagSet, unchangedSince uint64) (flagPlan, error) {
	var plan flagPlan
	rows, err := q.QueryContext(ctx, `SELECT uid, flags, keywords, modseq FROM messages
		WHERE mailbox_id = ? AND uid IN (`+uidsIn(e)+`) ORDER BY uid`, mailboxID, uidJSON(uids))
	if err != nil {
		return plan, fmt.Errorf("store: store flags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var modseq uint64
		var old flagSet
		var kws string
		if err := rows.Scan(&uid, &old.bits, &kws, &modseq); err != nil {
			return plan, fmt.Errorf("store: store flags: %w", err)
		}
		if unchangedSince > 0 && modseq > unchangedSince {
			continue
		}
		old.keywords = decodeKeywords(kws)
		nf := old.apply(op, arg)
		if len(nf.keywords) > maxKeywords {
			return plan, fmt.Errorf("%w: more than %d keywords on message %d", ErrBadFlag, maxKeywords, uid)
		}
		plan.changed = append(plan.changed, imap.UID(uid))
		plan.newFlags = append(plan.newFlags, nf.list())
		if !nf.equal(old) {
			plan.updates = append(plan.updates, flagUpdate{imap.UID(uid), nf})
			switch {
			case old.bits&bitSeen != 0 && nf.bits&bitSeen == 0:
				plan.unseenDelta++
			case old.bits&bitSeen == 0 && nf.bits&bitSeen != 0:
				plan.unseenDelta--
			}
		}
	}
	if err := rows.Err(); err != nil {
		return plan, fmt.Errorf("store: store flags: %w", err)
	}
	return plan, nil
}

// removed is what deleting message rows takes away from a mailbox.
type removed struct {
	uids   []imap.UID
	unseen int64
	size   int64
}

// scanRemoved reads the RETURNING uid, flags, size rows of a DELETE.
func scanRemoved(rows *sql.Rows) (removed, error) {
	defer rows.Close()
	var r removed
	for rows.Next() {
		var uid, bits, size int64
		if err := rows.Scan(&uid, &bits, &size); err != nil {
			return r, err
		}
		r.uids = append(r.uids, imap.UID(uid))
		if bits&bitSeen == 0 {
			r.unseen++
		}
		r.size += size
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	slices.Sort(r.uids)
	return r, nil
}

// account updates the mailbox's counters and modseq for removed messages.
func (r removed) account(ctx context.Context, tx querier, mailboxID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages - ?, unseen = unseen - ?, size = size - ? WHERE id = ?`,
		len(r.uids), r.unseen, r.size, mailboxID)
	return err
}

// Expunge removes the messages that have \Deleted: of uids, or of the whole
// mailbox if uids is nil (RFC 9051 6.4.3 EXPUNGE, 6.4.9 UID EXPUNGE). It
// returns the removed UIDs, ascending; they are never used again in this
// mailbox. Their bodies stay until [Store.CollectGarbage].
func (s *Store) Expunge(ctx context.Context, mailboxID int64, uids []imap.UID) ([]imap.UID, error) {
	if uids != nil && len(uids) == 0 {
		return nil, nil
	}
	ctx, tr := s.traceWrite(ctx, "expunge")
	defer tr.done()
	var out []imap.UID
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		q := s.db.Stmts(tx)
		mb, err := mailboxByID(ctx, q, mailboxID)
		if err != nil {
			return err
		}
		// Two texts, whatever the arguments: each is prepared once.
		query := `DELETE FROM messages WHERE mailbox_id = ? AND flags & ` + strconv.Itoa(bitDeleted) + ` != 0`
		args := []any{mailboxID}
		if uids != nil {
			query += ` AND uid IN (` + uidsIn(s.db.Engine()) + `)`
			args = append(args, uidJSON(uids))
		}
		rows, err := q.QueryContext(ctx, query+` RETURNING uid, flags, size`, args...)
		if err != nil {
			return fmt.Errorf("store: expunge: %w", err)
		}
		r, err := scanRemoved(rows)
		if err != nil {
			return fmt.Errorf("store: expunge: %w", err)
		}
		out = r.uids
		if len(r.uids) == 0 {
			return nil
		}
		if err := r.account(ctx, q, mailboxID); err != nil {
			return fmt.Errorf("store: expunge: %w", err)
		}
		ch.add(Change{Kind: ChangeExpunge, AccountID: mb.AccountID, MailboxID: mailboxID, UIDs: r.uids})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Copy copies the messages with the given UIDs (those that exist) from the
// source mailbox to the account's mailbox dest (RFC 9051 6.4.7), keeping
// their flags and internal dates; the bodies are shared, not copied. The
// source mailbox must belong to the account ([ErrNoMailbox] otherwise).
// Over quota nothing is copied ([*QuotaError]). It returns the destination
// mailbox's state after the copy and, ascending, the source UIDs copied and
// their new UIDs (for COPYUID, RFC 4315).
func (s *Store) Copy(ctx context.Context, srcMailboxID int64, uids []imap.UID, accountID int64, dest string) (destMailbox Mailbox, srcUIDs, destUIDs []imap.UID, err error) {
	return s.copyMove(ctx, srcMailboxID, uids, accountID, accountID, dest, false)
}

// Move moves the messages with the given UIDs as Copy copies them, and
// removes them from the source, in one transaction (RFC 6851). Moving does
// not change the account's usage, so it is not refused over quota: a full
// account can still move mail to Trash.
func (s *Store) Move(ctx context.Context, srcMailboxID int64, uids []imap.UID, accountID int64, dest string) (destMailbox Mailbox, srcUIDs, destUIDs []imap.UID, err error) {
	return s.copyMove(ctx, srcMailboxID, uids, accountID, accountID, dest, true)
}

// CopyFromAccount copies messages as Copy does, from a mailbox of the
// account srcAccountID into the mailbox dest of another account: what an
// offboarding does to give a successor the departed person's mail. The
// copies count against the destination account's quota.
func (s *Store) CopyFromAccount(ctx context.Context, srcAccountID, srcMailboxID int64, uids []imap.UID, accountID int64, dest string) (destMailbox Mailbox, srcUIDs, destUIDs []imap.UID, err error) {
	return s.copyMove(ctx, srcMailboxID, uids, srcAccountID, accountID, dest, false)
}

// copyMove is Copy, or Move if move is set; the source mailbox must belong
// to srcAccountID.
func (s *Store) copyMove(ctx context.Context, srcID int64, uids []imap.UID, srcAccountID, accountID int64, dest string, move bool) (Mailbox, []imap.UID, []imap.UID, error) {
	cn, err := CanonicalName(dest)
	if err != nil {
		return Mailbox{}, nil, nil, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	var dst Mailbox
	var srcUIDs, dstUIDs []imap.UID
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		srcUIDs, dstUIDs = nil, nil
		src, err := mailboxByID(ctx, tx, srcID)
		if err != nil {
			return err
		}
		if src.AccountID != srcAccountID {
			return fmt.Errorf("%w: id %d is not the account's", ErrNoMailbox, srcID)
		}
		if dst, err = mailboxByName(ctx, tx, accountID, cn); err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT uid, blob_id, flags, keywords, internal_date, internal_tz, internal_day, sent_day, size
			FROM messages WHERE mailbox_id = ? AND uid IN (`+uidsIn(s.db.Engine())+`) ORDER BY uid`, srcID, uidJSON(uids))
		if err != nil {
			return fmt.Errorf("store: copy: %w", err)
		}
		var msgs []newMessage
		var total int64
		for rows.Next() {
			var m newMessage
			var uid int64
			var kws string
			if err := rows.Scan(&uid, &m.blobID, &m.flags.bits, &kws, &m.date, &m.tz, &m.day, &m.sentDay, &m.size); err != nil {
				rows.Close()
				return fmt.Errorf("store: copy: %w", err)
			}
			m.flags.keywords = decodeKeywords(kws)
			msgs = append(msgs, m)
			srcUIDs = append(srcUIDs, imap.UID(uid))
			total += m.size
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: copy: %w", err)
		}
		if len(msgs) == 0 {
			return nil
		}
		if !move {
			if err := checkQuota(ctx, tx, map[int64]int64{accountID: total}, []int64{accountID}); err != nil {
				return err
			}
		}
		if dstUIDs, err = appendMessages(ctx, tx, dst.ID, msgs); err != nil {
			return err
		}
		ch.add(Change{Kind: ChangeAppend, AccountID: accountID, MailboxID: dst.ID, UIDs: dstUIDs})
		if move {
			rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid IN (`+uidsIn(s.db.Engine())+`) RETURNING uid, flags, size`,
				srcID, uidJSON(srcUIDs))
			if err != nil {
				return fmt.Errorf("store: move: %w", err)
			}
			r, err := scanRemoved(rows)
			if err != nil {
				return fmt.Errorf("store: move: %w", err)
			}
			if err := r.account(ctx, tx, srcID); err != nil {
				return fmt.Errorf("store: move: %w", err)
			}
			ch.add(Change{Kind: ChangeExpunge, AccountID: accountID, MailboxID: srcID, UIDs: r.uids})
		}
		dst, err = mailboxByID(ctx, tx, dst.ID)
		return err
	})
	if err != nil {
		return Mailbox{}, nil, nil, err
	}
	return dst, srcUIDs, dstUIDs, nil
}
