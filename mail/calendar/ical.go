package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// Limits on one calendar object resource (RFC 4791 section 5.2.5 and the
// max-instances precondition of section 5.3.2.1).
const (
	// MaxObjectSize is the largest iCalendar object accepted, in bytes
	// (CALDAV:max-resource-size).
	MaxObjectSize = 1 << 20
	// MaxDepth is how deep components may nest: VCALENDAR, VEVENT,
	// VALARM is 3; a VTIMEZONE's STANDARD is 3 as well.
	MaxDepth = 4
	// MaxComponents is how many components one object may hold (an
	// event with its overridden instances and time zones).
	MaxComponents = 1000
	// MaxInstancesPerYear bounds how dense a recurrence may be: at most
	// this many instances in the year after its start. It admits
	// several a day (every weekday three times), and refuses rules
	// such as FREQ=SECONDLY that make millions.
	MaxInstancesPerYear = 2000
	// MaxExpand is how many instances of one recurrence are computed for
	// one question (the object's indexed range, a time-range match).
	// Past it the object is taken to reach further: a time-range query
	// then returns it (a superset, which clients filter) and its indexed
	// end is open.
	MaxExpand = 10000
)

// floatSlack widens the indexed range of an object with floating times
// (no time zone: they mean local time wherever the reader is) or dates,
// by the largest offset from UTC there is.
const floatSlack = 14 * time.Hour

// Errors of [Parse]. Each wraps [ErrInvalid] but ErrTooLarge. An error
// of Parse is also, when it is of such a kind, one of ErrNoUID,
// ErrTimeZone, ErrDate or ErrRecurrence (errors.Is), so that a page can
// say why in a person's words; its text stays the check's own.
var (
	ErrInvalid      = errors.New("calendar: invalid calendar object")
	ErrTooLarge     = errors.New("calendar: calendar object too large")
	ErrMaxInstances = fmt.Errorf("%w: recurrence too dense", ErrInvalid)
	ErrNoUID        = fmt.Errorf("%w: a component without UID", ErrInvalid)
	ErrTimeZone     = fmt.Errorf("%w: unknown time zone", ErrInvalid)
	ErrDate         = fmt.Errorf("%w: bad date or time", ErrInvalid)
	ErrRecurrence   = fmt.Errorf("%w: bad recurrence", ErrInvalid)
)

// kindError is err, of the kind kind as well (errors.Is), with err's
// text.
type kindError struct {
	err, kind error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// ofKind marks err as of kind.
func ofKind(kind, err error) error { return &kindError{err: err, kind: kind} }

// Object is a parsed calendar object resource: the iCalendar object in
// the form it is stored and served (go-ical's encoding, which orders
// properties by name), and what the store indexes of it.
type Object struct {
	Cal       *ical.Calendar
	Data      []byte // canonical encoding of Cal
	UID       string
	Component string // VEVENT, VTODO or VJOURNAL
	// Start and End bound every instance, widened for floating times; a
	// zero Start means no start (the object matches every time range),
	// a zero End no end.
	Start, End time.Time
	// Simple is true when [Start, End) is exact: no recurrence, no
	// floating time, a length. Whether it overlaps a time range is then
	// a comparison, without Overlaps.
	Simple bool
}

// CheckRaw checks what must hold of a body before it is parsed at all:
// its size, that it is UTF-8 (RFC 5545 section 3.1.4), and how deep its
// components nest, so that the parser's recursion is bounded.
func CheckRaw(raw []byte) error {
	if len(raw) > MaxObjectSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(raw), MaxObjectSize)
	}
	if !utf8.Valid(raw) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalid)
	}
	return checkNesting(raw, MaxComponents)
}

// checkNesting checks that the components of raw nest at most MaxDepth
// deep and, if maxComps > 0, number at most maxComps, and that raw holds
// one component (a calendar) at the top. See [nesting].
func checkNesting(raw []byte, maxComps int) error {
	_, err := nesting(raw, maxComps, 1)
	return err
}

