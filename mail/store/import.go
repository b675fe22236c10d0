package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
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
// the message first (see Options.Hostname). It is [Store.ImportBatch] of
// one message.
func (s *Store) Import(ctx context.Context, accountID int64, r io.Reader, date time.Time, decide ImportDecider) (blob.Ref, []Mailbox, []imap.UID, error) {
	res, err := s.ImportBatch(ctx, accountID, []ImportMessage{{Body: r, Date: date, Decide: decide}})
	if err != nil {
		return "", nil, nil, err
	}
	if res[0].Err != nil {
		return res[0].Ref, nil, nil, res[0].Err
	}
	return res[0].Ref, res[0].Mailboxes, res[0].UIDs, nil
}

// ImportMessage is one message of [Store.ImportBatch].
type ImportMessage struct {
	Body   io.Reader
	Date   time.Time // the internal date; zero: now
	Decide ImportDecider
}

// Imported is what [Store.ImportBatch] did with one message.
type Imported struct {
	Ref       blob.Ref   // its body's reference; "" if it was not stored
	Mailboxes []Mailbox  // as they were before the batch went in
	UIDs      []imap.UID // in Mailboxes; none if Decide placed it nowhere
	Err       error      // why it was not imported, as [Store.Import] says
}

// ImportBatch imports each message of msgs as [Store.Import] does, and
// shares the work that makes them durable: every body is written to the
// blob store first, then all are made durable in one round
// ([blob.Batch]: the files synced at once, each directory once), then
// every message goes into one transaction (the group commit's, see
// [Store.write]) in a savepoint of its own, and one commit makes them
// durable together. It returns only after that commit, so that nothing
// is acknowledged, nor recorded as imported by a decider's rows, before
// it is on disk; a crash before it leaves none of the batch's rows, and
// the messages are imported once when tried again. One message's failure
// (too large, over quota, a missing mailbox, its decider's error) is its
// Imported.Err and leaves the others; an error of the batch itself (the
// blob store's, the commit's) is returned, and then none is imported.
func (s *Store) ImportBatch(ctx context.Context, accountID int64, msgs []ImportMessage) ([]Imported, error) {
	res := make([]Imported, len(msgs))
	ins := make([]*incoming, len(msgs)) // nil: not stored
	committed := make([]bool, len(msgs))
	defer func() {
		for i, in := range ins {
			if in != nil {
				s.release(ctx, in, committed[i])
			}
		}
	}()
	if err := s.stageBatch(ctx, msgs, res, ins); err != nil {
		return nil, err
	}
	if err := s.prepareBatch(ctx, ins, res); err != nil {
		return nil, err
	}
	if err := s.importBatchTx(ctx, accountID, msgs, res, ins); err != nil {
		return nil, err
	}
	for i := range res {
		committed[i] = len(res[i].UIDs) > 0
	}
	return res, nil
}

// prepareBatch is prepare for the stored bodies of a batch: one query
// finds those that have a blobs row, and the others are parsed, without
// their searchable text (the indexer parses that when it indexes them).
// A body that cannot be imported (empty) gets its Err and is released.
func (s *Store) prepareBatch(ctx context.Context, ins []*incoming, res []Imported) error {
	known, err := s.knownBlobs(ctx, ins)
	if err != nil {
		return err
	}
	for i, in := range ins {
		if in == nil {
			continue
		}
		var err error
		if in.size == 0 {
			err = fmt.Errorf("store: empty message")
		} else if !known[in.ref] {
			err = s.parseText(in, false)
		}
		if err != nil {
			res[i].Err = err
			s.release(ctx, in, false)
			ins[i] = nil
		}
	}
	return nil
}

// knownRefs is how many refs one query of knownBlobs asks about.
const knownRefs = 100

