package calendar

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/mail/msgview"
)

// Limits of one .ics file ImportICS reads.
const (
	// MaxImportBytes bounds the file: a party member's whole Google
	// Calendar export fits many times over.
	MaxImportBytes = 64 << 20
	// MaxImportCalendars bounds the calendars (VCALENDARs) in one file,
	// as tools and hands concatenate exports.
	MaxImportCalendars = 1000
	// MaxImportComponents bounds the components of one file (events,
	// their alarms and changed instances, time zones), counted before any
	// is decoded: each decoded component takes memory (a map, slices,
	// strings), and a file of 64 MiB of the smallest components held
	// about two million. A calendar of MaxObjectsPerCalendar events, each
	// with an alarm and a changed instance, stays within it.
	MaxImportComponents = 4 * MaxObjectsPerCalendar
)

// ErrDuplicate is an import's refusal of one UID with different content
// in two calendars of a file: which one is right, the import cannot say.
var ErrDuplicate = fmt.Errorf("%w: one UID, in two calendars of the file, with different content", ErrInvalid)

// ErrTooMany is an import's refusal of a file of more events, tasks and
// journals (UIDs) than a calendar holds (MaxObjectsPerCalendar).
var ErrTooMany = fmt.Errorf("%w: more than %d events, tasks and journals in one calendar", ErrTooLarge, MaxObjectsPerCalendar)

// ImportError is ImportICS's refusal of one event, task or journal of a
// file: its UID and SUMMARY (either may be empty, neither is cleaned) and
// why, Err, which wraps ErrInvalid or ErrTooLarge and, when it is of such
// a kind, ErrNoUID, ErrTimeZone, ErrDate, ErrRecurrence, ErrMaxInstances
// or ErrDuplicate.
type ImportError struct {
	UID, Summary string
	Err          error
}

func (e *ImportError) Error() string {
	if e.UID == "" {
		return fmt.Sprintf("%v (SUMMARY %q)", e.Err, e.Summary)
	}
	return fmt.Sprintf("%v (UID %q)", e.Err, e.UID)
}

func (e *ImportError) Unwrap() error { return e.Err }

// Imported is what ImportICS made of a file.
type Imported struct {
	Slug, Name string // the new calendar's
	Objects    int    // resources stored: one per UID
	// Start is the earliest start of the objects that have one, zero if
	// none has; End the latest end, zero if some object never ends or
	// none has a start.
	Start, End time.Time
}

// ImportICS makes a new calendar of m and stores in it, all or nothing,
// every event, task and journal of the iCalendar file data (RFC 5545):
// the components are split into one resource per UID (RFC 4791 section
// 4.1), each with the time zones of its calendar, and checked as a
// CalDAV PUT is. The calendar is named as the file names it
// (X-WR-CALNAME, the name Google, Apple and Outlook export a calendar
// under), else name (as another provider called it, e.g. a Google
// Takeout calendar's file name). The file may hold several calendars one
// after another (exports concatenated); their components are imported
// alike, and a UID in two of them must have the same content in both
// (ErrDuplicate). A component the checks refuse fails the import with an
// [*ImportError]; a file that is not iCalendar wraps ErrInvalid, one
// over MaxImportBytes ErrTooLarge, one of more than MaxObjectsPerCalendar
// UIDs ErrTooMany; all before the calendar is made.
func (s *Store) ImportICS(ctx context.Context, m Member, name string, data []byte) (Imported, error) {
	cals, err := splitFile(data)
	if err != nil {
		return Imported{}, err
	}
	objs, err := splitByUID(cals...)
	if err != nil {
		return Imported{}, err
	}
	for _, c := range cals {
		if n, err := c.Props.Text(PropCalendarName); err == nil && cleanName(n) != "" {
			name = n
			break
		}
	}
	name = cleanName(name)
	// Made whole or not at all: a request that ends between the
	// calendar's INSERT and its reading back would leave it, empty.
	cal, err := s.newImportCalendar(context.WithoutCancel(ctx), m, name)
	if err != nil {
		return Imported{}, err
	}
	slug := cal.Slug
	if err := s.Import(ctx, m, slug, objs); err != nil {
		// All or nothing: the calendar made for the import goes with it,
		// also when the import ended for the request's end (the member
		// closed the page), so not under ctx's cancellation.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
		defer cancel()
		if derr := s.dropImportCalendar(dctx, m, cal.ID); derr != nil {
			return Imported{}, errors.Join(err, derr)
		}
		return Imported{}, err
	}
	im := Imported{Slug: slug, Name: name, Objects: len(objs)}
	if name == "" {
		im.Name = slug
	}
	open := false
	for _, o := range objs {
		if o.Start.IsZero() {
			continue
		}
		if im.Start.IsZero() || o.Start.Before(im.Start) {
			im.Start = o.Start
		}
		if o.End.IsZero() {
			open = true
		} else if o.End.After(im.End) {
			im.End = o.End
		}
	}
	if open {
		im.End = time.Time{}
	}
	return im, nil
}

