package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// Card is one stored vCard resource.
type Card struct {
	Name     string // the last segment of its URL, e.g. "3f2a….vcf"
	UID      string
	ETag     string // without quotes
	Data     []byte // as Encode wrote it
	Modified time.Time
}

// Cond is a write's preconditions, the values of the If-Match and
// If-None-Match headers as received (RFC 9110 sections 13.1.1 and
// 13.1.2); empty ones do not apply.
type Cond struct {
	IfMatch     string
	IfNoneMatch string
}

// check tests c against the resource's current entity tag ("" when there
// is no resource), as the server of RFC 9110 section 13.2.2 does.
func (c Cond) check(etag string) error {
	if c.IfMatch != "" {
		if etag == "" || !matches(c.IfMatch, etag) {
			return ErrPrecondition
		}
	}
	if c.IfNoneMatch != "" && etag != "" && matches(c.IfNoneMatch, etag) {
		return ErrPrecondition
	}
	return nil
}

// matches reports whether a header's list of entity tags holds etag or
// is "*". Weak tags compare by their opaque part (weak comparison, RFC
// 9110 section 8.8.3.2).
func matches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' && t[1:len(t)-1] == etag {
			return true
		}
	}
	return false
}

// ValidName reports whether name may name a card: 1 to MaxName bytes of
// UTF-8 without "/", control characters, or a leading dot.
func ValidName(name string) bool {
	return name != "" && len(name) <= MaxName && utf8.ValidString(name) && name[0] != '.' &&
		!strings.ContainsRune(name, '/') && validText(name, false) && !strings.ContainsRune(name, '\t')
}

const cardCols = `name, uid, etag, data, modified_at`

func scanCard(sc interface{ Scan(...any) error }) (Card, error) {
	var c Card
	var mod int64
	err := sc.Scan(&c.Name, &c.UID, &c.ETag, &c.Data, &mod)
	c.Modified = time.UnixMilli(mod)
	return c, err
}

// Cards returns every card of the book slug, by name.
func (s *Store) Cards(ctx context.Context, m Member, slug string) ([]Card, error) {
	b, err := s.Book(ctx, m, slug)
	if err != nil {
		return nil, err
	}
	return s.cards(ctx, `SELECT `+cardCols+` FROM contacts_cards WHERE book_id = ? ORDER BY name`, b.id)
}

func (s *Store) cards(ctx context.Context, query string, args ...any) ([]Card, error) {
	rows, err := s.db.Stmts(nil).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("contacts: list cards: %w", err)
	}
	defer rows.Close()
	var out []Card
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, fmt.Errorf("contacts: list cards: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: list cards: %w", err)
	}
	return out, nil
}

// Card returns the card name of the book slug.
func (s *Store) Card(ctx context.Context, m Member, slug, name string) (Card, error) {
	b, err := s.Book(ctx, m, slug)
	if err != nil {
		return Card{}, err
	}
	return s.CardIn(ctx, b, name)
}

