package contacts

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
)

// The party directory is computed from auth at every request that reads
// it: the vCards of the active members (name, address, groups) are built
// and compared with the stored copy, and only what differs is written, as
// changes of the book, so that its sync token changes exactly when the
// directory does and clients sync only what changed. A member who is
// suspended, offboarded or past their expiry date is removed at the next
// request.

// dirMember is one member's entry in the directory.
type dirMember struct {
	name string // resource name
	uid  string
	data []byte
	etag string
}

// dirCache remembers the last refresh: the hash of what the directory
// was made from and the book's modseq then. A request whose inputs hash
// the same, while the book is unchanged, has nothing to write.
type dirCache struct {
	sum    [32]byte
	modseq int64
	ok     bool
}

// dirInput is the directory's source: the active members and their groups.
type dirInput struct {
	accts  []auth.Account
	groups map[string][]string // login → group names
}

// directoryInput reads the active members from auth.
func (s *Store) directoryInput(ctx context.Context) (dirInput, error) {
	accts, err := s.auth.Accounts(ctx)
	if err != nil {
		return dirInput{}, fmt.Errorf("contacts: directory: %w", err)
	}
	gs, err := s.auth.Groups(ctx)
	if err != nil {
		return dirInput{}, fmt.Errorf("contacts: directory: %w", err)
	}
	in := dirInput{groups: map[string][]string{}}
	for _, g := range gs {
		for _, l := range g.Members {
			in.groups[l] = append(in.groups[l], g.Name)
		}
	}
	now := s.now()
	for _, a := range accts {
		if a.State == auth.StateActive && (a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt)) {
			in.accts = append(in.accts, a)
		}
	}
	return in, nil
}

// sum hashes what the directory's cards are made of.
func (in dirInput) sum() [32]byte {
	h := sha256.New()
	for _, a := range in.accts {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00%q\n", a.ID, a.Login, a.DisplayName, in.groups[a.Login])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// directoryCards returns the directory's entries as they should be now.
func directoryCards(in dirInput) map[string]dirMember {
	out := make(map[string]dirMember, len(in.accts))
	for _, a := range in.accts {
		card := memberCard(a, in.groups[a.Login])
		data := Encode(card)
		m := dirMember{name: "member-" + strconv.FormatInt(a.ID, 10) + ".vcf", uid: card.Value(vcard.FieldUID), data: data, etag: ETag(data)}
		out[m.name] = m
	}
	return out
}

// memberCard is a member's vCard 3.0 (RFC 2426, which every phone reads):
// FN and N from the display name, the address as EMAIL, each group as a
// CATEGORIES property.
func memberCard(a auth.Account, groups []string) vcard.Card {
	name := a.DisplayName
	if name == "" {
		name = a.Login
	}
	given, family := "", name
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		given, family = name[:i], name[i+1:]
	}
	c := vcard.Card{}
	c.SetValue(vcard.FieldVersion, "3.0")
	c.SetValue(vcard.FieldUID, "urn:x-caucus:member:"+strconv.FormatInt(a.ID, 10))
	c.SetValue(vcard.FieldFormattedName, name)
	c.SetName(&vcard.Name{FamilyName: family, GivenName: given})
	c.Add(vcard.FieldEmail, &vcard.Field{Value: a.Login, Params: vcard.Params{vcard.ParamType: {"INTERNET", "WORK"}}})
	for _, g := range groups {
		c.Add(vcard.FieldCategories, &vcard.Field{Value: g})
	}
	return c
}

// refreshDirectory brings the stored directory up to date and returns its
// book.
func (s *Store) refreshDirectory(ctx context.Context) (Book, error) {
	in, err := s.directoryInput(ctx)
	if err != nil {
		return Book{}, err
	}
	sum := in.sum()
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	b, err := s.book(ctx, KindDirectory, 0)
	if err != nil {
		return Book{}, err
	}
	if c := s.dirCache; c.ok && c.sum == sum && c.modseq == b.modseq {
		return b, nil
	}
	b, err = s.syncDirectory(ctx, b, directoryCards(in))
	if err == nil {
		s.dirCache = dirCache{sum: sum, modseq: b.modseq, ok: true}
	}
	return b, err
}

// syncDirectory makes the stored directory b hold want. The stored cards
// are compared with want first without the write lock (most requests
// find nothing to write), then again inside the write transaction:
// another node may have changed the book in between.
func (s *Store) syncDirectory(ctx context.Context, b Book, want map[string]dirMember) (Book, error) {
	have, err := storedETags(ctx, s.db.Stmts(nil), b.id)
	if err != nil {
		return Book{}, err
	}
	if put, del := directoryDiff(have, want); len(put) == 0 && len(del) == 0 {
		return b, nil
	}
	var put []dirMember
	var del []string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		q := s.db.Stmts(tx)
		have, err := storedETags(ctx, q, b.id)
		if err != nil {
			return err
		}
		put, del = directoryDiff(have, want)
		return s.applyDirectory(ctx, q, b.id, put, del)
	})
	if err != nil {
		return Book{}, fmt.Errorf("contacts: directory: %w", err)
	}
	s.log.Debug("contacts: directory updated", "changed", len(put), "removed", len(del))
	return readBook(ctx, s.db.Stmts(nil), KindDirectory, 0)
}

// directoryDiff returns the entries of want that the stored cards (name
// → entity tag) lack or hold otherwise, by name, and the stored names
// want has not.
func directoryDiff(have map[string]string, want map[string]dirMember) (put []dirMember, del []string) {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if m := want[name]; have[name] != m.etag {
			put = append(put, m)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			del = append(del, name)
		}
	}
	return put, del
}

func storedETags(ctx context.Context, q querier, book int64) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, etag FROM contacts_cards WHERE book_id = ?`, book)
	if err != nil {
		return nil, fmt.Errorf("contacts: directory: %w", err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var n, e string
		if err := rows.Scan(&n, &e); err != nil {
			return nil, fmt.Errorf("contacts: directory: %w", err)
		}
		have[n] = e
	}
	return have, rows.Err()
}

func (s *Store) applyDirectory(ctx context.Context, tx querier, book int64, put []dirMember, del []string) error {
	now := s.now().UnixMilli()
	for _, name := range del {
		if err := deleteCard(ctx, tx, book, name, Cond{}, s.lim); err != nil {
			return err
		}
	}
	for _, m := range put {
		seq, err := bump(ctx, tx, book)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO contacts_cards (book_id, name, uid, etag, data, modseq, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (book_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, data = excluded.data, modseq = excluded.modseq, modified_at = excluded.modified_at`,
			book, m.name, m.uid, m.etag, m.data, seq, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM contacts_gone WHERE book_id = ? AND name = ?`, book, m.name); err != nil {
			return err
		}
	}
	return nil
}