// knownBlobs returns which of the bodies ins (nil: none) have a blobs row.
func (s *Store) knownBlobs(ctx context.Context, ins []*incoming) (map[blob.Ref]bool, error) {
	var refs []any
	for _, in := range ins {
		if in != nil {
			refs = append(refs, string(in.ref))
		}
	}
	known := map[blob.Ref]bool{}
	for len(refs) > 0 {
		chunk := refs[:min(len(refs), knownRefs)]
		refs = refs[len(chunk):]
		rows, err := s.db.QueryContext(ctx, `SELECT ref FROM blobs WHERE ref IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, chunk...)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: %w", err)
			}
			known[blob.Ref(ref)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return known, nil
}

// stageBatch writes the bodies of msgs into one blob batch and commits
// it, noting each stored body (pinned) in ins and each message's own
// failure in res.
func (s *Store) stageBatch(ctx context.Context, msgs []ImportMessage, res []Imported, ins []*incoming) error {
	b := blob.NewBatch(s.blobs)
	defer b.Abort()
	for i, m := range msgs {
		r, err := s.withoutOwnFindings(m.Body)
		if err != nil {
			res[i].Err = err
			continue
		}
		ref, n, err := b.Put(ctx, r, s.opts.MaxMessageSize)
		if errors.Is(err, blob.ErrTooLarge) {
			res[i].Err = s.tooLarge()
			continue
		}
		if err != nil {
			return fmt.Errorf("store: storing message: %w", err)
		}
		s.pin(ref)
		ins[i], res[i].Ref = &incoming{ref: ref, size: n}, ref
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("store: storing messages: %w", err)
	}
	return nil
}

// importBatchTx is the write of [Store.ImportBatch]: one job of the group
// commit. It first writes every message without a savepoint of its own:
// a savepoint makes SQLite copy each page a message changes into its
// statement journal (a temporary file), and per message that cost as much
// as the inserts. Should a message fail, that attempt is rolled back as a
// whole (the group's savepoint of the job) and the batch is written again
// with a savepoint per message, so that the failure is that message's
// alone. A new body is left to the background indexer
// ([Store.RunIndexer]) as deliveries are, not indexed in the commit: half
// of a bulk import's time went to the full-text index, and a search
// checks or indexes whatever waits.
func (s *Store) importBatchTx(ctx context.Context, accountID int64, msgs []ImportMessage, res []Imported, ins []*incoming) error {
	err := s.importBatchWrite(ctx, accountID, msgs, res, ins, false)
	if errors.Is(err, errImportRedo) {
		err = s.importBatchWrite(ctx, accountID, msgs, res, ins, true)
	}
	return err
}

// errImportRedo rolls back an attempt of importBatchWrite without
// savepoints in which a message failed.
var errImportRedo = errors.New("store: import: a message failed; written again message by message")

// importBatchWrite is one attempt of importBatchTx: with saved, each
// message in a savepoint of its own; without, the first message that
// fails rolls the attempt back with errImportRedo.
func (s *Store) importBatchWrite(ctx context.Context, accountID int64, msgs []ImportMessage, res []Imported, ins []*incoming, saved bool) error {
	now := s.now()
	var deferred []blob.Ref
	err := s.writeBulk(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		deferred = deferred[:0]
		w := importWrite{s: s, tx: tx, q: s.db.Stmts(tx), ch: ch, accountID: accountID, mailboxes: map[string]Mailbox{}}
		for i, in := range ins {
			if in == nil {
				continue
			}
			res[i].Mailboxes, res[i].UIDs, res[i].Err = nil, nil, nil
			date := msgs[i].Date
			if date.IsZero() {
				date = now
			}
			d, err := w.message(ctx, in, date, msgs[i].Decide, &res[i], saved)
			if err != nil {
				return err
			}
			if d {
				deferred = append(deferred, in.ref)
			}
		}
		return nil
	})
	if err != nil {
		for _, ref := range deferred {
			s.index.forget(ref)
		}
		return err
	}
	return nil
}

// importWrite is what importBatchWrite's transaction knows.
type importWrite struct {
	s         *Store
	tx        *sql.Tx
	q         querier
	ch        *changes
	accountID int64
	// mailboxes are those the transaction looked up, by canonical
	// name: it alone writes, so they stay as they were.
	mailboxes map[string]Mailbox
	// used and quota are the account's, read once (usage) and counted
	// on as messages go in.
	used, quota int64
	usageRead   bool
}

// checkQuota returns a *QuotaError if adding n bytes would take the
// account over its quota: what [checkQuota] does, without summing the
// account's mailboxes again for each message.
func (w *importWrite) checkQuota(ctx context.Context, n int64) error {
	if !w.usageRead {
		used, quota, err := usage(ctx, w.q, w.accountID)
		if err != nil {
			return fmt.Errorf("store: quota: %w", err)
		}
		w.used, w.quota, w.usageRead = used, quota, true
	}
	if w.quota > 0 && w.used+n > w.quota {
		return &QuotaError{Over: []QuotaExcess{{AccountID: w.accountID, Used: w.used, Adding: n, Quota: w.quota}}}
	}
	return nil
}

// message writes one message: in a savepoint of its own if saved, its
// failure then its Imported.Err; without, its failure is errImportRedo.
// It reports whether a new body was noted for the index.
func (w *importWrite) message(ctx context.Context, in *incoming, date time.Time, decide ImportDecider, res *Imported, saved bool) (bool, error) {
	if !saved {
		d, err := w.s.importOne(ctx, w, in, date, decide, res)
		if err != nil {
			return false, fmt.Errorf("%w: %w", errImportRedo, err)
		}
		return d, nil
	}
	if _, err := w.tx.ExecContext(ctx, `SAVEPOINT import`); err != nil {
		return false, err
	}
	n := len(*w.ch)
	d, err := w.s.importOne(ctx, w, in, date, decide, res)
	if err != nil {
		res.Mailboxes, res.UIDs, res.Err = nil, nil, err
		*w.ch = (*w.ch)[:n]
		if _, err := w.tx.ExecContext(ctx, `ROLLBACK TO import`); err != nil {
			return false, err
		}
	}
	if _, err := w.tx.ExecContext(ctx, `RELEASE import`); err != nil {
		return false, err
	}
	return d && err == nil, nil
}

// importOne is one message of importBatchWrite: it reports whether a
// new body was noted for the index. A body whose blobs row vanished
// (collected after prepare looked) is parsed and tried again.
func (s *Store) importOne(ctx context.Context, w *importWrite, in *incoming, date time.Time, decide ImportDecider, res *Imported) (deferred bool, err error) {
	places, err := decide(ctx, w.tx, in.ref, in.size)
	if err != nil || len(places) == 0 {
		return false, err
	}
	q := w.q
	added := in.size * int64(len(places))
	if err := w.checkQuota(ctx, added); err != nil {
		return false, err
	}
	blobID, sentDay, p, err := s.blobRowUnindexed(ctx, q, in)
	if errors.Is(err, errNeedParse) {
		if err = s.parseText(in, false); err == nil {
			blobID, sentDay, p, err = s.blobRowUnindexed(ctx, q, in)
		}
	}
	if err != nil {
		return false, err
	}
	for _, pl := range places {
		mb, uid, err := w.place(ctx, pl, messageFor(blobID, sentDay, in.size, flagSet{}, date))
		if err != nil {
			return false, err
		}
		w.ch.add(Change{Kind: ChangeAppend, AccountID: w.accountID, MailboxID: mb.ID, UIDs: []imap.UID{uid}})
		res.Mailboxes, res.UIDs = append(res.Mailboxes, mb), append(res.UIDs, uid)
	}
	if p != nil {
		// Parsed without its text: the indexer parses it when it
		// indexes it, at a quiet spell, rather than keeping the text
		// of a whole import in memory until then.
		if err := s.index.defer_(ctx, q, blobID, in.ref, nil); err != nil {
			return false, err
		}
	}
	w.used += added
	return p != nil, nil
}

// place appends message m with pl's flags to pl's mailbox.
func (w *importWrite) place(ctx context.Context, pl Placement, m newMessage) (Mailbox, imap.UID, error) {
	cn, err := CanonicalName(pl.Mailbox)
	if err != nil {
		return Mailbox{}, 0, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	if m.flags, err = parseFlags(pl.Flags); err != nil {
		return Mailbox{}, 0, err
	}
	mb, ok := w.mailboxes[cn]
	if !ok {
		if mb, err = mailboxByName(ctx, w.q, w.accountID, cn); err != nil {
			return Mailbox{}, 0, err
		}
		w.mailboxes[cn] = mb
	}
	uids, err := appendMessages(ctx, w.q, mb.ID, []newMessage{m})
	if err != nil {
		return Mailbox{}, 0, err
	}
	return mb, uids[0], nil
}
