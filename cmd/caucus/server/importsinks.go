package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// importCalendars is the calendar store as the importer's CalendarSink:
// each calendar of a Google Takeout archive (.ics) becomes a calendar of
// the member under the name it had.
type importCalendars struct {
	s     *Server
	store *calendar.Store
}

func (c importCalendars) Import(ctx context.Context, accountID int64, name string, r io.Reader) error {
	data, err := readBounded(r, calendar.MaxImportBytes)
	if err != nil {
		return refusedIf(err, errTooBig)
	}
	a, err := c.s.auth.Account(ctx, accountID)
	if err != nil {
		return refusedIf(err, auth.ErrNotFound)
	}
	// Takeout names the file after the calendar: "Campaign 2027.ics".
	name = strings.TrimSuffix(path.Base(name), path.Ext(name))
	_, err = c.store.ImportICS(ctx, calendar.Member{ID: a.ID, Login: a.Login}, name, data)
	return refusedIf(err, calendar.ErrInvalid, calendar.ErrTooLarge, calendar.ErrFull, calendar.ErrExists)
}

// importContacts is the contacts store as the importer's ContactsSink:
// the cards of a Takeout address book (.vcf) join the member's own book.
type importContacts struct {
	s     *Server
	store *contacts.Store
}

func (c importContacts) Import(ctx context.Context, accountID int64, _ string, r io.Reader) error {
	data, err := readBounded(r, contacts.MaxImport*contacts.MaxCardBytes/64) // ~160 MiB for 10,000 cards with photos
	if err != nil {
		return refusedIf(err, errTooBig)
	}
	cards, err := contacts.ParseAll(data, contacts.MaxImport)
	if err != nil {
		return refused(err)
	}
	a, err := c.s.auth.Account(ctx, accountID)
	if err != nil {
		return refusedIf(err, auth.ErrNotFound)
	}
	_, err = c.store.Import(ctx, contacts.MemberOf(a), contacts.SlugPersonal, cards)
	return refusedIf(err, contacts.ErrInvalid, contacts.ErrTooLarge, contacts.ErrFull)
}

// refused marks err as the store's refusal for good
// (mailimport.ErrRefused): the import reports it and does not try again.
func refused(err error) error { return fmt.Errorf("%w: %w", mailimport.ErrRefused, err) }

// refusedIf is refused for an error that is one of final, else err as
// it is (tried again at the next start).
func refusedIf(err error, final ...error) error {
	for _, f := range final {
		if errors.Is(err, f) {
			return refused(err)
		}
	}
	return err
}

// errTooBig is a kept file larger than its store takes.
var errTooBig = errors.New("import: the file is too large")

// readBounded reads r whole, refusing more than max bytes.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: over %d MiB", errTooBig, max>>20)
	}
	return data, nil
}

// setImportSinks names the stores a Takeout job hands Drive files,
// calendars and contacts to, once they are all built.
func (s *Server) setImportSinks(cals *calendar.Store, books *contacts.Store) {
	s.imports.SetSinks(mailimport.Sinks{Files: importFiles{s.files}, Calendars: importCalendars{s, cals}, Contacts: importContacts{s, books}})
}

// groupDiaries switches a group's calendar and address book together
// (the console's GroupDiaries): the calendar store records it in the
// audit log.
type groupDiaries struct {
	cals  *calendar.Store
	books *contacts.Store
}

func (d groupDiaries) ReadOnly(ctx context.Context, g auth.Group) (bool, error) {
	return d.cals.GroupReadOnly(ctx, g.ID)
}

func (d groupDiaries) SetReadOnly(ctx context.Context, actor string, g auth.Group, readOnly bool) error {
	if err := d.books.SetGroupReadOnly(ctx, g.Name, readOnly); err != nil {
		return err
	}
	return d.cals.SetGroupReadOnly(ctx, actor, g, readOnly)
}