// errTooManyComponents is the kind (errors.Is) of nesting's refusal of
// more than maxComps components, which an import answers as too many
// rather than as invalid.
var errTooManyComponents = errors.New("calendar: too many components")

// nesting checks that the components of raw nest at most MaxDepth deep,
// that, if maxComps > 0, they number at most maxComps, and that at most
// maxTops of them are at the top (calendars one after another), and,
// when maxTops > 1, returns the offset in raw of each top one's BEGIN
// line. go-ical's decoder recurses once per BEGIN, and a goroutine whose
// stack outgrows its limit ends the process, past any recover. So the
// lines are read as the decoder reads them: unfolded (RFC 5545 section 3.1: a line that
// begins with a space or a tab goes on the one before), the property name
// being what comes before the first ";" or ":", upper-cased as
// strings.ToUpper does. "BEGIN;X=1:A", "BEG\r\n IN:A" and "begın:A" begin
// a component too.
func nesting(raw []byte, maxComps, maxTops int) (tops []int, err error) {
	depth, comps, ntops := 0, 0, 0
	var name []byte // the current line's name so far
	named := false  // the name is complete (or too long to matter)
	start := 0      // the offset of the current line
	end := func() error {
		switch n := strings.ToUpper(string(name)); {
		case n == "BEGIN":
			if depth == 0 {
				// With maxTops 1, a second calendar or a component after
				// the first one's end: the decoder would read the first
				// and leave the rest, and one cut off before its END
				// reads to it as the end of the input, so decode could
				// not tell.
				if ntops == maxTops {
					if maxTops == 1 {
						return fmt.Errorf("%w: more than one calendar (a component after the end of the first)", ErrInvalid)
					}
					return fmt.Errorf("%w: more than %d calendars", ErrInvalid, maxTops)
				}
				ntops++
				if maxTops > 1 { // checkNesting's one needs no record (nor an allocation)
					tops = append(tops, start)
				}
			}
			depth++
			comps++
			if depth > MaxDepth {
				return fmt.Errorf("%w: components nested deeper than %d", ErrInvalid, MaxDepth)
			}
			if maxComps > 0 && comps > maxComps {
				return ofKind(errTooManyComponents, fmt.Errorf("%w: more than %d components", ErrInvalid, maxComps))
			}
		case n == "END":
			depth = max(depth-1, 0)
		}
		return nil
	}
	first := true
	off := 0
	for line := range bytes.Lines(raw) {
		at := off
		off += len(line)
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if !first && len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			line = line[1:]
		} else {
			if !first && named {
				if err := end(); err != nil {
					return nil, err
				}
			}
			name, named, start = name[:0], false, at
		}
		first = false
		for _, c := range line {
			if named {
				break
			}
			switch {
			case c == ';' || c == ':':
				named = true
			case len(name) == maxNameBytes:
				// No name this long upper-cases to BEGIN or END.
				name, named = name[:0], true
			default:
				name = append(name, c)
			}
		}
	}
	if named {
		if err := end(); err != nil {
			return nil, err
		}
	}
	return tops, nil
}

// maxNameBytes is more bytes than any spelling of BEGIN or END has: five
// letters, none of whose lower or other cases takes more than 3 bytes.
const maxNameBytes = 24

// Parse parses and checks one calendar object resource (RFC 4791 section
// 4.1): one kind of component, one UID, no METHOD, every TZID either known
// or defined by a VTIMEZONE, recurrences no denser than
// MaxInstancesPerYear. It returns the object with its canonical encoding,
// normalised as Analyse says (an RRULE's COUNT=0 dropped).
func Parse(raw []byte) (*Object, error) {
	if err := CheckRaw(raw); err != nil {
		return nil, err
	}
	cal, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return Analyse(cal)
}

// Decode decodes a stored object (one that Parse accepted).
func Decode(data []byte) (*ical.Calendar, error) { return decode(data) }

