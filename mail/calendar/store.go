// Package calendar stores the members' and the groups' calendars for
// CalDAV (RFC 4791; served by mail/calendar/caldav): one iCalendar object
// per resource (RFC 5545), unique by UID in its calendar, with an entity
// tag that is the SHA-256 of what is served, and a change number per
// calendar for sync-collection (RFC 6578).
//
// # Who sees what
//
// Every member has a personal calendar, named "personal" in URLs, made the
// first time it is asked for, and may make a few more. Every group has one
// shared calendar, "group-<id>" in URLs (the id, so that renaming the
// group keeps its URL), which every member of the group sees and, unless
// an administrator made it read-only ([Store.SetGroupReadOnly]), writes.
// Membership is read from auth at every call, never cached: who leaves a
// group loses its calendar at once, and an offboarded member, whose app
// passwords auth revokes, reaches nothing.
//
// # Storage
//
// Objects live in the metadata database (SQLite, or PostgreSQL for
// several nodes), at most [MaxObjectSize] bytes each, in the canonical
// encoding of go-ical (properties ordered by name), with the range of
// time their instances cover as two indexed columns, so that a
// time-range query reads only the objects that may match. A change is
// committed before it is acknowledged (internal/db runs SQLite with
// synchronous=FULL; PostgreSQL's commit waits for its WAL flush). A
// write compares the entity tag and writes in one transaction of
// internal/db, which holds the write lock of the whole cluster on
// PostgreSQL: two nodes never both win an If-Match.
package calendar

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// Limits of the store.
const (
	MaxCalendars          = 20     // personal calendars per member
	MaxObjectsPerCalendar = 100000 // resources in one calendar
	MaxNameBytes          = 255    // a resource's or calendar's name in its URL
)

// PersonalSlug is the URL name of every member's first calendar.
const PersonalSlug = "personal"

const groupSlugPrefix = "group-"

// Errors of the store.
var (
	ErrNotFound     = errors.New("calendar: no such calendar or resource")
	ErrReadOnly     = errors.New("calendar: this calendar is read-only")
	ErrPrecondition = errors.New("calendar: precondition failed") // If-Match, If-None-Match (RFC 9110 section 13.1)
	ErrUIDConflict  = errors.New("calendar: another resource has this UID")
	ErrExists       = errors.New("calendar: a calendar with this name exists")
	ErrBadName      = errors.New("calendar: invalid name")
	ErrFull         = errors.New("calendar: too many calendars or resources")
	ErrBadToken     = errors.New("calendar: unknown sync token")
)

// Recorder writes audit records in a transaction; *audit.Log is one.
type Recorder interface {
	RecordTx(ctx context.Context, tx *sql.Tx, e audit.Event) error
}

// Groups is what the store needs of auth: the groups a member is in now.
// *auth.Service is one.
type Groups interface {
	AccountGroups(ctx context.Context, accountID int64) ([]auth.Group, error)
}

// Member is who asks: a signed-in account.
type Member struct {
	ID    int64
	Login string
}

// Calendar is one calendar as a member sees it.
type Calendar struct {
	ID          int64
	Slug        string // its name in the URL
	Name        string // display name
	Description string
	Group       string // the group's name for a group calendar, else ""
	Writable    bool   // false: a read-only group calendar
	Seq         int64  // the last change's number
}

// Resource is one stored calendar object resource.
type Resource struct {
	Name      string // in the calendar's URL, e.g. "4d1c….ics"
	UID       string
	Component string // VEVENT, VTODO or VJOURNAL
	Simple    bool   // see Object.Simple
	ETag      string // hex SHA-256 of Data, without quotes
	Data      []byte
	Modified  time.Time
}

// Cond is the conditional headers of a write (RFC 9110 sections 13.1.1
// and 13.1.2): an entity tag without quotes, "*", or "" for none.
type Cond struct {
	IfMatch     string
	IfNoneMatch string
}

