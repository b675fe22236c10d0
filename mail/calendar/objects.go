package calendar

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const resourceCols = `name, uid, component, simple, etag, data, modified_at`

func scanResource(sc interface{ Scan(...any) error }) (Resource, error) {
	var r Resource
	var mod int64
	if err := sc.Scan(&r.Name, &r.UID, &r.Component, &r.Simple, &r.ETag, &r.Data, &mod); err != nil {
		return Resource{}, err
	}
	r.Modified = time.UnixMilli(mod)
	return r, nil
}

func (s *Store) resources(ctx context.Context, query string, args ...any) ([]Resource, error) {
	rows, err := s.db.Stmts(nil).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("calendar: read: %w", err)
	}
	defer rows.Close()
	var out []Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("calendar: read: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("calendar: read: %w", err)
	}
	return out, nil
}

// Get returns one resource of a calendar m sees.
func (s *Store) Get(ctx context.Context, m Member, slug, name string) (Resource, error) {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return Resource{}, err
	}
	r, err := scanResource(s.db.Stmts(nil).QueryRowContext(ctx, `SELECT `+resourceCols+` FROM calendar_objects WHERE calendar_id = ? AND name = ?`, c.ID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Resource{}, ErrNotFound
	} else if err != nil {
		return Resource{}, fmt.Errorf("calendar: read: %w", err)
	}
	return r, nil
}

// List returns every resource of a calendar m sees, by name.
func (s *Store) List(ctx context.Context, m Member, slug string) ([]Resource, error) {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return nil, err
	}
	return s.resources(ctx, `SELECT `+resourceCols+` FROM calendar_objects WHERE calendar_id = ? ORDER BY name`, c.ID)
}

// shortSpan is the longest range of an object InRange finds by its start
// alone: most events last less than a week.
const shortSpan = 7 * 24 * time.Hour

// isLong reports whether an object's range is open or longer than
// shortSpan.
func isLong(o *Object) bool {
	return o.Start.IsZero() || o.End.IsZero() || o.End.Sub(o.Start) > shortSpan
}

// InRange returns the resources of a calendar m sees whose indexed range
// meets [start, end) (a zero end: no end): every one that may have an
// instance there, and some that have none (see [Overlaps] for the exact
// answer). Short objects are found by their start, in [start - shortSpan,
// end), one range of the index; the long ones (recurring without end,
// mostly) are few and all read.
func (s *Store) InRange(ctx context.Context, m Member, slug string, start, end time.Time) ([]Resource, error) {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return nil, err
	}
	return s.inRange(ctx, c.ID, start, end)
}

func (s *Store) inRange(ctx context.Context, calID int64, start, end time.Time) ([]Resource, error) {
	endMS := int64(1 << 62)
	if !end.IsZero() {
		endMS = end.UnixMilli()
	}
	// No ORDER BY: SQLite would walk the (calendar_id, name) index,
	// every row of the calendar, to avoid a sort. Sorted here instead.
	rs, err := s.resources(ctx, `SELECT `+resourceCols+` FROM calendar_objects WHERE calendar_id = ?1 AND long = 0
			AND first_start >= ?2 AND first_start < ?3 AND last_end > ?4
		UNION ALL SELECT `+resourceCols+` FROM calendar_objects WHERE calendar_id = ?1 AND long = 1
			AND (first_start IS NULL OR (first_start < ?3 AND (last_end IS NULL OR last_end > ?4)))`,
		calID, start.Add(-shortSpan).UnixMilli(), endMS, start.UnixMilli())
	slices.SortFunc(rs, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return rs, err
}

// Put stores o as resource name of a calendar m sees and writes, under
// the conditions of cond. It reports whether the resource is new.
func (s *Store) Put(ctx context.Context, m Member, slug, name string, o *Object, cond Cond) (r Resource, created bool, err error) {
	if !ValidName(name) {
		return Resource{}, false, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return Resource{}, false, err
	}
	if !c.Writable {
		return Resource{}, false, ErrReadOnly
	}
	old := s.dataOf(ctx, c.ID, name)
	o = s.beforePut(m, old, o)
	if r, created, err = s.write(ctx, c.ID, name, o, cond); err != nil {
		return Resource{}, false, err
	}
	s.afterPut(ctx, m, old, o)
	return r, created, nil
}

// write stores o as resource name of calendar calID under the conditions
// of cond, without scheduling.
func (s *Store) write(ctx context.Context, calID int64, name string, o *Object, cond Cond) (r Resource, created bool, err error) {
	r = Resource{Name: name, UID: o.UID, Component: o.Component, Simple: o.Simple, ETag: ETag(o.Data), Data: o.Data, Modified: s.now()}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		st := s.db.Stmts(tx)
		cur, exists, err := currentETag(ctx, st, calID, name)
		if err != nil {
			return err
		}
		if err := cond.check(cur, exists); err != nil {
			return err
		}
		var other string
		err = st.QueryRowContext(ctx, `SELECT name FROM calendar_objects WHERE calendar_id = ? AND uid = ? AND name != ?`, calID, o.UID, name).Scan(&other)
		if err == nil {
			return fmt.Errorf("%w: %s", ErrUIDConflict, other)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("calendar: put: %w", err)
		}
		if !exists {
			var n int
			if err := st.QueryRowContext(ctx, `SELECT COUNT(*) FROM calendar_objects WHERE calendar_id = ?`, calID).Scan(&n); err != nil {
				return fmt.Errorf("calendar: put: %w", err)
			}
			if n >= MaxObjectsPerCalendar {
				return fmt.Errorf("%w: at most %d resources in a calendar", ErrFull, MaxObjectsPerCalendar)
			}
		}
		seq, err := bump(ctx, st, calID)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, `INSERT INTO calendar_objects (calendar_id, name, uid, component, etag, data, first_start, last_end, long, simple, modified_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (calendar_id, name) DO UPDATE SET uid = excluded.uid, component = excluded.component, etag = excluded.etag,
				data = excluded.data, first_start = excluded.first_start, last_end = excluded.last_end, long = excluded.long,
				simple = excluded.simple, modified_at = excluded.modified_at, seq = excluded.seq`,
			calID, name, o.UID, o.Component, r.ETag, o.Data, nullTime(o.Start), nullTime(o.End), sqlBool(isLong(o)), sqlBool(o.Simple), r.Modified.UnixMilli(), seq)
		if err != nil {
			return fmt.Errorf("calendar: put: %w", err)
		}
		if _, err := st.ExecContext(ctx, `DELETE FROM calendar_tombstones WHERE calendar_id = ? AND name = ?`, calID, name); err != nil {
			return fmt.Errorf("calendar: put: %w", err)
		}
		created = !exists
		return nil
	})
	if err != nil {
		return Resource{}, false, err
	}
	return r, created, nil
}