// decode runs go-ical's decoder, which panics on some malformed content
// lines (a parameter without a value: "X;P=", an index past the line's
// end): such a panic is an invalid object, never a crash of the request.
// go-webdav's CalDAV PUT decodes with the same decoder, so the CalDAV
// handler parses a body here first and hands go-webdav only bodies that
// decode. The decoder reads one component and leaves the rest: anything
// after it but empty lines is refused, never dropped without a word:
// content lines here, a component (a second VCALENDAR, an event outside
// the first) by checkNesting, which Parse and ParseITIP run first (the
// decoder reads a component cut off before its END as the end of the
// input, so decode alone could not tell); ImportICS runs nesting over the
// whole file and decodes each of its calendars alone (splitFile).
func decode(raw []byte) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("%w: malformed content line", ErrInvalid)
		}
	}()
	dec := ical.NewDecoder(bytes.NewReader(raw))
	cal, err = dec.Decode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Decode(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: content after the end of the VCALENDAR", ErrInvalid)
	}
	return cal, nil
}

// Analyse checks a parsed calendar as Parse does and encodes it. It
// normalises cal in place, and the Object holds cal itself: an RRULE's
// COUNT=0, which some clients write for a rule without end, is dropped
// from the caller's cal (see checkRuleNumbers), so what is stored or
// sent afterwards is what was analysed.
func Analyse(cal *ical.Calendar) (*Object, error) { return analyse(cal, nil) }

// analyse is Analyse, with the time zones of the system's database that
// were looked up for other objects in tzdb (none if nil), and those it
// looks up added.
func analyse(cal *ical.Calendar, tzdb tzCache) (*Object, error) {
	if cal == nil || cal.Component == nil || cal.Name != ical.CompCalendar {
		return nil, fmt.Errorf("%w: not a VCALENDAR", ErrInvalid)
	}
	if cal.Props.Get(ical.PropMethod) != nil {
		return nil, fmt.Errorf("%w: a stored calendar object has no METHOD (RFC 4791 section 4.1)", ErrInvalid)
	}
	o := &Object{Cal: cal}
	tzs := newZones(cal)
	tzs.db = tzdb
	var mains []*ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			continue
		}
		if !isSupported(c.Name) {
			return nil, fmt.Errorf("%w: unsupported component %s", ErrInvalid, c.Name)
		}
		if o.Component != "" && c.Name != o.Component {
			return nil, fmt.Errorf("%w: both %s and %s in one object", ErrInvalid, o.Component, c.Name)
		}
		o.Component = c.Name
		uid, err := c.Props.Text(ical.PropUID)
		if err != nil || uid == "" {
			return nil, ofKind(ErrNoUID, fmt.Errorf("%w: %s without UID", ErrInvalid, c.Name))
		}
		if o.UID != "" && uid != o.UID {
			return nil, fmt.Errorf("%w: two UIDs in one object", ErrInvalid)
		}
		o.UID = uid
		if err := checkRuleNumbers(c); err != nil {
			return nil, err
		}
		mains = append(mains, c)
	}
	if len(mains) == 0 {
		return nil, fmt.Errorf("%w: no event, to-do or journal", ErrInvalid)
	}
	if len(o.UID) > 1024 {
		return nil, fmt.Errorf("%w: UID longer than 1024 bytes", ErrInvalid)
	}
	if err := o.index(mains, tzs); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if buf.Len() > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes encoded", ErrTooLarge, buf.Len())
	}
	o.Data = buf.Bytes()
	return o, nil
}

// isSupported reports whether objects of component name are stored
// (CALDAV:supported-calendar-component-set).
func isSupported(name string) bool {
	return name == ical.CompEvent || name == ical.CompToDo || name == ical.CompJournal
}