// PropCalendarName is the property by which Google's, Apple's and
// Outlook's exports name their calendar (a de facto extension; RFC 7986
// section 5.1's NAME is the standard's later spelling).
const PropCalendarName = "X-WR-CALNAME"

// cleanName is a calendar's name as a file gives it, cleaned as
// [msgview.CleanText] cleans untrusted text for a line of a page (format
// characters such as U+202E, which would turn the legend's text around,
// removed, but for the joiners and variation selectors that emoji and
// several scripts are written with; white space one space), at most
// MaxNameBytes, never ending in a joiner that joins nothing.
func cleanName(name string) string {
	name = msgview.CleanText(name)
	for len(name) > MaxNameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return strings.TrimSpace(strings.TrimRight(name, "\u200C\u200D"))
}

// splitFile decodes the calendars of an .ics file, one after another.
// The nesting of the whole file is checked first, so that the decoder's
// recursion is bounded; each calendar is then decoded alone, from its
// BEGIN line to the next calendar's (anything after its END but empty
// lines is refused, as Parse refuses it).
func splitFile(data []byte) ([]*ical.Calendar, error) {
	if len(data) > MaxImportBytes {
		return nil, fmt.Errorf("%w: a calendar file of over %d MiB", ErrTooLarge, MaxImportBytes>>20)
	}
	// The decoder recurses once per nested component: a file of nothing
	// but BEGIN lines would outgrow the goroutine's stack and end the
	// server.
	tops, err := nesting(data, MaxImportComponents, MaxImportCalendars)
	if errors.Is(err, errTooManyComponents) {
		return nil, fmt.Errorf("%w: more than %d components", ErrTooMany, MaxImportComponents)
	}
	if err != nil {
		return nil, err
	}
	var cals []*ical.Calendar
	for _, part := range splitAt(data, tops) {
		cal, err := decode(part)
		if err != nil {
			if len(tops) > 1 {
				err = fmt.Errorf("calendar %d of %d: %w", len(cals)+1, len(tops), err)
			}
			return nil, err
		}
		cals = append(cals, cal)
	}
	return cals, nil
}

// splitAt cuts data before each offset of at but the first: what comes
// before the first (empty lines, or what the decoder refuses) stays with
// it.
func splitAt(data []byte, at []int) [][]byte {
	if len(at) < 2 {
		return [][]byte{data}
	}
	parts := make([][]byte, 0, len(at))
	from := 0
	for _, i := range at[1:] {
		parts = append(parts, data[from:i])
		from = i
	}
	return append(parts, data[from:])
}

