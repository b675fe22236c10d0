package calendar

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/emersion/go-ical"
)

// MaxInvitations is how many invitations Invitations lists: the most
// recently changed.
const MaxInvitations = 200

// Invitation is an event of a member's own calendar that someone else
// organises and that names the member as an attendee.
type Invitation struct {
	Slug, Name, ETag string // where it is, and its version
	UID              string
	Summary          string
	Location         string
	Start            time.Time // zero if unreadable
	AllDay           bool
	Organizer        string // the organiser's address
	OrganizerName    string // its CN, "" if none
	PartStat         string // the member's own
	Cancelled        bool   // STATUS:CANCELLED
	Received         *Received
}

// blobHas is the SQL condition that BLOB column col holds the ASCII
// word w, a constant: SQLite's instr, PostgreSQL's position in bytea
// (PostgreSQL has no instr; SQLite no position).
func (s *Store) blobHas(col, w string) string {
	if s.db.Engine() == db.Postgres {
		return "position('" + w + "'::bytea IN " + col + ") > 0"
	}
	return "instr(" + col + ", '" + w + "') > 0"
}

// Invitations lists the invitations in m's own calendars, the next first
// and past ones last, at most MaxInvitations.
func (s *Store) Invitations(ctx context.Context, m Member) ([]Invitation, error) {
	rows, err := s.db.Stmts(nil).QueryContext(ctx, `SELECT c.id, c.slug, o.name, o.etag, o.data FROM calendar_objects o
		JOIN calendar_calendars c ON c.id = o.calendar_id
		WHERE c.owner_kind = 'account' AND c.owner_id = ? AND o.component = 'VEVENT' AND `+s.blobHas("o.data", "ORGANIZER")+` AND `+s.blobHas("o.data", "ATTENDEE")+`
		ORDER BY o.modified_at DESC LIMIT ?`, m.ID, MaxInvitations)
	if err != nil {
		return nil, fmt.Errorf("calendar: invitations: %w", err)
	}
	type row struct {
		calID            int64
		slug, name, etag string
		data             []byte
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.calID, &r.slug, &r.name, &r.etag, &r.data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("calendar: invitations: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("calendar: invitations: %w", err)
	}
	rows.Close()
	me := strings.ToLower(m.Login)
	var out []Invitation
	for _, r := range rs {
		ev, err := decodeScheduled(r.data)
		if err != nil || ev.p.Organizer == me {
			continue
		}
		a, ok := ev.p.Attendee(me)
		if !ok {
			continue
		}
		inv := invitationOf(ev, a)
		inv.Slug, inv.Name, inv.ETag = r.slug, r.name, r.etag
		// The calendar is the row's (the member's own): no second
		// look-up of it per invitation.
		if rec, ok, err := s.receivedIn(ctx, r.calID, inv.UID); err == nil && ok {
			inv.Received = &rec
		}
		out = append(out, inv)
	}
	now := s.now()
	slices.SortStableFunc(out, func(a, b Invitation) int {
		ap, bp := a.Start.Before(now), b.Start.Before(now)
		if ap != bp {
			if ap {
				return 1
			}
			return -1
		}
		if ap {
			return b.Start.Compare(a.Start)
		}
		return a.Start.Compare(b.Start)
	})
	return out, nil
}

func invitationOf(ev scheduled, a Attendee) Invitation {
	inv := Invitation{UID: ev.uid, Organizer: ev.p.Organizer, PartStat: a.PartStat}
	inv.Summary, _ = ev.ev.Props.Text(ical.PropSummary)
	inv.Location, _ = ev.ev.Props.Text(ical.PropLocation)
	if p := ev.ev.Props.Get(ical.PropOrganizer); p != nil {
		inv.OrganizerName = p.Params.Get(ical.ParamCommonName)
	}
	status, _ := ev.ev.Props.Text(ical.PropStatus)
	inv.Cancelled = strings.EqualFold(status, "CANCELLED")
	if p := ev.ev.Props.Get(ical.PropDateTimeStart); p != nil {
		if t, _, err := newZones(ev.cal).dateTime(p); err == nil {
			inv.Start = t
			inv.AllDay = p.ValueType() == ical.ValueDate || len(p.Value) == 8
		}
	}
	return inv
}

// Respond sets m's own PARTSTAT (ACCEPTED, DECLINED or TENTATIVE) in
// resource name of calendar slug, an event m is invited to, if it is
// still the version etag; the organiser hears of it as from a CalDAV
// client's change (Put; RFC 6638 section 3.2.2.1): a member organiser's
// copy at once, an outside one by a REPLY mail.
func (s *Store) Respond(ctx context.Context, m Member, slug, name, etag, partStat string) error {
	if partStat != PartStatAccepted && partStat != PartStatDeclined && partStat != PartStatTentative {
		return fmt.Errorf("%w: PARTSTAT %q", ErrITIP, partStat)
	}
	r, err := s.Get(ctx, m, slug, name)
	if err != nil {
		return err
	}
	ev, err := decodeScheduled(r.Data)
	if err != nil {
		return ErrNotFound
	}
	me := strings.ToLower(m.Login)
	if _, ok := ev.p.Attendee(me); !ok || ev.p.Organizer == me {
		return ErrNotFound
	}
	setPartStat(ev.cal, me, partStat)
	o, err := Analyse(ev.cal)
	if err != nil {
		return err
	}
	_, _, err = s.Put(ctx, m, slug, name, o, Cond{IfMatch: etag})
	return err
}
