package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Delimiter is the mailbox hierarchy delimiter.
const Delimiter = '/'

// maxNameLen bounds a mailbox name, in bytes.
const maxNameLen = 255

// inbox is the canonical name of the INBOX.
const inbox = "INBOX"

// CanonicalName validates a mailbox name and returns it in canonical form:
// a first segment equal to "INBOX" in any case becomes "INBOX" (RFC 9051
// 5.1), one trailing delimiter is dropped (RFC 9051 6.3.4 allows it on
// CREATE). Names are UTF-8 (not modified UTF-7); empty segments, "." and
// "..", control characters, the LIST wildcards "*" and "%", and names over
// 255 bytes are refused with [ErrBadName].
func CanonicalName(name string) (string, error) {
	name = strings.TrimSuffix(name, string(Delimiter))
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrBadName)
	}
	if len(name) > maxNameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadName, maxNameLen)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '*' || r == '%' || r == utf8.RuneError {
			return "", fmt.Errorf("%w: character %q not allowed", ErrBadName, r)
		}
	}
	segs := strings.Split(name, string(Delimiter))
	for _, seg := range segs {
		switch seg {
		case "":
			return "", fmt.Errorf("%w: empty hierarchy level in %q", ErrBadName, name)
		case ".", "..":
			return "", fmt.Errorf("%w: %q as hierarchy level", ErrBadName, seg)
		}
	}
	if strings.EqualFold(segs[0], inbox) {
		segs[0] = inbox
	}
	return strings.Join(segs, string(Delimiter)), nil
}

// parents returns the names of the ancestors of name, outermost first.
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// newUIDValidity returns a random non-zero UIDVALIDITY.
func newUIDValidity() uint32 {
	for {
		if v := rand.Uint32(); v != 0 {
			return v
		}
	}
}

// childOf is an SQL condition: the column name starts with the next
// argument, given twice; case-sensitively, as LIKE is not.
const childOf = `substr(name, 1, length(CAST(? AS TEXT))) = CAST(? AS TEXT)`

// mailboxCols are the columns scanMailbox reads.
const mailboxCols = `id, account_id, name, attr, subscribed, uid_validity, uid_next, highest_modseq, messages, unseen, size`

// scanMailbox scans mailboxCols.
func scanMailbox(r interface{ Scan(...any) error }) (Mailbox, error) {
	var mb Mailbox
	var attr string
	var uidNext int64
	err := r.Scan(&mb.ID, &mb.AccountID, &mb.Name, &attr, &mb.Subscribed, &mb.UIDValidity, &uidNext, &mb.HighestModSeq, &mb.Messages, &mb.Unseen, &mb.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return mb, ErrNoMailbox
	}
	if err != nil {
		return mb, fmt.Errorf("store: read mailbox: %w", err)
	}
	mb.Attr = imap.MailboxAttr(attr)
	mb.UIDNext = imap.UID(uidNext)
	return mb, nil
}

// mailboxByName looks a mailbox up by canonical name.
func mailboxByName(ctx context.Context, q querier, accountID int64, name string) (Mailbox, error) {
	mb, err := scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name))
	if errors.Is(err, ErrNoMailbox) {
		return mb, fmt.Errorf("%w: %q", ErrNoMailbox, name)
	}
	return mb, err
}

// inboxUsage looks the account's INBOX up with the account's usage and
// quota (see usage) in one statement: a delivery needs both for every
// recipient, inside its group commit, where each round trip to PostgreSQL
// holds up the deliveries queued behind it.
func inboxUsage(ctx context.Context, q querier, accountID int64) (mb Mailbox, used, quota int64, err error) {
	row := q.QueryRowContext(ctx, `SELECT `+mailboxCols+`,
		(SELECT coalesce(sum(size), 0) FROM mailboxes WHERE account_id = ?1),
		coalesce((SELECT quota FROM mail_accounts WHERE account_id = ?1), 0)
		FROM mailboxes WHERE account_id = ?1 AND name = ?2`, accountID, inbox)
	mb, err = scanMailbox(scanMore{row, []any{&used, &quota}})
	if errors.Is(err, ErrNoMailbox) {
		return mb, 0, 0, fmt.Errorf("%w: %q", ErrNoMailbox, inbox)
	}
	return mb, used, quota, err
}