// Delete removes resource name of a calendar m sees and writes, under the
// conditions of cond.
func (s *Store) Delete(ctx context.Context, m Member, slug, name string, cond Cond) error {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return err
	}
	if !c.Writable {
		return ErrReadOnly
	}
	old := s.dataOf(ctx, c.ID, name)
	if err := s.remove(ctx, c.ID, name, cond); err != nil {
		return err
	}
	s.afterDelete(ctx, m, old)
	return nil
}

// remove deletes resource name of calendar calID under the conditions of
// cond, without scheduling.
func (s *Store) remove(ctx context.Context, calID int64, name string, cond Cond) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		st := s.db.Stmts(tx)
		cur, exists, err := currentETag(ctx, st, calID, name)
		if err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		if err := cond.check(cur, exists); err != nil {
			return err
		}
		seq, err := bump(ctx, st, calID)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, `DELETE FROM calendar_objects WHERE calendar_id = ? AND name = ?`, calID, name); err != nil {
			return fmt.Errorf("calendar: delete: %w", err)
		}
		_, err = st.ExecContext(ctx, `INSERT INTO calendar_tombstones (calendar_id, name, seq) VALUES (?, ?, ?)
			ON CONFLICT (calendar_id, name) DO UPDATE SET seq = excluded.seq`, calID, name, seq)
		if err != nil {
			return fmt.Errorf("calendar: delete: %w", err)
		}
		return nil
	})
}

// rowQuerier is what db.Stmts and *sql.Tx have in common.
type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func currentETag(ctx context.Context, st rowQuerier, calID int64, name string) (string, bool, error) {
	var etag string
	err := st.QueryRowContext(ctx, `SELECT etag FROM calendar_objects WHERE calendar_id = ? AND name = ?`, calID, name).Scan(&etag)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("calendar: read: %w", err)
	}
	return etag, true, nil
}

// bump takes the calendar's next change number.
func bump(ctx context.Context, st rowQuerier, calID int64) (int64, error) {
	var seq int64
	if err := st.QueryRowContext(ctx, `UPDATE calendar_calendars SET sync_seq = sync_seq + 1 WHERE id = ? RETURNING sync_seq`, calID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("calendar: change number: %w", err)
	}
	return seq, nil
}