// index sets the range every instance of every component falls in.
func (o *Object) index(mains []*ical.Component, tzs *zones) error {
	o.Simple = true
	for _, c := range mains {
		_, dur, floating, ok, err := firstInstance(c, tzs)
		if err != nil {
			return err
		}
		if !ok || floating || dur <= 0 || c.Props.Get(ical.PropRecurrenceRule) != nil || c.Props.Get(ical.PropRecurrenceDates) != nil {
			o.Simple = false
		}
	}
	lo, hi := time.Time{}, time.Time{}
	open := false // some component has no start: matches everything
	unbounded := false
	for _, c := range mains {
		s, e, ok, err := span(c, tzs)
		if err != nil {
			return err
		}
		if !ok {
			open = true
			continue
		}
		if lo.IsZero() || s.Before(lo) {
			lo = s
		}
		if e.IsZero() {
			unbounded = true
		} else if e.After(hi) {
			hi = e
		}
	}
	if open || lo.IsZero() {
		return nil // zero Start and End: every range
	}
	o.Start = lo
	if !unbounded {
		o.End = hi
	}
	return nil
}

// span is the range of one component's instances; ok is false when it
// has no start (a to-do without DTSTART or DUE). A zero end is no end.
func span(c *ical.Component, tzs *zones) (start, end time.Time, ok bool, err error) {
	first, dur, floating, ok, err := firstInstance(c, tzs)
	if err != nil || !ok {
		return time.Time{}, time.Time{}, ok, err
	}
	last := first
	if c.Props.Get(ical.PropRecurrenceRule) != nil || c.Props.Get(ical.PropRecurrenceDates) != nil {
		set, err := recurrence(c, tzs, time.Time{})
		if err != nil {
			return time.Time{}, time.Time{}, false, err
		}
		if err := checkDensity(set, first); err != nil {
			return time.Time{}, time.Time{}, false, err
		}
		if endless(c) {
			return widen(first, floating), time.Time{}, true, nil
		}
		n := 0
		next := set.Iterator()
		for t, more := next(); more; t, more = next() {
			if n++; n > MaxExpand {
				return widen(first, floating), time.Time{}, true, nil
			}
			last = t
		}
	}
	start, end = first, last.Add(dur)
	if floating {
		start, end = start.Add(-floatSlack), end.Add(floatSlack)
	}
	return start, end, true, nil
}

// widen moves a floating start back by floatSlack.
func widen(start time.Time, floating bool) time.Time {
	if floating {
		return start.Add(-floatSlack)
	}
	return start
}

// endless reports whether a component's RRULE has neither COUNT nor
// UNTIL.
func endless(c *ical.Component) bool {
	rp := c.Props.Get(ical.PropRecurrenceRule)
	if rp == nil {
		return false
	}
	v := strings.ToUpper(rp.Value)
	return !strings.Contains(v, "COUNT=") && !strings.Contains(v, "UNTIL=")
}

// checkDensity refuses a recurrence with more than MaxInstancesPerYear
// instances in its first year (RFC 4791 section 5.3.2.1, max-instances).
func checkDensity(set *rrule.Set, first time.Time) error {
	limit := first.AddDate(1, 0, 0)
	n := 0
	next := set.Iterator()
	t, more := next()
	if !more {
		return ofKind(ErrRecurrence, fmt.Errorf("%w: the recurrence has no instance", ErrInvalid))
	}
	for ; more && t.Before(limit); t, more = next() {
		if n++; n > MaxInstancesPerYear {
			return fmt.Errorf("%w: more than %d instances in a year", ErrMaxInstances, MaxInstancesPerYear)
		}
	}
	return nil
}