// scanMore scans the columns its caller asks for, then more.
type scanMore struct {
	r    interface{ Scan(...any) error }
	more []any
}

func (s scanMore) Scan(dest ...any) error { return s.r.Scan(append(dest, s.more...)...) }

// mailboxByID looks a mailbox up by ID.
func mailboxByID(ctx context.Context, q querier, id int64) (Mailbox, error) {
	mb, err := scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE id = ?`, id))
	if errors.Is(err, ErrNoMailbox) {
		return mb, fmt.Errorf("%w: id %d", ErrNoMailbox, id)
	}
	return mb, err
}

// isSpecial reports whether mb may be neither deleted nor renamed.
func (mb Mailbox) isSpecial() bool { return mb.Name == inbox || mb.Attr != "" }

// Mailboxes lists the account's mailboxes: INBOX first, then the others
// sorted by name (bytewise, so a parent comes right before its children).
func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error) {
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? ORDER BY name != 'INBOX', name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: list mailboxes: %w", err)
	}
	defer rows.Close()
	var out []Mailbox
	for rows.Next() {
		mb, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, mb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list mailboxes: %w", err)
	}
	return out, nil
}

// Mailbox returns the state of the account's mailbox name ("inbox" in any
// case is INBOX), with its counters: one row read, whatever its size. A name
// that does not exist, or cannot exist, is [ErrNoMailbox].
func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (Mailbox, error) {
	cn, err := CanonicalName(name)
	if err != nil {
		return Mailbox{}, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	return mailboxByName(ctx, s.db.Stmts(nil), accountID, cn)
}

// MailboxByID returns the state of the mailbox with the given ID, as
// [Store.Mailbox] does; [ErrNoMailbox] if it was deleted.
func (s *Store) MailboxByID(ctx context.Context, mailboxID int64) (Mailbox, error) {
	return mailboxByID(ctx, s.db.Stmts(nil), mailboxID)
}

// CreateMailbox creates a mailbox, and its missing parents, unsubscribed
// (RFC 9051 6.3.4). Each new mailbox gets a new random UIDVALIDITY. It
// returns [ErrMailboxExists] if name exists, [ErrBadName] if it is invalid.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name string) error {
	cn, err := CanonicalName(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		if err := s.ensureAccount(ctx, tx, ch, accountID); err != nil {
			return err
		}
		for _, p := range parents(cn) {
			if _, err := s.createMailbox(ctx, tx, accountID, p); err != nil && !errors.Is(err, ErrMailboxExists) {
				return err
			}
		}
		if _, err := s.createMailbox(ctx, tx, accountID, cn); err != nil {
			return err
		}
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID})
		return nil
	})
}

// createMailbox inserts one mailbox row; [ErrMailboxExists] if it exists.
func (s *Store) createMailbox(ctx context.Context, tx *sql.Tx, accountID int64, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO mailboxes (account_id, name, uid_validity, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, name) DO NOTHING RETURNING id`, accountID, name, newUIDValidity(), s.now().Unix()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %q", ErrMailboxExists, name)
	}
	if err != nil {
		return 0, fmt.Errorf("store: create mailbox: %w", err)
	}
	// A subscription that outlived a deleted mailbox of this name applies
	// to the new one.
	res, err := tx.ExecContext(ctx, `DELETE FROM mailbox_subscriptions WHERE account_id = ? AND name = ?`, accountID, name)
	if err != nil {
		return 0, fmt.Errorf("store: create mailbox: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = 1 WHERE id = ?`, id); err != nil {
			return 0, fmt.Errorf("store: create mailbox: %w", err)
		}
	}
	return id, nil
}

