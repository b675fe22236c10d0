package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is what an address book is.
type Kind string

// The kinds of address book.
const (
	KindPersonal  Kind = "personal"
	KindGroup     Kind = "group"
	KindDirectory Kind = "directory"
)

// Slugs name a member's books in URLs: SlugPersonal, SlugDirectory and
// GroupPrefix followed by the group's name.
const (
	SlugPersonal  = "contacts"
	SlugDirectory = "directory"
	GroupPrefix   = "group-"
)

// Book is an address book as one member sees it.
type Book struct {
	Slug     string // the last segment of its URL
	Kind     Kind
	Group    string // the group's name, for KindGroup
	ReadOnly bool   // the stored flag (group books), or the directory
	Writable bool   // whether this member may change it
	Token    string // the current sync token (RFC 6578 section 4)

	id, owner int64
	modseq    int64
	minModseq int64 // tokens before this are forgotten (MaxGone)
}

// ID is the book's number, the same for every member who sees it.
func (b Book) ID() int64 { return b.id }

// token is the sync token of a book at modseq: a URI (RFC 6578 section
// 3.2) that names the book, so that a token of another book is refused.
func token(book, modseq int64) string {
	return "urn:x-caucus:contacts:" + strconv.FormatInt(book, 10) + ":" + strconv.FormatInt(modseq, 10)
}

// parseToken returns the modseq of a token of book.
func parseToken(book int64, tok string) (int64, error) {
	rest, ok := strings.CutPrefix(tok, "urn:x-caucus:contacts:"+strconv.FormatInt(book, 10)+":")
	if !ok {
		return 0, ErrBadToken
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 {
		return 0, ErrBadToken
	}
	return n, nil
}

// Books lists the books m sees: their own, one per group they belong to,
// and the directory (not for a volunteer), in that order.
func (s *Store) Books(ctx context.Context, m Member) ([]Book, error) {
	own, err := s.Book(ctx, m, SlugPersonal)
	if err != nil {
		return nil, err
	}
	out := []Book{own}
	gs, err := s.auth.AccountGroups(ctx, m.ID)
	if err != nil {
		return nil, fmt.Errorf("contacts: groups of %d: %w", m.ID, err)
	}
	for _, g := range gs {
		b, err := s.book(ctx, KindGroup, g.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, s.view(b, m, g.Name))
	}
	if m.Volunteer {
		return out, nil
	}
	dir, err := s.Book(ctx, m, SlugDirectory)
	if err != nil {
		return nil, err
	}
	return append(out, dir), nil
}

// Book returns the book slug as m sees it, ErrNotFound if m sees none by
// that name.
func (s *Store) Book(ctx context.Context, m Member, slug string) (Book, error) {
	if m.ID <= 0 {
		return Book{}, ErrNotFound
	}
	switch {
	case slug == SlugPersonal:
		b, err := s.book(ctx, KindPersonal, m.ID)
		return s.view(b, m, ""), err
	case slug == SlugDirectory && !m.Volunteer:
		b, err := s.refreshDirectory(ctx)
		return s.view(b, m, ""), err
	case strings.HasPrefix(slug, GroupPrefix):
		name := strings.TrimPrefix(slug, GroupPrefix)
		gs, err := s.auth.AccountGroups(ctx, m.ID)
		if err != nil {
			return Book{}, fmt.Errorf("contacts: groups of %d: %w", m.ID, err)
		}
		for _, g := range gs {
			if g.Name == name {
				b, err := s.book(ctx, KindGroup, g.ID)
				return s.view(b, m, g.Name), err
			}
		}
	}
	return Book{}, ErrNotFound
}

// view completes a stored book for m.
func (s *Store) view(b Book, m Member, group string) Book {
	b.Group = group
	switch b.Kind {
	case KindPersonal:
		b.Slug, b.Writable = SlugPersonal, b.owner == m.ID
	case KindGroup:
		b.Slug, b.Writable = GroupPrefix+group, !b.ReadOnly || m.Admin
	case KindDirectory:
		b.Slug, b.ReadOnly = SlugDirectory, true
	}
	b.Token = token(b.id, b.modseq)
	return b
}

// book returns the stored book of kind and owner, creating it if needed.
func (s *Store) book(ctx context.Context, kind Kind, owner int64) (Book, error) {
	b, err := readBook(ctx, s.db.Stmts(nil), kind, owner)
	if !errors.Is(err, sql.ErrNoRows) {
		return b, err
	}
	_, err = s.db.Stmts(nil).ExecContext(ctx, `INSERT INTO contacts_books (kind, owner_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		kind, owner, s.now().UnixMilli())
	if err != nil {
		return Book{}, fmt.Errorf("contacts: create %s book: %w", kind, err)
	}
	return readBook(ctx, s.db.Stmts(nil), kind, owner)
}

// sqlBool is b as the 0 or 1 stored in an INTEGER column: PostgreSQL's
// driver does not turn a Go bool into a number as SQLite's does.
func sqlBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readBook(ctx context.Context, q queryRower, kind Kind, owner int64) (Book, error) {
	b := Book{Kind: kind, owner: owner}
	err := q.QueryRowContext(ctx, `SELECT id, read_only, modseq, min_modseq FROM contacts_books WHERE kind = ? AND owner_id = ?`, kind, owner).
		Scan(&b.id, &b.ReadOnly, &b.modseq, &b.minModseq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("contacts: read %s book: %w", kind, err)
	}
	return b, err
}

// SetGroupReadOnly sets whether the group's shared book is read-only for
// its members (admins may still change it). It is the admin's setting of
// issue 18; the console and the CLI call it.
func (s *Store) SetGroupReadOnly(ctx context.Context, group string, readOnly bool) error {
	gid, err := s.auth.GroupID(ctx, group)
	if err != nil {
		return fmt.Errorf("contacts: group %s: %w", group, err)
	}
	b, err := s.book(ctx, KindGroup, gid)
	if err != nil {
		return err
	}
	if _, err := s.db.Stmts(nil).ExecContext(ctx, `UPDATE contacts_books SET read_only = ? WHERE id = ?`, sqlBool(readOnly), b.id); err != nil {
		return fmt.Errorf("contacts: set read-only: %w", err)
	}
	return nil
}