// firstInstance returns a component's start and the length of each
// instance (RFC 5545 sections 3.6.1, 3.6.2, 3.6.3), and whether its times
// float.
func firstInstance(c *ical.Component, tzs *zones) (start time.Time, dur time.Duration, floating, ok bool, err error) {
	sp := c.Props.Get(ical.PropDateTimeStart)
	if sp == nil && c.Name == ical.CompToDo {
		sp = c.Props.Get(ical.PropDue)
	}
	if sp == nil {
		return time.Time{}, 0, false, false, nil
	}
	start, floating, err = tzs.dateTime(sp)
	if err != nil {
		return time.Time{}, 0, false, false, err
	}
	switch {
	case c.Props.Get(ical.PropDateTimeEnd) != nil && c.Name == ical.CompEvent:
		end, _, err := tzs.dateTime(c.Props.Get(ical.PropDateTimeEnd))
		if err != nil {
			return time.Time{}, 0, false, false, err
		}
		dur = end.Sub(start)
	case c.Props.Get(ical.PropDuration) != nil:
		d, err := c.Props.Get(ical.PropDuration).Duration()
		if err != nil {
			return time.Time{}, 0, false, false, ofKind(ErrDate, fmt.Errorf("%w: DURATION: %v", ErrInvalid, err))
		}
		dur = d
	case sp.ValueType() == ical.ValueDate || len(sp.Value) == len("20060102"):
		dur = 24 * time.Hour
	}
	if dur < 0 {
		return time.Time{}, 0, false, false, ofKind(ErrDate, fmt.Errorf("%w: %s ends before it starts", ErrInvalid, c.Name))
	}
	return start, dur, floating, true, nil
}

// zones resolves TZID parameters (RFC 5545 section 3.2.19): a name the
// system's time zone database knows, or a Windows name that CLDR maps to
// one (Outlook's "W. Europe Standard Time"), is used; one that only the
// object's VTIMEZONE defines is read as floating time; one neither knows
// is an error. Locations are loaded once per object, or, with a tzCache,
// once per import or request (ZoneCache).
type zones struct {
	defined map[string]bool
	loaded  map[string]*time.Location
	db      tzCache // may be nil
}

// tzCache holds what the system's time zone database answered for each
// name looked up while many objects are read at once (an import): its
// location, or nil when it has none. time.LoadLocation reads the
// database's file each time it is asked, which was a third of the CPU of
// an import of 5,000 events in one zone. Not safe for concurrent use.
type tzCache map[string]*time.Location

// load is loadLocation, answered from c when it has the name.
func (c tzCache) load(name string) (*time.Location, error) {
	if c == nil {
		return loadLocation(name)
	}
	loc, ok := c[name]
	if !ok {
		loc, _ = loadLocation(name)
		c[name] = loc
	}
	if loc == nil {
		return nil, fmt.Errorf("no time zone %q in the system's database", name)
	}
	return loc, nil
}

// A ZoneCache holds the time zones read from the system's database while
// many objects are read for one answer: a month page of 300 events in
// Rome reads Europe/Rome's file once, not 300 times (time.LoadLocation
// reads the file each time it is asked). Its methods are the package's
// functions of the same names. Not safe for concurrent use: one per
// request. A nil *ZoneCache holds nothing, and reads the database each
// time an object names a zone.
type ZoneCache struct{ db tzCache }

// NewZoneCache returns an empty ZoneCache.
func NewZoneCache() *ZoneCache { return &ZoneCache{db: tzCache{}} }

// zones is newZones(cal), answered from zc's database answers.
func (zc *ZoneCache) zones(cal *ical.Calendar) *zones {
	z := newZones(cal)
	if zc != nil {
		z.db = zc.db
	}
	return z
}

func newZones(cal *ical.Calendar) *zones {
	z := &zones{defined: map[string]bool{}, loaded: map[string]*time.Location{}}
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			if id, err := c.Props.Text(ical.PropTimezoneID); err == nil {
				z.defined[id] = true
			}
		}
	}
	return z
}

// location returns the location of tzid; nil for floating time.
func (z *zones) location(tzid string) (*time.Location, error) {
	if loc, ok := z.loaded[tzid]; ok {
		return loc, nil
	}
	loc, err := z.db.load(tzid)
	if err != nil {
		if !z.defined[tzid] {
			return nil, ofKind(ErrTimeZone, fmt.Errorf("%w: unknown time zone %q and no VTIMEZONE for it", ErrInvalid, tzid))
		}
		loc = nil
	}
	z.loaded[tzid] = loc
	return loc, nil
}

