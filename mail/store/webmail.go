package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// Account-scoped readers for webmail (mail/webmail). The store's other
// methods are keyed by mailbox id, which IMAP takes from a mailbox the
// session selected by name within its own account; a web page instead
// takes mailbox ids and UIDs from its URL, where anyone can type another
// account's. Every method here takes the signed-in account too, and a
// mailbox or message of any other account is [ErrNoMailbox] or
// [ErrNoMessage], exactly as one that does not exist.

// ErrNoMessage is a message that does not exist in the account's mailbox.
var ErrNoMessage = errors.New("store: no such message")

// MaxSignature bounds a webmail signature, in bytes.
const MaxSignature = 4 << 10

// WebmailComponent returns the tables of webmail's settings, a component
// of its own so that its version numbers never collide with the store's.
// webmail_settings holds each account's settings: for now the signature
// that webmail puts under every new message.
func WebmailComponent() db.Component {
	return db.Component{Name: "webmail", Migrations: []db.Migration{{Version: 1, SQL: webmailSchemaV1, Postgres: webmailSchemaPostgres}}}
}

const webmailSchemaV1 = `
CREATE TABLE webmail_settings (
	account_id INTEGER PRIMARY KEY,
	signature  TEXT NOT NULL DEFAULT ''
);
`

// webmailSchemaPostgres is webmailSchemaV1 on PostgreSQL.
const webmailSchemaPostgres = `
CREATE TABLE webmail_settings (
	account_id BIGINT PRIMARY KEY,
	signature  TEXT NOT NULL DEFAULT ''
);
`

// AccountMailbox returns the mailbox with the given id if it belongs to
// the account; [ErrNoMailbox] otherwise, whether it exists or not.
func (s *Store) AccountMailbox(ctx context.Context, accountID, mailboxID int64) (Mailbox, error) {
	mb, err := scanMailbox(s.db.Stmts(nil).QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID))
	if errors.Is(err, ErrNoMailbox) {
		return mb, fmt.Errorf("%w: id %d", ErrNoMailbox, mailboxID)
	}
	return mb, err
}

// messageCols are the columns scanMessage reads, of messages m joined
// with blobs b.
const messageCols = `m.uid, m.flags, m.keywords, m.internal_date, m.internal_tz, m.size, m.modseq, b.ref, b.envelope, b.structure`

// scanMessage scans messageCols.
func scanMessage(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var uid, date, modseq int64
	var tz int
	var fs flagSet
	var kws, ref, env, bs string
	if err := r.Scan(&uid, &fs.bits, &kws, &date, &tz, &m.Size, &modseq, &ref, &env, &bs); err != nil {
		return m, err
	}
	fs.keywords = decodeKeywords(kws)
	m.UID = imap.UID(uid)
	m.Flags = fs.list()
	m.InternalDate = zoned(date, tz)
	m.ModSeq = uint64(modseq)
	m.Blob = blob.Ref(ref)
	var err error
	if m.Envelope, err = decodeEnvelope(env); err != nil {
		return m, err
	}
	if m.BodyStructure, err = decodeStructure(bs); err != nil {
		return m, err
	}
	return m, nil
}

// AccountMessage returns the metadata of one message of the account's
// mailbox; [ErrNoMessage] if the mailbox is not the account's or holds no
// such UID.
func (s *Store) AccountMessage(ctx context.Context, accountID, mailboxID int64, uid imap.UID) (Message, error) {
	m, err := scanMessage(s.db.Stmts(nil).QueryRowContext(ctx, `SELECT `+messageCols+`
		FROM messages m JOIN blobs b ON b.id = m.blob_id JOIN mailboxes x ON x.id = m.mailbox_id
		WHERE m.mailbox_id = ? AND m.uid = ? AND x.account_id = ?`, mailboxID, int64(uid), accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%w: %d/%d", ErrNoMessage, mailboxID, uid)
	}
	if err != nil {
		return m, fmt.Errorf("store: message: %w", err)
	}
	return m, nil
}

// MessagePage returns up to limit messages of the account's mailbox with
// UIDs below before (0: from the newest), newest first: one page of a
// message list. It reads the mailbox's primary key backwards from before,
// so the first page of a mailbox of 100,000 messages costs what a page of
// a small one does, and a page stays put while new mail arrives above it
// (paging by UID range, not by offset). A mailbox that is not the
// account's is [ErrNoMailbox].
func (s *Store) MessagePage(ctx context.Context, accountID, mailboxID int64, before imap.UID, limit int) ([]Message, error) {
	if _, err := s.AccountMailbox(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	if before == 0 {
		before = imap.UID(1<<32 - 1)
	}
	limit = max(1, min(limit, 500))
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT `+messageCols+`
		FROM messages m JOIN blobs b ON b.id = m.blob_id
		WHERE m.mailbox_id = ? AND m.uid < ? ORDER BY m.uid DESC LIMIT ?`, mailboxID, int64(before), limit)
	if err != nil {
		return nil, fmt.Errorf("store: message page: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: message page: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: message page: %w", err)
	}
	return out, nil
}

// AccountMessages returns the metadata of the given messages of the
// account's mailbox, in the order of uids, skipping UIDs that do not
// exist; [ErrNoMailbox] if the mailbox is not the account's.
func (s *Store) AccountMessages(ctx context.Context, accountID, mailboxID int64, uids []imap.UID) ([]Message, error) {
	if _, err := s.AccountMailbox(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	return s.Messages(ctx, mailboxID, uids)
}

// AccountSearch runs an IMAP search (RFC 9051 6.4.4) in the account's
// mailbox; [ErrNoMailbox] if it is not the account's.
func (s *Store) AccountSearch(ctx context.Context, accountID, mailboxID int64, c *imap.SearchCriteria) ([]imap.UID, error) {
	if _, err := s.AccountMailbox(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	return s.Search(ctx, mailboxID, c)
}

// Signature returns the account's webmail signature, "" if none.
func (s *Store) Signature(ctx context.Context, accountID int64) (string, error) {
	var sig string
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT signature FROM webmail_settings WHERE account_id = ?`, accountID).Scan(&sig)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: signature: %w", err)
	}
	return sig, nil
}

// SetSignature sets the account's webmail signature: valid UTF-8 of at
// most [MaxSignature] bytes, line ends made CRLF-free ("\n").
func (s *Store) SetSignature(ctx context.Context, accountID int64, sig string) error {
	sig = strings.ReplaceAll(sig, "\r\n", "\n")
	if len(sig) > MaxSignature || !utf8.ValidString(sig) {
		return fmt.Errorf("store: signature: more than %d bytes or not UTF-8", MaxSignature)
	}
	_, err := s.db.Stmts(nil).ExecContext(ctx, `INSERT INTO webmail_settings (account_id, signature) VALUES (?, ?)
		ON CONFLICT (account_id) DO UPDATE SET signature = excluded.signature`, accountID, sig)
	if err != nil {
		return fmt.Errorf("store: set signature: %w", err)
	}
	return nil
}
