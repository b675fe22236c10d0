package calendar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-ical"
)

// MaxImportBytes bounds one .ics file ImportICS reads: a party
// member's whole Google Calendar export fits many times over.
const MaxImportBytes = 64 << 20

// ImportICS makes a new calendar of m named name (as another provider
// called it, e.g. a Google Takeout calendar) and stores in it, all or
// nothing, every event, task and journal of the iCalendar file data (RFC
// 5545): the components are split into one resource per UID (RFC 4791
// section 4.1), each with the time zones it names, and checked as a
// CalDAV PUT is. It returns the calendar's slug and how many resources
// it holds. An object the checks refuse fails the import with its UID.
func (s *Store) ImportICS(ctx context.Context, m Member, name string, data []byte) (string, int, error) {
	if len(data) > MaxImportBytes {
		return "", 0, fmt.Errorf("%w: a calendar file of over %d MiB", ErrTooLarge, MaxImportBytes>>20)
	}
	// The decoder recurses once per nested component: a file of nothing
	// but BEGIN lines would outgrow the goroutine's stack and end the
	// server.
	if err := checkNesting(data, 0); err != nil {
		return "", 0, err
	}
	cal, err := decode(data)
	if err != nil {
		return "", 0, err
	}
	objs, err := splitByUID(cal)
	if err != nil {
		return "", 0, err
	}
	slug, err := s.newImportCalendar(ctx, m, name)
	if err != nil {
		return "", 0, err
	}
	if err := s.Import(ctx, m, slug, objs); err != nil {
		return "", 0, err
	}
	return slug, len(objs), nil
}

// splitByUID makes one object per UID of cal: the calendar's properties
// (METHOD left out), the components of that UID (a recurring event with
// its changed instances) and the VTIMEZONEs.
func splitByUID(cal *ical.Calendar) (map[string]*Object, error) {
	if cal == nil || cal.Component == nil || cal.Name != ical.CompCalendar {
		return nil, fmt.Errorf("%w: not a VCALENDAR", ErrInvalid)
	}
	var zones []*ical.Component
	byUID := map[string][]*ical.Component{}
	var order []string
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			zones = append(zones, c)
			continue
		}
		uid := ""
		if p := c.Props.Get(ical.PropUID); p != nil {
			uid = p.Value
		}
		if uid == "" {
			return nil, fmt.Errorf("%w: a %s without a UID", ErrInvalid, c.Name)
		}
		if _, ok := byUID[uid]; !ok {
			order = append(order, uid)
		}
		byUID[uid] = append(byUID[uid], c)
	}
	out := make(map[string]*Object, len(order))
	for _, uid := range order {
		one := ical.NewCalendar()
		for k, ps := range cal.Props {
			if k != ical.PropMethod {
				one.Props[k] = ps
			}
		}
		one.Children = append(append(one.Children, zones...), byUID[uid]...)
		o, err := Analyse(one)
		if err == nil {
			// What a PUT of the object would check before it parsed it:
			// the file's text is copied, so it must be UTF-8 too.
			err = CheckRaw(o.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("%w (UID %q)", err, uid)
		}
		sum := sha256.Sum256([]byte(uid))
		out[hex.EncodeToString(sum[:12])+".ics"] = o
	}
	return out, nil
}

// newImportCalendar makes a calendar of m for an import named name, under
// a slug made from the name ("import", "import-2" … when it has no
// letters to give one).
func (s *Store) newImportCalendar(ctx context.Context, m Member, name string) (string, error) {
	base := slugFrom(name)
	for i := 1; i <= 50; i++ {
		slug := base
		if i > 1 {
			slug = fmt.Sprintf("%s-%d", base, i)
		}
		_, err := s.CreateCalendar(ctx, m, slug, name)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return "", err
		}
		return slug, nil
	}
	return "", fmt.Errorf("%w: calendar %q", ErrExists, name)
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