// loadLocation loads a time zone by its IANA name only: no path, no
// empty name (which time.LoadLocation reads as UTC), nothing long. A
// Windows zone name, as Outlook writes TZIDs, that the system's database
// does not know is read as the IANA zone CLDR maps it to (windowsZones).
// A name that is both, UTC, is the IANA one, as before the table came:
// time.UTC itself.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, `\:`) || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || name == "Local" {
		return nil, fmt.Errorf("not an IANA time zone name")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		if iana, ok := windowsZones[name]; ok {
			return time.LoadLocation(iana)
		}
	}
	return loc, err
}

// dateTime parses a DATE or DATE-TIME property (RFC 5545 sections 3.3.4,
// 3.3.5): UTC, with a TZID, or floating (read as UTC, floating true).
func (z *zones) dateTime(p *ical.Prop) (time.Time, bool, error) {
	loc, floating := time.UTC, true
	if tzid := p.Params.Get(ical.PropTimezoneID); tzid != "" && !strings.HasSuffix(p.Value, "Z") {
		l, err := z.location(tzid)
		if err != nil {
			return time.Time{}, false, err
		}
		if l != nil {
			loc, floating = l, false
		}
	}
	if strings.HasSuffix(p.Value, "Z") {
		floating = false
	}
	q := *p
	q.Params = ical.Params{}
	for k, v := range p.Params {
		if k != ical.PropTimezoneID {
			q.Params[k] = v
		}
	}
	t, err := q.DateTime(loc)
	if err != nil {
		return time.Time{}, false, ofKind(ErrDate, fmt.Errorf("%w: %s: %v", ErrInvalid, p.Name, err))
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false, ofKind(ErrDate, fmt.Errorf("%w: %s out of range", ErrInvalid, p.Name))
	}
	return t, floating, nil
}

// recurrence builds a component's recurrence set (RFC 5545 section
// 3.8.5): RRULE, RDATE and EXDATE. go-ical's own RecurrenceSet reads
// EXDATE as RDATE and loads the TZID of every date again; this one
// resolves zones once and checks the rule (see checkRule).
//
// from, if not zero, is the earliest time the caller asks about: a rule
// that steps by days or weeks without COUNT then starts at its last step
// before from (see skipAhead), so that a daily event begun years ago
// costs a few steps, not thousands.
func recurrence(c *ical.Component, tzs *zones, from time.Time) (*rrule.Set, error) {
	sp := c.Props.Get(ical.PropDateTimeStart)
	if sp == nil {
		return nil, ofKind(ErrRecurrence, fmt.Errorf("%w: recurrence without DTSTART", ErrInvalid))
	}
	start, _, err := tzs.dateTime(sp)
	if err != nil {
		return nil, err
	}
	set := &rrule.Set{}
	set.DTStart(start)
	if rp := c.Props.Get(ical.PropRecurrenceRule); rp != nil {
		opt, err := rrule.StrToROption(rp.Value)
		if err != nil {
			return nil, ofKind(ErrRecurrence, fmt.Errorf("%w: RRULE: %v", ErrInvalid, err))
		}
		if err := checkRule(opt, start); err != nil {
			return nil, err
		}
		opt.Dtstart = skipAhead(start, from, opt)
		rule, err := rrule.NewRRule(*opt)
		if err != nil {
			return nil, ofKind(ErrRecurrence, fmt.Errorf("%w: RRULE: %v", ErrInvalid, err))
		}
		set.RRule(rule)
	}
	if err := addDates(c, ical.PropRecurrenceDates, tzs, set.RDate); err != nil {
		return nil, err
	}
	if err := addDates(c, ical.PropExceptionDates, tzs, set.ExDate); err != nil {
		return nil, err
	}
	return set, nil
}