// CardIn returns the card name of b, a book [Store.Book] or [Store.Books]
// gave (and so one its member may see): for a request that reads many
// cards of one book (a multiget), which need not look the book up again.
func (s *Store) CardIn(ctx context.Context, b Book, name string) (Card, error) {
	if b.id == 0 {
		return Card{}, ErrNotFound
	}
	c, err := scanCard(s.db.Stmts(nil).QueryRowContext(ctx, `SELECT `+cardCols+` FROM contacts_cards WHERE book_id = ? AND name = ?`, b.id, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Card{}, ErrNotFound
	}
	if err != nil {
		return Card{}, fmt.Errorf("contacts: read card: %w", err)
	}
	return c, nil
}

// writable returns the book slug if m may change it.
func (s *Store) writable(ctx context.Context, m Member, slug string) (Book, error) {
	b, err := s.Book(ctx, m, slug)
	if err != nil {
		return b, err
	}
	if !b.Writable {
		return b, ErrReadOnly
	}
	return b, nil
}

// Put stores card as the resource name of the book slug, if c holds,
// and returns it with whether it was created. A card equal to the stored
// one changes nothing. The card is checked first (see Check); nothing
// changes when it fails.
func (s *Store) Put(ctx context.Context, m Member, slug, name string, card vcard.Card, c Cond) (Card, bool, error) {
	if !ValidName(name) {
		return Card{}, false, fmt.Errorf("%w: resource name", ErrInvalid)
	}
	if err := Check(card); err != nil {
		return Card{}, false, err
	}
	b, err := s.writable(ctx, m, slug)
	if err != nil {
		return Card{}, false, err
	}
	data := Encode(card)
	out := Card{Name: name, UID: card.Value(vcard.FieldUID), ETag: ETag(data), Data: data, Modified: s.now()}
	created := false
	err = s.db.Tx(ctx, func(sqltx *sql.Tx) error {
		tx := s.db.Stmts(sqltx)
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT etag FROM contacts_cards WHERE book_id = ? AND name = ?`, b.id, name).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := c.check(cur); err != nil {
			return err
		}
		if cur == out.ETag {
			return nil
		}
		var other string
		err = tx.QueryRowContext(ctx, `SELECT name FROM contacts_cards WHERE book_id = ? AND uid = ? AND name <> ?`, b.id, out.UID, name).Scan(&other)
		if err == nil {
			return ErrUIDConflict
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if cur == "" {
			if err := room(ctx, tx, b.id, 1, s.lim); err != nil {
				return err
			}
		}
		seq, err := bump(ctx, tx, b.id)
		if err != nil {
			return err
		}
		created = cur == ""
		_, err = tx.ExecContext(ctx, `INSERT INTO contacts_cards (book_id, name, uid, etag, data, modseq, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (book_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, data = excluded.data, modseq = excluded.modseq, modified_at = excluded.modified_at`,
			b.id, name, out.UID, out.ETag, data, seq, out.Modified.UnixMilli())
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM contacts_gone WHERE book_id = ? AND name = ?`, b.id, name)
		return err
	})
	if err != nil {
		return Card{}, false, wrap("put card", err)
	}
	return out, created, nil
}

// Delete removes the resource name of the book slug, if c holds.
func (s *Store) Delete(ctx context.Context, m Member, slug, name string, c Cond) error {
	b, err := s.writable(ctx, m, slug)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error { return deleteCard(ctx, s.db.Stmts(tx), b.id, name, c, s.lim) })
	return wrap("delete card", err)
}

func deleteCard(ctx context.Context, tx querier, book int64, name string, c Cond, lim limits) error {
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT etag FROM contacts_cards WHERE book_id = ? AND name = ?`, book, name).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := c.check(cur); err != nil {
		return err
	}
	seq, err := bump(ctx, tx, book)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM contacts_cards WHERE book_id = ? AND name = ?`, book, name); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO contacts_gone (book_id, name, modseq) VALUES (?, ?, ?)
		ON CONFLICT (book_id, name) DO UPDATE SET modseq = excluded.modseq`, book, name, seq)
	if err != nil {
		return err
	}
	return forget(ctx, tx, book, lim.gone)
}

// forget drops the oldest deletions of book beyond keep, and raises
// the book's min_modseq past them: tokens that would need them are
// refused from then on.
func forget(ctx context.Context, tx querier, book int64, keep int) error {
	var cut sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT modseq FROM contacts_gone WHERE book_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?`, book, keep).Scan(&cut)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !cut.Valid {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM contacts_gone WHERE book_id = ? AND modseq <= ?`, book, cut.Int64); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE contacts_books SET min_modseq = CASE WHEN min_modseq > ?1 THEN min_modseq ELSE ?1 END WHERE id = ?2`, cut.Int64, book)
	return err
}

// room checks that book can take n more cards (MaxCards).
func room(ctx context.Context, tx querier, book int64, n int, lim limits) error {
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM contacts_cards WHERE book_id = ?`, book).Scan(&have); err != nil {
		return err
	}
	if have+n > lim.cards {
		return fmt.Errorf("%w: at most %d cards", ErrFull, lim.cards)
	}
	return nil
}

// bump takes the book's next modification sequence.
func bump(ctx context.Context, tx querier, book int64) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE contacts_books SET modseq = modseq + 1 WHERE id = ? RETURNING modseq`, book).Scan(&seq)
	return seq, err
}

// wrap leaves the package's errors as they are and wraps others.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{ErrNotFound, ErrReadOnly, ErrPrecondition, ErrUIDConflict, ErrInvalid, ErrTooLarge, ErrBadToken, ErrFull} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("contacts: %s: %w", what, err)
}

// Changes is what changed in a book since a sync token.
type Changes struct {
	Token   string // the token to ask with next time
	Updated []Card // created or changed since, by modseq
	Deleted []string
	More    bool // limit cut the list: ask again with Token
}