// hasChildren reports whether the mailbox name has inferior mailboxes.
func hasChildren(ctx context.Context, q querier, accountID int64, name string) (bool, error) {
	var found bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = ? AND `+childOf+`)`,
		accountID, name+string(Delimiter), name+string(Delimiter)).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return found, nil
}

// DeleteMailbox deletes a mailbox and its messages. INBOX and the other
// special-use mailboxes cannot be deleted ([ErrSpecialUse]); a mailbox with
// child mailboxes neither ([ErrHasChildren]; RFC 9051 6.3.4 lets a server
// refuse). The bodies of the messages stay in the blob store until
// [Store.CollectGarbage] finds them unreferenced.
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	cn, err := CanonicalName(name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		mb, err := mailboxByName(ctx, tx, accountID, cn)
		if err != nil {
			return err
		}
		if mb.isSpecial() {
			return fmt.Errorf("%w: %q", ErrSpecialUse, mb.Name)
		}
		if has, err := hasChildren(ctx, tx, accountID, mb.Name); err != nil {
			return err
		} else if has {
			return fmt.Errorf("%w: %q", ErrHasChildren, mb.Name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id = ?`, mb.ID); err != nil {
			return fmt.Errorf("store: delete mailbox: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE id = ?`, mb.ID); err != nil {
			return fmt.Errorf("store: delete mailbox: %w", err)
		}
		if mb.Subscribed { // DELETE does not unsubscribe (RFC 9051 6.3.4)
			if _, err := tx.ExecContext(ctx, `INSERT INTO mailbox_subscriptions (account_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING`, accountID, mb.Name); err != nil {
				return fmt.Errorf("store: delete mailbox: %w", err)
			}
		}
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID, MailboxID: mb.ID})
		return nil
	})
}

// RenameMailbox renames a mailbox and its children (RFC 9051 6.3.6),
// creating missing parents of the new name. The mailbox keeps its
// UIDVALIDITY and UIDs. Renaming INBOX creates the new mailbox and moves
// INBOX's messages into it, with their UIDs; INBOX stays, empty, and keeps
// its UIDNEXT, and INBOX's children stay where they are. Other special-use
// mailboxes cannot be renamed ([ErrSpecialUse]); a name that exists, also
// for a child, is [ErrMailboxExists]; renaming a mailbox below itself is
// [ErrBadName].
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, oldName, newName string) error {
	from, err := CanonicalName(oldName)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	to, err := CanonicalName(newName)
	if err != nil {
		return err
	}
	if to == from {
		return fmt.Errorf("%w: %q", ErrMailboxExists, to)
	}
	if from != inbox && strings.HasPrefix(to, from+string(Delimiter)) {
		return fmt.Errorf("%w: cannot move %q below itself", ErrBadName, from)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		mb, err := mailboxByName(ctx, tx, accountID, from)
		if err != nil {
			return err
		}
		if mb.Name == inbox {
			return s.renameInbox(ctx, tx, ch, mb, to)
		}
		if mb.isSpecial() {
			return fmt.Errorf("%w: %q", ErrSpecialUse, mb.Name)
		}
		// The mailbox and its children, with their new names.
		rows, err := tx.QueryContext(ctx, `SELECT id, name FROM mailboxes WHERE account_id = ? AND (id = ? OR `+childOf+`)`,
			accountID, mb.ID, from+string(Delimiter), from+string(Delimiter))
		if err != nil {
			return fmt.Errorf("store: rename mailbox: %w", err)
		}
		type rename struct {
			id   int64
			name string
		}
		var renames []rename
		for rows.Next() {
			var r rename
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return fmt.Errorf("store: rename mailbox: %w", err)
			}
			r.name = to + strings.TrimPrefix(r.name, from)
			if len(r.name) > maxNameLen {
				rows.Close()
				return fmt.Errorf("%w: %q would be longer than %d bytes", ErrBadName, r.name, maxNameLen)
			}
			renames = append(renames, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: rename mailbox: %w", err)
		}
		for _, r := range renames {
			if _, err := mailboxByName(ctx, tx, accountID, r.name); err == nil {
				return fmt.Errorf("%w: %q", ErrMailboxExists, r.name)
			} else if !errors.Is(err, ErrNoMailbox) {
				return err
			}
		}
		// Two steps, so that a rename never collides with a name that a
		// sibling in this same rename still holds. The names of the first
		// step have control characters, which no mailbox's name has
		// (CanonicalName), and PostgreSQL takes in text (not NUL).
		for _, r := range renames {
			if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, fmt.Sprintf("\x01rename\x01%d", r.id), r.id); err != nil {
				return fmt.Errorf("store: rename mailbox: %w", err)
			}
		}
		for _, r := range renames {
			if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, r.name, r.id); err != nil {
				return fmt.Errorf("store: rename mailbox: %w", err)
			}
		}
		for _, p := range parents(to) {
			if _, err := s.createMailbox(ctx, tx, accountID, p); err != nil && !errors.Is(err, ErrMailboxExists) {
				return err
			}
		}
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID, MailboxID: mb.ID})
		return nil
	})
}