// checkRuleNumbers checks the COUNT and INTERVAL of c's RRULEs as RFC
// 5545 section 3.3.10 writes them, which rrule-go's strconv.Atoi does
// not: 1*DIGIT, no sign, INTERVAL positive. rrule-go reads COUNT=-3 and
// COUNT=0 as no COUNT (an endless rule) and INTERVAL=0 as 1, so such a
// rule would be stored meaning something else to every other reader.
//
// COUNT=0 alone is taken, and dropped: Apple's Calendar and tasks.org
// write it on rules that repeat for ever (sabre/dav#1455, where
// Nextcloud's refusal of it broke Mac users' edits; tasks/tasks#2158),
// and without it the rule is the endless (or UNTIL-bounded) one they
// mean. No client is known to send the others, which are refused.
func checkRuleNumbers(c *ical.Component) error {
	rules := c.Props[ical.PropRecurrenceRule] // each of them: a second RRULE is read too
	for i := range rules {
		if err := ruleNumbers(&rules[i]); err != nil {
			return err
		}
	}
	return nil
}

// ruleNumbers is checkRuleNumbers for one RRULE, rp, whose COUNT=0 it
// drops.
func ruleNumbers(rp *ical.Prop) error {
	parts := strings.Split(rp.Value, ";")
	kept := parts[:0]
	for _, part := range parts {
		name, value, _ := strings.Cut(part, "=")
		name = strings.ToUpper(name)
		if name != "COUNT" && name != "INTERVAL" {
			kept = append(kept, part)
			continue
		}
		if value == "" || strings.Trim(value, "0123456789") != "" {
			return ofKind(ErrRecurrence, fmt.Errorf("%w: RRULE: %s is not 1*DIGIT", ErrInvalid, name))
		}
		if strings.Trim(value, "0") == "" {
			if name == "INTERVAL" {
				return ofKind(ErrRecurrence, fmt.Errorf("%w: RRULE: INTERVAL=0", ErrInvalid))
			}
			continue // COUNT=0: for ever, as its writer means
		}
		kept = append(kept, part)
	}
	if len(kept) < len(parts) {
		rp.Value = strings.Join(kept, ";")
	}
	return nil
}

// skipAhead moves the start of a rule that steps by days or weeks (FREQ
// DAILY or WEEKLY) and counts no instances (no COUNT) forward by whole
// steps, in local time, to the last step at least one step before from.
// Each step of such a rule repeats the one before it (the BY parts that
// would not, BYSETPOS, BYYEARDAY, BYWEEKNO, are refused by checkRule for
// these frequencies), so the instances from there on are the rule's own.
func skipAhead(start, from time.Time, o *rrule.ROption) time.Time {
	if from.IsZero() || o.Count != 0 || (o.Freq != rrule.DAILY && o.Freq != rrule.WEEKLY) || !start.Before(from) {
		return start
	}
	step := max(o.Interval, 1)
	if o.Freq == rrule.WEEKLY {
		step *= 7
	}
	k := int(from.Sub(start).Hours()/24)/step - 1
	if k <= 0 {
		return start
	}
	return start.AddDate(0, 0, k*step)
}

// maxDates bounds the RDATE and EXDATE values of one component.
const maxDates = 10000

func addDates(c *ical.Component, name string, tzs *zones, add func(time.Time)) error {
	n := 0
	for _, p := range c.Props.Values(name) {
		params := ical.Params{}
		for k, v := range p.Params {
			if k != "VALUE" || p.ValueType() != ical.ValuePeriod {
				params[k] = v
			}
		}
		for _, v := range strings.Split(p.Value, ",") {
			if n++; n > maxDates {
				return ofKind(ErrRecurrence, fmt.Errorf("%w: more than %d %s values", ErrInvalid, maxDates, name))
			}
			v, _, _ = strings.Cut(v, "/") // a PERIOD: its start
			t, _, err := tzs.dateTime(&ical.Prop{Name: name, Value: v, Params: params})
			if err != nil {
				return err
			}
			add(t)
		}
	}
	return nil
}