// splitByUID makes one object per UID of the calendars: the properties
// of its calendar (METHOD left out), the components of that UID (a
// recurring event with its changed instances) and that calendar's
// VTIMEZONEs. A UID in two calendars is taken from the first when both
// have the same components, and refused (ErrDuplicate) when they differ.
func splitByUID(cals ...*ical.Calendar) (map[string]*Object, error) {
	type group struct {
		cal   int // index in cals
		comps []*ical.Component
	}
	zones := make([][]*ical.Component, len(cals))
	var groups []group        // in the order of their UIDs' first appearance
	byUID := map[string]int{} // index in groups
	var order []string
	for i, cal := range cals {
		if cal == nil || cal.Component == nil || cal.Name != ical.CompCalendar {
			return nil, fmt.Errorf("%w: not a VCALENDAR", ErrInvalid)
		}
		seen := map[string][]*ical.Component{} // of other calendars' UIDs, this one's components
		for _, c := range cal.Children {
			if c.Name == ical.CompTimezone {
				zones[i] = append(zones[i], c)
				continue
			}
			// The UID as analyse reads it (its text, unescaped), so that
			// two spellings of one UID ("a\,b", "a,b") are one object:
			// grouped apart, they were two objects of one UID, which the
			// store refused as a conflict (a 500, not a refusal).
			uid := ""
			if p := c.Props.Get(ical.PropUID); p != nil {
				uid = p.Value
				if t, err := c.Props.Text(ical.PropUID); err == nil {
					uid = t
				}
			}
			if uid == "" {
				return nil, &ImportError{Summary: summary(c), Err: ofKind(ErrNoUID, fmt.Errorf("%w: a %s without a UID", ErrInvalid, c.Name))}
			}
			k, ok := byUID[uid]
			switch {
			case !ok:
				byUID[uid] = len(groups)
				groups = append(groups, group{cal: i, comps: []*ical.Component{c}})
				order = append(order, uid)
			case groups[k].cal == i:
				groups[k].comps = append(groups[k].comps, c)
			default:
				seen[uid] = append(seen[uid], c)
			}
		}
		for uid, comps := range seen {
			if !sameComponents(groups[byUID[uid]].comps, comps) {
				return nil, &ImportError{UID: uid, Summary: summary(comps[0]), Err: ErrDuplicate}
			}
		}
	}
	if len(order) > MaxObjectsPerCalendar {
		return nil, ErrTooMany
	}
	out := make(map[string]*Object, len(order))
	tzdb := tzCache{}
	for _, uid := range order {
		g := groups[byUID[uid]]
		one := ical.NewCalendar()
		for k, ps := range cals[g.cal].Props {
			if k != ical.PropMethod {
				one.Props[k] = ps
			}
		}
		one.Children = append(append(one.Children, zones[g.cal]...), g.comps...)
		o, err := analyse(one, tzdb)
		if err == nil {
			// What a PUT of the object would check before it parsed it:
			// the file's text is copied, so it must be UTF-8 too.
			err = CheckRaw(o.Data)
		}
		if err != nil {
			return nil, &ImportError{UID: uid, Summary: summary(g.comps...), Err: err}
		}
		sum := sha256.Sum256([]byte(uid))
		out[hex.EncodeToString(sum[:12])+".ics"] = o
	}
	return out, nil
}

// summary is the first SUMMARY of comps, the one a person knows the
// event by; "" if none has one.
func summary(comps ...*ical.Component) string {
	for _, c := range comps {
		if p := c.Props.Get(ical.PropSummary); p != nil && p.Value != "" {
			if t, err := c.Props.Text(ical.PropSummary); err == nil {
				return t
			}
			return p.Value
		}
	}
	return ""
}

// sameComponents reports whether a and b hold the same properties,
// parameters and values, in the same components (the order of
// properties of different names does not count, as go-ical's encoder
// orders them by name).
func sameComponents(a, b []*ical.Component) bool { return reflect.DeepEqual(a, b) }

// dropTimeout bounds the removal of a failed import's calendar.
const dropTimeout = 10 * time.Second

// dropImportCalendar deletes the calendar of m that a failed import made,
// by its id (its objects, if any, go with it: ON DELETE CASCADE): by its
// slug, it could be another calendar, made under the same slug after the
// member deleted the import's while it ran.
func (s *Store) dropImportCalendar(ctx context.Context, m Member, id int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM calendar_calendars WHERE owner_kind = 'account' AND owner_id = ? AND id = ?`, m.ID, id); err != nil {
			return fmt.Errorf("calendar: import: drop the calendar made for it: %w", err)
		}
		return nil
	})
}

// newImportCalendar makes a calendar of m for an import named name, under
// a slug made from the name ("import", "import-2" … when it has no
// letters to give one).
func (s *Store) newImportCalendar(ctx context.Context, m Member, name string) (Calendar, error) {
	base := slugFrom(name)
	for i := 1; i <= 50; i++ {
		slug := base
		if i > 1 {
			slug = fmt.Sprintf("%s-%d", base, i)
		}
		cal, err := s.CreateCalendar(ctx, m, slug, name)
		if errors.Is(err, ErrExists) {
			continue
		}
		return cal, err
	}
	return Calendar{}, fmt.Errorf("%w: calendar %q", ErrExists, name)
}

// slugFrom keeps a name's ASCII letters and digits, lower-cased, joined
// by '-', at most 40 bytes; "import" if none is left.
func slugFrom(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.TrimPrefix(b.String(), groupSlugPrefix)
	if s == "" || !validSlug(s) {
		return "import"
	}
	return s
}