// renameInbox moves every message of INBOX into a new mailbox named to
// (RFC 9051 6.3.6).
func (s *Store) renameInbox(ctx context.Context, tx *sql.Tx, ch *changes, in Mailbox, to string) error {
	for _, p := range parents(to) {
		if _, err := s.createMailbox(ctx, tx, in.AccountID, p); err != nil && !errors.Is(err, ErrMailboxExists) {
			return err
		}
	}
	id, err := s.createMailbox(ctx, tx, in.AccountID, to)
	if err != nil {
		return err
	}
	uids, err := uidsAfter(ctx, tx, in.ID, 0)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?`, id, in.ID); err != nil {
		return fmt.Errorf("store: rename INBOX: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET uid_next = ?, highest_modseq = ?, messages = ?, unseen = ?, size = ? WHERE id = ?`,
		int64(in.UIDNext), in.HighestModSeq, in.Messages, in.Unseen, in.Size, id)
	if err != nil {
		return fmt.Errorf("store: rename INBOX: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = 0, unseen = 0, size = 0 WHERE id = ?`, in.ID)
	if err != nil {
		return fmt.Errorf("store: rename INBOX: %w", err)
	}
	if len(uids) > 0 {
		ch.add(Change{Kind: ChangeExpunge, AccountID: in.AccountID, MailboxID: in.ID, UIDs: uids})
	}
	ch.add(Change{Kind: ChangeMailboxes, AccountID: in.AccountID, MailboxID: id})
	return nil
}

// SetSubscribed subscribes to the mailbox or unsubscribes from it (RFC 9051
// 6.3.7, 6.3.8). Only existing mailboxes can be subscribed to
// ([ErrNoMailbox]; RFC 9051 6.3.7 lets a server check); a subscription
// outlives the mailbox's deletion (see [Store.OrphanSubscriptions]) and
// can be removed while no mailbox has the name.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error {
	cn, err := CanonicalName(name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		res, err := tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND name = ?`, boolInt(on), accountID, cn)
		if err != nil {
			return fmt.Errorf("store: subscribe: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 && !on {
			res, err = tx.ExecContext(ctx, `DELETE FROM mailbox_subscriptions WHERE account_id = ? AND name = ?`, accountID, cn)
			if err != nil {
				return fmt.Errorf("store: unsubscribe: %w", err)
			}
			n, _ = res.RowsAffected()
		}
		if n == 0 {
			return fmt.Errorf("%w: %q", ErrNoMailbox, cn)
		}
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID})
		return nil
	})
}

// OrphanSubscriptions returns, sorted, the account's subscribed names that
// have no mailbox: mailboxes deleted while subscribed (RFC 9051 6.3.4).
func (s *Store) OrphanSubscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM mailbox_subscriptions WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("store: subscriptions: %w", err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	return out, nil
}