// checkRule keeps rules to what calendar clients make (daily and
// coarser) and refuses the combinations with which rrule-go, which stops
// a search only at an instance, would search until the year 9999 for
// instances that never come (FREQ=SECONDLY;INTERVAL=999;BYSECOND=1 loops
// over 250 billion seconds): RFC 5545 section 3.3.10's table of which BY
// parts go with which FREQ, a BYMONTHDAY no month of BYMONTH has, a
// BYSETPOS out of range, a BYDAY a DAILY rule's INTERVAL never reaches,
// a sixth weekday of a month (which panics rrule-go).
// checkDensity then refuses a rule that has no instance at all.
func checkRule(o *rrule.ROption, start time.Time) error {
	bad := func(what string) error { return ofKind(ErrRecurrence, fmt.Errorf("%w: RRULE: %s", ErrInvalid, what)) }
	if o.Freq > rrule.DAILY { // rrule-go: YEARLY is 0, SECONDLY 6
		return fmt.Errorf("%w: RRULE: recurrences more often than daily are not supported", ErrMaxInstances)
	}
	if o.Interval > 1000 {
		return bad("INTERVAL too large")
	}
	if o.Count > math.MaxInt32 {
		return bad("COUNT too large")
	}
	if o.Freq != rrule.YEARLY && (len(o.Byyearday) > 0 || len(o.Byweekno) > 0) {
		return bad("BYYEARDAY and BYWEEKNO are for FREQ=YEARLY")
	}
	if o.Freq == rrule.WEEKLY && len(o.Bymonthday) > 0 {
		return bad("BYMONTHDAY is not for FREQ=WEEKLY")
	}
	if o.Freq > rrule.MONTHLY && len(o.Bysetpos) > 0 {
		return bad("BYSETPOS is for FREQ=MONTHLY or YEARLY")
	}
	for _, d := range o.Byweekday {
		if d.N() != 0 && o.Freq > rrule.MONTHLY {
			return bad("a numbered BYDAY is for FREQ=MONTHLY or YEARLY")
		}
		// Within a month (MONTHLY, or YEARLY with BYMONTH) there are at
		// most five of a weekday; rrule-go indexes past its tables (a
		// panic) for MONTHLY;BYDAY=8TU or -6TU.
		if (o.Freq == rrule.MONTHLY || len(o.Bymonth) > 0) && (d.N() > 5 || d.N() < -5) {
			return bad("a month has at most five of a weekday")
		}
	}
	if len(o.Bymonthday) > 0 && !monthDayExists(o.Bymonth, o.Bymonthday) {
		return bad("no month of BYMONTH has a day of BYMONTHDAY")
	}
	for _, p := range o.Bysetpos {
		if p == 0 || p > 366 || p < -366 {
			return bad("BYSETPOS out of range")
		}
	}
	if o.Freq == rrule.DAILY && len(o.Byweekday) > 0 && !weekdayReached(o, start) {
		return bad("INTERVAL never reaches a day of BYDAY")
	}
	return nil
}

// weekdayReached reports whether a DAILY rule stepping INTERVAL days
// from start falls on some weekday of BYDAY.
func weekdayReached(o *rrule.ROption, start time.Time) bool {
	step := max(o.Interval, 1)
	wd := int(start.Weekday()+6) % 7 // rrule-go: Monday is 0
	for k := range 7 {
		day := (wd + k*step) % 7
		for _, d := range o.Byweekday {
			if d.Day() == day {
				return true
			}
		}
	}
	return false
}

// monthDayExists reports whether some month of months (every month if
// empty) has some day of days (negative days count from the month's end;
// February has 29 days in a leap year).
func monthDayExists(months []int, days []int) bool {
	if len(months) == 0 {
		months = []int{1}
	}
	length := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for _, m := range months {
		if m < 1 || m > 12 {
			continue
		}
		for _, d := range days {
			if d != 0 && d <= length[m] && d >= -length[m] {
				return true
			}
		}
	}
	return false
}