// check applies If-Match and If-None-Match (RFC 9110 sections 13.1.1,
// 13.1.2) to the resource's current entity tag.
func (c Cond) check(etag string, exists bool) error {
	switch {
	case c.IfMatch == "*" && !exists,
		c.IfMatch != "" && c.IfMatch != "*" && (!exists || c.IfMatch != etag),
		c.IfNoneMatch == "*" && exists,
		c.IfNoneMatch != "" && c.IfNoneMatch != "*" && exists && c.IfNoneMatch == etag:
		return ErrPrecondition
	}
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// Changes is what changed in a calendar since a change number.
type Changes struct {
	Seq     int64      // the calendar's change number now
	Updated []Resource // written since, by name
	Deleted []string   // names deleted since
}

// ChangesSince returns what changed in a calendar m sees after change
// number since (0: everything there is). A number the calendar never
// reached is ErrBadToken. Rows are read up to the number read first: a
// change made meanwhile has a higher number and comes at the next call.
func (s *Store) ChangesSince(ctx context.Context, m Member, slug string, since int64) (Changes, error) {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return Changes{}, err
	}
	if since < 0 || since > c.Seq {
		return Changes{}, ErrBadToken
	}
	ch := Changes{Seq: c.Seq}
	if ch.Updated, err = s.resources(ctx, `SELECT `+resourceCols+` FROM calendar_objects WHERE calendar_id = ? AND seq > ? AND seq <= ? ORDER BY name`, c.ID, since, c.Seq); err != nil {
		return Changes{}, err
	}
	if since == 0 {
		return ch, nil
	}
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT name FROM calendar_tombstones WHERE calendar_id = ? AND seq > ? AND seq <= ? ORDER BY name`, c.ID, since, c.Seq)
	if err != nil {
		return Changes{}, fmt.Errorf("calendar: changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return Changes{}, fmt.Errorf("calendar: changes: %w", err)
		}
		ch.Deleted = append(ch.Deleted, n)
	}
	if err := rows.Err(); err != nil {
		return Changes{}, fmt.Errorf("calendar: changes: %w", err)
	}
	return ch, nil
}

// Import stores many new resources in a calendar m sees and writes, in
// one transaction: all or none (an import from another provider, a .ics
// file). A name or UID the calendar holds already is ErrUIDConflict.
func (s *Store) Import(ctx context.Context, m Member, slug string, objs map[string]*Object) error {
	for name := range objs {
		if !ValidName(name) {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return err
	}
	if !c.Writable {
		return ErrReadOnly
	}
	now := s.now().UnixMilli()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		st := s.db.Stmts(tx)
		var n int
		if err := st.QueryRowContext(ctx, `SELECT COUNT(*) FROM calendar_objects WHERE calendar_id = ?`, c.ID).Scan(&n); err != nil {
			return fmt.Errorf("calendar: import: %w", err)
		}
		if n+len(objs) > MaxObjectsPerCalendar {
			return fmt.Errorf("%w: at most %d resources in a calendar", ErrFull, MaxObjectsPerCalendar)
		}
		seq, err := bump(ctx, st, c.ID)
		if err != nil {
			return err
		}
		for name, o := range objs {
			_, err := st.ExecContext(ctx, `INSERT INTO calendar_objects (calendar_id, name, uid, component, etag, data, first_start, last_end, long, simple, modified_at, seq)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, name, o.UID, o.Component, ETag(o.Data), o.Data, nullTime(o.Start), nullTime(o.End), sqlBool(isLong(o)), sqlBool(o.Simple), now, seq)
			if err != nil {
				return fmt.Errorf("%w: %s (%v)", ErrUIDConflict, name, err)
			}
			if _, err := st.ExecContext(ctx, `DELETE FROM calendar_tombstones WHERE calendar_id = ? AND name = ?`, c.ID, name); err != nil {
				return fmt.Errorf("calendar: import: %w", err)
			}
		}
		return nil
	})
}

// MaxFreeBusy is the longest time range a free-busy query covers; a
// longer one is cut.
const MaxFreeBusy = 366 * 24 * time.Hour

// BusyIn returns the busy time in [start, end) of calendar slug of the
// member owner, as viewer may see it (RFC 4791 section 7.10): any
// calendar of viewer's own, or the personal calendar of a member who
// shares a group with viewer (busy time only, no detail). Anything else
// is ErrNotFound. end is at most MaxFreeBusy after start.
func (s *Store) BusyIn(ctx context.Context, viewer Member, owner int64, slug string, start, end time.Time) ([]Period, error) {
	if end.IsZero() || end.Sub(start) > MaxFreeBusy {
		end = start.Add(MaxFreeBusy)
	}
	var calID int64
	if owner == viewer.ID {
		c, err := s.Calendar(ctx, viewer, slug)
		if err != nil {
			return nil, err
		}
		calID = c.ID
	} else {
		if slug != PersonalSlug {
			return nil, ErrNotFound
		}
		if ok, err := s.shareGroup(ctx, viewer.ID, owner); err != nil || !ok {
			return nil, errors.Join(ErrNotFound, err)
		}
		id, err := s.ensure(ctx, "account", owner, PersonalSlug, "Calendar")
		if err != nil {
			return nil, err
		}
		calID = id
	}
	rs, err := s.inRange(ctx, calID, start, end)
	if err != nil {
		return nil, err
	}
	var out []Period
	tzs := NewZoneCache()
	for _, r := range rs {
		cal, err := Decode(r.Data)
		if err != nil {
			continue
		}
		out = append(out, tzs.Busy(cal, start, end)...)
	}
	slices.SortFunc(out, func(a, b Period) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// shareGroup reports whether accounts a and b are in some group together.
func (s *Store) shareGroup(ctx context.Context, a, b int64) (bool, error) {
	ga, err := s.groups.AccountGroups(ctx, a)
	if err != nil {
		return false, fmt.Errorf("calendar: groups of %d: %w", a, err)
	}
	gb, err := s.groups.AccountGroups(ctx, b)
	if err != nil {
		return false, fmt.Errorf("calendar: groups of %d: %w", b, err)
	}
	for _, x := range ga {
		for _, y := range gb {
			if x.ID == y.ID {
				return true, nil
			}
		}
	}
	return false, nil
}