// Store is the calendars. Build it with New; it is safe for concurrent
// use.
type Store struct {
	db     *db.DB
	groups Groups
	audit  Recorder
	now    func() time.Time
	log    *slog.Logger
	sched  *Scheduling // nil: events are stored, never scheduled (see SetScheduling)
}

// New returns the store on d, which must have [Component] migrated; the
// administrators' changes are recorded in rec. now and log may be nil.
func New(d *db.DB, groups Groups, rec Recorder, now func() time.Time, log *slog.Logger) *Store {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{db: d, groups: groups, audit: rec, now: now, log: log}
}

// Calendars lists the calendars m sees: its own (the personal one made
// if missing) and one per group it is in.
func (s *Store) Calendars(ctx context.Context, m Member) ([]Calendar, error) {
	if _, err := s.ensure(ctx, "account", m.ID, PersonalSlug, "Calendar"); err != nil {
		return nil, err
	}
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT id, slug, name, description, sync_seq FROM calendar_calendars WHERE owner_kind = 'account' AND owner_id = ? ORDER BY id`, m.ID)
	if err != nil {
		return nil, fmt.Errorf("calendar: list: %w", err)
	}
	var out []Calendar
	for rows.Next() {
		c := Calendar{Writable: true}
		if err := rows.Scan(&c.ID, &c.Slug, &c.Name, &c.Description, &c.Seq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("calendar: list: %w", err)
		}
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("calendar: list: %w", err)
	}
	gs, err := s.groups.AccountGroups(ctx, m.ID)
	if err != nil {
		return nil, fmt.Errorf("calendar: groups of %d: %w", m.ID, err)
	}
	for _, g := range gs {
		c, err := s.groupCalendar(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Calendar returns the calendar m sees under slug; ErrNotFound if m sees
// none (another member's, a group m is not in).
func (s *Store) Calendar(ctx context.Context, m Member, slug string) (Calendar, error) {
	if idText, ok := strings.CutPrefix(slug, groupSlugPrefix); ok {
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || strconv.FormatInt(id, 10) != idText {
			return Calendar{}, ErrNotFound
		}
		gs, err := s.groups.AccountGroups(ctx, m.ID)
		if err != nil {
			return Calendar{}, fmt.Errorf("calendar: groups of %d: %w", m.ID, err)
		}
		for _, g := range gs {
			if g.ID == id {
				return s.groupCalendar(ctx, g)
			}
		}
		return Calendar{}, ErrNotFound
	}
	if slug == PersonalSlug {
		if _, err := s.ensure(ctx, "account", m.ID, PersonalSlug, "Calendar"); err != nil {
			return Calendar{}, err
		}
	}
	c := Calendar{Writable: true}
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT id, slug, name, description, sync_seq FROM calendar_calendars WHERE owner_kind = 'account' AND owner_id = ? AND slug = ?`, m.ID, slug).
		Scan(&c.ID, &c.Slug, &c.Name, &c.Description, &c.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return Calendar{}, ErrNotFound
	} else if err != nil {
		return Calendar{}, fmt.Errorf("calendar: %w", err)
	}
	return c, nil
}