// Changes returns what changed in the book slug since tok (RFC 6578
// section 3): with tok "" every card (an initial sync), else the cards
// created or changed and the names deleted since. At most limit entries
// are returned when limit > 0, the oldest first, with a token that
// continues after them. A token the book did not give wraps ErrBadToken.
func (s *Store) Changes(ctx context.Context, m Member, slug, tok string, limit int) (Changes, error) {
	b, err := s.Book(ctx, m, slug)
	if err != nil {
		return Changes{}, err
	}
	var since int64
	if tok != "" {
		if since, err = parseToken(b.id, tok); err != nil {
			return Changes{}, err
		}
		if since > b.modseq || since < b.minModseq {
			return Changes{}, ErrBadToken
		}
	}
	lim := int64(math.MaxInt64) // no bound: PostgreSQL refuses SQLite's LIMIT -1
	if limit > 0 {
		lim = int64(limit) + 1 // one more tells whether there are more
	}
	// An initial sync lists what is there, not what went.
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT `+cardCols+`, modseq, 0 FROM contacts_cards WHERE book_id = ? AND modseq > ?
		UNION ALL SELECT name, '', '', NULL, 0, modseq, 1 FROM contacts_gone WHERE book_id = ? AND modseq > ? AND ? > 0
		ORDER BY 6 LIMIT ?`, b.id, since, b.id, since, since, lim)
	if err != nil {
		return Changes{}, fmt.Errorf("contacts: changes: %w", err)
	}
	defer rows.Close()
	out := Changes{Token: b.Token}
	n := 0
	for rows.Next() {
		var c Card
		var mod, seq int64
		var gone bool
		if err := rows.Scan(&c.Name, &c.UID, &c.ETag, &c.Data, &mod, &seq, &gone); err != nil {
			return Changes{}, fmt.Errorf("contacts: changes: %w", err)
		}
		if n++; limit > 0 && n > limit {
			out.More = true
			break
		}
		out.Token = token(b.id, seq)
		if gone {
			out.Deleted = append(out.Deleted, c.Name)
			continue
		}
		c.Modified = time.UnixMilli(mod)
		out.Updated = append(out.Updated, c)
	}
	if err := rows.Err(); err != nil {
		return Changes{}, fmt.Errorf("contacts: changes: %w", err)
	}
	if !out.More {
		out.Token = b.Token
	}
	return out, nil
}

// MaxImport bounds the cards of one Import.
const MaxImport = 10000

// Import stores cards in the book slug in one transaction: a card whose
// UID the book has replaces that card, others are added under a new name
// (their UID's hash, ".vcf"). Every card is checked first; one bad card
// imports nothing. It returns how many cards changed.
func (s *Store) Import(ctx context.Context, m Member, slug string, cards []vcard.Card) (int, error) {
	if len(cards) > MaxImport {
		return 0, fmt.Errorf("%w: at most %d cards at once", ErrTooLarge, MaxImport)
	}
	for i, c := range cards {
		if err := Check(c); err != nil {
			return 0, fmt.Errorf("card %d: %w", i+1, err)
		}
	}
	b, err := s.writable(ctx, m, slug)
	if err != nil {
		return 0, err
	}
	now := s.now().UnixMilli()
	n := 0
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		n = 0
		q := s.db.Stmts(tx)
		if err := room(ctx, q, b.id, len(cards), s.lim); err != nil {
			return err // at worst every card is new
		}
		for _, c := range cards {
			changed, err := importCard(ctx, q, b.id, c, now)
			if err != nil {
				return err
			}
			if changed {
				n++
			}
		}
		return nil
	})
	return n, wrap("import", err)
}

func importCard(ctx context.Context, tx querier, book int64, c vcard.Card, now int64) (bool, error) {
	data := Encode(c)
	uid, etag := c.Value(vcard.FieldUID), ETag(data)
	var name, cur string
	err := tx.QueryRowContext(ctx, `SELECT name, etag FROM contacts_cards WHERE book_id = ? AND uid = ?`, book, uid).Scan(&name, &cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		name = ETag([]byte(uid)) + ".vcf"
	case err != nil:
		return false, err
	case cur == etag:
		return false, nil
	}
	seq, err := bump(ctx, tx, book)
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO contacts_cards (book_id, name, uid, etag, data, modseq, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (book_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, data = excluded.data, modseq = excluded.modseq, modified_at = excluded.modified_at`,
		book, name, uid, etag, data, seq, now)
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM contacts_gone WHERE book_id = ? AND name = ?`, book, name)
	return true, err
}