func (s *Store) groupCalendar(ctx context.Context, g auth.Group) (Calendar, error) {
	slug := groupSlugPrefix + strconv.FormatInt(g.ID, 10)
	if _, err := s.ensure(ctx, "group", g.ID, slug, g.Name); err != nil {
		return Calendar{}, err
	}
	c := Calendar{Slug: slug, Name: g.Name, Group: g.Name}
	var ro bool
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT id, description, read_only, sync_seq FROM calendar_calendars WHERE owner_kind = 'group' AND owner_id = ? AND slug = ?`, g.ID, slug).
		Scan(&c.ID, &c.Description, &ro, &c.Seq)
	if err != nil {
		return Calendar{}, fmt.Errorf("calendar: group %s: %w", g.Name, err)
	}
	c.Writable = !ro
	return c, nil
}

// ensure makes a calendar if it is missing and returns its id.
func (s *Store) ensure(ctx context.Context, kind string, owner int64, slug, name string) (int64, error) {
	const q = `SELECT id FROM calendar_calendars WHERE owner_kind = ? AND owner_id = ? AND slug = ?`
	var id int64
	err := s.db.Stmts(nil).QueryRowContext(ctx, q, kind, owner, slug).Scan(&id)
	if err == nil {
		return id, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("calendar: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO calendar_calendars (owner_kind, owner_id, slug, name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			kind, owner, slug, name, s.now().UnixMilli()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q, kind, owner, slug).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("calendar: create %s %d %s: %w", kind, owner, slug, err)
	}
	return id, nil
}

// CreateCalendar makes a further personal calendar of m (CalDAV MKCOL or
// MKCALENDAR). slug is 1 to 64 of a-z, 0-9, '-' and '_', not starting
// with "group-".
func (s *Store) CreateCalendar(ctx context.Context, m Member, slug, name string) (Calendar, error) {
	if !validSlug(slug) {
		return Calendar{}, fmt.Errorf("%w: calendar %q", ErrBadName, slug)
	}
	if name == "" {
		name = slug
	}
	if len(name) > MaxNameBytes || !utf8.ValidString(name) {
		return Calendar{}, fmt.Errorf("%w: display name", ErrBadName)
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM calendar_calendars WHERE owner_kind = 'account' AND owner_id = ?`, m.ID).Scan(&n); err != nil {
			return fmt.Errorf("calendar: create: %w", err)
		}
		if n >= MaxCalendars {
			return fmt.Errorf("%w: at most %d calendars", ErrFull, MaxCalendars)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO calendar_calendars (owner_kind, owner_id, slug, name, created_at) VALUES ('account', ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			m.ID, slug, name, s.now().UnixMilli())
		if err != nil {
			return fmt.Errorf("calendar: create: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return Calendar{}, err
	}
	return s.Calendar(ctx, m, slug)
}

func validSlug(slug string) bool {
	if slug == "" || len(slug) > 64 || strings.HasPrefix(slug, groupSlugPrefix) {
		return false
	}
	for _, r := range slug {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ValidName reports whether name may name a resource: 1 to MaxNameBytes
// bytes of UTF-8, no '/', no control character, not "." or "..".
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameBytes || name == "." || name == ".." || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// SetGroupReadOnly makes the calendar of group g read-only for its
// members (true) or writable by them (false), and records it in the
// audit log (kind "calendar.group"). The admin console and the command
// line call it; actor is the admin's login.
func (s *Store) SetGroupReadOnly(ctx context.Context, actor string, g auth.Group, readOnly bool) error {
	id, err := s.ensure(ctx, "group", g.ID, groupSlugPrefix+strconv.FormatInt(g.ID, 10), g.Name)
	if err != nil {
		return err
	}
	detail := g.Name + " writable by its members"
	if readOnly {
		detail = g.Name + " read-only"
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE calendar_calendars SET read_only = ? WHERE id = ?`, sqlBool(readOnly), id); err != nil {
			return fmt.Errorf("calendar: set group %s read-only: %w", g.Name, err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "calendar.group", Detail: detail})
	})
}

// GroupReadOnly reports whether the group's calendar is read-only for
// its members (false for one never made).
func (s *Store) GroupReadOnly(ctx context.Context, groupID int64) (bool, error) {
	var ro bool
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT read_only FROM calendar_calendars WHERE owner_kind = 'group' AND owner_id = ?`, groupID).Scan(&ro)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("calendar: group %d: %w", groupID, err)
	}
	return ro, nil
}

// sqlBool is b as the 0 or 1 stored in an INTEGER column: PostgreSQL's
// driver does not turn a Go bool into a number as SQLite's does.
func sqlBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ETag returns the entity tag of data: its SHA-256 in hex.
func ETag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
