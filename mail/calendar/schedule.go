package calendar

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// Scheduling (RFC 6638 section 3.2, implicit scheduling; iTIP, RFC 5546,
// carried by mail, iMIP, RFC 6047).
//
// The server schedules, not the client: when a member stores an event
// whose ORGANIZER is their own address and which names ATTENDEEs, the
// store, once the write is committed,
//
//   - puts a copy in the calendar of every attendee who is a member (the
//     calendar holding that UID already, else their personal one) and
//     mails them the invitation (METHOD:REQUEST) to their INBOX;
//   - mails every other attendee the invitation (RFC 6047: a text part
//     in the organiser's language and a text/calendar part), through
//     mail/submit, the one send path (DKIM-signed, queued);
//   - mails again, and updates the copies, when the event changes
//     (its time, place, title, rule, status or SEQUENCE) or an attendee
//     is added, and cancels (METHOD:CANCEL) for an attendee removed or
//     an event deleted.
//
// When an attendee who is a member changes their own PARTSTAT (their
// client, or the calendar page's buttons), the organiser's copy takes it
// at once if the organiser is a member; else a REPLY is mailed to the
// organiser. A REPLY by mail from outside is taken by Delivered.
//
// The subset of RFC 6638: calendar-auto-schedule is advertised; no
// schedule-inbox or schedule-outbox collection, no SCHEDULE-STATUS, no
// free-busy by POST; SCHEDULE-AGENT=CLIENT or NONE on an attendee or the
// organiser is honoured (section 7.1: the server leaves them alone); only mailto: calendar users,
// matched to members by their login; events (VEVENT) only.

// Mailer sends a message caucus writes for a member: DKIM-signed,
// delivered to the party's addresses, queued for others, and counted
// against the member's hourly sending limit as a message they submit
// (*submit.Service): invitations are no way around it.
type Mailer interface {
	SendAs(ctx context.Context, acct auth.Account, to []string, msg []byte) error
}

// Accounts is what scheduling needs of auth (*auth.Service).
type Accounts interface {
	Account(ctx context.Context, id int64) (auth.Account, error)
	AccountByLogin(ctx context.Context, login string) (auth.Account, error)
}

// Scheduling is what the store needs to schedule events.
type Scheduling struct {
	Accounts Accounts
	Mailer   Mailer
	Party    ui.Party // its name, language and time zone for the mails
	// PageURL is the invitations page, named in the mails to members
	// ("https://host/mail/calendar/invitations"); "" names none.
	PageURL string
	// Hostname is the MX's authserv-id and Directory the party's names
	// and domains: Delivered reads a message's findings with them as
	// webmail does (mail/msgview).
	Hostname  string
	Directory msgauth.Directory
}

// SetScheduling turns scheduling on. Call it before the store serves.
func (s *Store) SetScheduling(sc Scheduling) { s.sched = &sc }

// Schedules reports whether scheduling is on.
func (s *Store) Schedules() bool { return s.sched != nil }

// dataOf returns the data of resource name of calendar calID, nil if
// there is none or scheduling is off (no need to know).
func (s *Store) dataOf(ctx context.Context, calID int64, name string) []byte {
	if s.sched == nil {
		return nil
	}
	var data []byte
	if err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT data FROM calendar_objects WHERE calendar_id = ? AND name = ?`, calID, name).Scan(&data); err != nil {
		return nil
	}
	return data
}

// scheduled is an event as scheduling sees it: its calendar, master
// VEVENT and parties.
type scheduled struct {
	cal *ical.Calendar
	ev  *ical.Component
	uid string
	p   Parties
}

// readScheduled reads the event of data (nil: none); errNotScheduled for
// anything but an event with an organiser.
func readScheduled(cal *ical.Calendar) (scheduled, error) {
	if cal == nil {
		return scheduled{}, errNotScheduled
	}
	ev := MasterEvent(cal)
	if ev == nil {
		return scheduled{}, errNotScheduled
	}
	p, err := ReadParties(ev)
	if err != nil {
		return scheduled{}, err
	}
	if p.Organizer == "" {
		return scheduled{}, errNotScheduled
	}
	uid, _ := ev.Props.Text(ical.PropUID)
	return scheduled{cal: cal, ev: ev, uid: uid, p: p}, nil
}

func decodeScheduled(data []byte) (scheduled, error) {
	if data == nil {
		return scheduled{}, errNotScheduled
	}
	cal, err := Decode(data)
	if err != nil {
		return scheduled{}, err
	}
	return readScheduled(cal)
}

// beforePut returns o as it is stored: when member m organises it, has
// changed it significantly for its attendees since old and not raised
// its SEQUENCE, with SEQUENCE raised (RFC 5546 section 2.1.4: the
// organiser does, and attendees' clients tell an update by it).
func (s *Store) beforePut(m Member, old []byte, o *Object) *Object {
	if s.sched == nil || o.Component != ical.CompEvent || old == nil {
		return o
	}
	cur, err := readScheduled(o.Cal)
	if err != nil || cur.p.Organizer != strings.ToLower(m.Login) || len(cur.p.Attendees) == 0 {
		return o
	}
	prev, err := decodeScheduled(old)
	if err != nil || cur.p.Sequence > prev.p.Sequence || !significantChange(prev.ev, cur.ev) {
		return o
	}
	cal := cloneCalendar(o.Cal)
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			c.Props.Set(&ical.Prop{Name: ical.PropSequence, Params: ical.Params{}, Value: strconv.Itoa(prev.p.Sequence + 1)})
		}
	}
	next, err := Analyse(cal)
	if err != nil {
		return o
	}
	return next
}

// afterPut schedules what member m just stored (o), old being the
// resource's data before (nil: new). Failures are logged: the write is
// committed, and a mail that cannot be sent must not undo it.
func (s *Store) afterPut(ctx context.Context, m Member, old []byte, o *Object) {
	if s.sched == nil || o.Component != ical.CompEvent {
		return
	}
	cur, err := readScheduled(o.Cal)
	if err != nil {
		return
	}
	prev, _ := decodeScheduled(old)
	me := strings.ToLower(m.Login)
	if cur.p.Organizer == me {
		s.organize(ctx, m, prev, cur)
		return
	}
	a, ok := cur.p.Attendee(me)
	if !ok {
		return
	}
	if b, ok := prev.p.Attendee(me); ok && b.PartStat == a.PartStat {
		return
	}
	s.reply(ctx, m, cur, a)
}

// afterDelete cancels the event member m deleted, if m organised it.
func (s *Store) afterDelete(ctx context.Context, m Member, old []byte) {
	if s.sched == nil {
		return
	}
	prev, err := decodeScheduled(old)
	if err != nil {
		return
	}
	me := strings.ToLower(m.Login)
	if prev.p.Organizer != me {
		// An attendee who deletes an invitation declines it (RFC 6638
		// section 3.2.2.3), unless it was cancelled or declined.
		status, _ := prev.ev.Props.Text(ical.PropStatus)
		if a, ok := prev.p.Attendee(me); ok && a.PartStat != PartStatDeclined && !strings.EqualFold(status, "CANCELLED") {
			a.PartStat = PartStatDeclined
			setPartStat(prev.cal, me, PartStatDeclined)
			s.reply(ctx, m, prev, a)
		}
		return
	}
	var gone []Attendee
	for _, a := range prev.p.Attendees {
		if a.Addr != prev.p.Organizer && !a.ByClient {
			gone = append(gone, a)
		}
	}
	s.cancelFor(ctx, m, prev, gone)
}

// organize sends the organiser's event to its attendees (see
// Scheduling): copies for members, mail for all when it is new to them
// or changed, a cancellation for who was removed.
func (s *Store) organize(ctx context.Context, m Member, prev, cur scheduled) {
	changed := prev.ev == nil || significantChange(prev.ev, cur.ev)
	var invited, updated []string
	for _, a := range cur.p.Attendees {
		if a.Addr == cur.p.Organizer || a.ByClient {
			continue
		}
		_, known := prev.p.Attendee(a.Addr)
		if acct, ok := s.member(ctx, a.Addr); ok {
			if err := s.deliverCopy(ctx, acct, cur.cal); err != nil {
				s.log.Warn("calendar: invitation not put in the attendee's calendar", "organizer", m.Login, "attendee", a.Addr, "err", err)
			}
		}
		switch {
		case !known:
			invited = append(invited, a.Addr)
		case changed:
			updated = append(updated, a.Addr)
		}
	}
	if status, _ := cur.ev.Props.Text(ical.PropStatus); strings.EqualFold(status, "CANCELLED") {
		// Cancelled by its status rather than deleted (RFC 5546
		// section 3.2.5): a CANCEL to those who knew it, nothing to
		// those who did not.
		s.mailITIP(ctx, m, updated, MethodCancel, cur, false)
	} else {
		s.mailITIP(ctx, m, invited, MethodRequest, cur, true)
		s.mailITIP(ctx, m, updated, MethodRequest, cur, false)
	}
	var gone []Attendee
	for _, a := range prev.p.Attendees {
		if _, still := cur.p.Attendee(a.Addr); !still && a.Addr != cur.p.Organizer && !a.ByClient {
			gone = append(gone, a)
		}
	}
	s.cancelFor(ctx, m, prev, gone)
}

// significantChange reports whether an attendee should hear of a change
// from a to b: its time, rule, title, place, status or SEQUENCE.
func significantChange(a, b *ical.Component) bool {
	for _, name := range []string{ical.PropDateTimeStart, ical.PropDateTimeEnd, ical.PropDuration, ical.PropRecurrenceRule,
		ical.PropSummary, ical.PropLocation, ical.PropStatus, ical.PropSequence} {
		if propText(a, name) != propText(b, name) {
			return true
		}
	}
	return false
}

func propText(c *ical.Component, name string) string {
	var vs []string
	for _, p := range c.Props.Values(name) {
		vs = append(vs, p.Value+"|"+p.Params.Get(ical.ParamTimezoneID))
	}
	return strings.Join(vs, "\n")
}

// cancelFor tells the attendees gone that the event is cancelled for
// them: a member's copy gets STATUS:CANCELLED, and a CANCEL is mailed
// (RFC 5546 section 3.2.5).
func (s *Store) cancelFor(ctx context.Context, m Member, ev scheduled, gone []Attendee) {
	if len(gone) == 0 {
		return
	}
	cal := cancelled(ev.cal)
	c, _ := readScheduled(cal)
	var to []string
	for _, a := range gone {
		if acct, ok := s.member(ctx, a.Addr); ok {
			if err := s.replaceCopy(ctx, acct, cal); err != nil && !errors.Is(err, ErrNotFound) {
				s.log.Warn("calendar: cancellation not put in the attendee's calendar", "organizer", m.Login, "attendee", a.Addr, "err", err)
			}
		}
		to = append(to, a.Addr)
	}
	s.mailITIP(ctx, m, to, MethodCancel, c, false)
}

// cancelled is a copy of cal with every event STATUS:CANCELLED and its
// SEQUENCE one higher.
func cancelled(cal *ical.Calendar) *ical.Calendar {
	out := cloneCalendar(cal)
	for _, c := range out.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		c.Props.SetText(ical.PropStatus, "CANCELLED")
		seq := 0
		if p := c.Props.Get(ical.PropSequence); p != nil {
			fmt.Sscanf(p.Value, "%d", &seq)
		}
		c.Props.Set(&ical.Prop{Name: ical.PropSequence, Params: ical.Params{}, Value: fmt.Sprint(seq + 1)})
	}
	return out
}

// reply answers the organiser for attendee m, whose PARTSTAT is now
// a.PartStat: a member organiser's copy takes it at once; an outside
// organiser is mailed a REPLY (RFC 5546 section 3.2.3).
func (s *Store) reply(ctx context.Context, m Member, ev scheduled, a Attendee) {
	if ev.p.OrganizerByClient {
		return
	}
	if org, ok := s.member(ctx, ev.p.Organizer); ok {
		if err := s.applyReply(ctx, org, ev.uid, a, ev.p.Sequence); err != nil {
			s.log.Warn("calendar: reply not taken by the organiser's copy", "attendee", m.Login, "organizer", org.Login, "err", err)
		}
		return
	}
	s.mailITIP(ctx, m, []string{ev.p.Organizer}, MethodReply, replyOf(ev, a), false)
}

// replyOf is the REPLY of attendee a to ev: the master event with its
// UID, SEQUENCE, time, ORGANIZER and that one ATTENDEE.
func replyOf(ev scheduled, a Attendee) scheduled {
	cal := ical.NewCalendar()
	for k, v := range ev.cal.Props {
		cal.Props[k] = v
	}
	out := ical.NewComponent(ical.CompEvent)
	for _, name := range []string{ical.PropUID, ical.PropSequence, ical.PropDateTimeStamp, ical.PropDateTimeStart, ical.PropDateTimeEnd,
		ical.PropDuration, ical.PropOrganizer, ical.PropSummary, ical.PropRecurrenceRule} {
		if vs := ev.ev.Props.Values(name); len(vs) > 0 {
			out.Props[name] = vs
		}
	}
	for _, p := range ev.ev.Props.Values(ical.PropAttendee) {
		if addr, ok := mailtoAddr(p.Value); ok && addr == a.Addr {
			q := p
			q.Params = cloneParams(p.Params)
			q.Params.Set(ical.ParamParticipationStatus, a.PartStat)
			out.Props.Add(&q)
		}
	}
	cal.Children = append(cal.Children, out)
	for _, c := range ev.cal.Children {
		if c.Name == ical.CompTimezone {
			cal.Children = append(cal.Children, c)
		}
	}
	r, _ := readScheduled(cal)
	return r
}

// member returns the active account whose login is addr.
func (s *Store) member(ctx context.Context, addr string) (auth.Account, bool) {
	a, err := s.sched.Accounts.AccountByLogin(ctx, addr)
	if err != nil || a.State != auth.StateActive {
		return auth.Account{}, false
	}
	return a, true
}

// copyOf finds the resource of uid among the calendars of account id.
func (s *Store) copyOf(ctx context.Context, accountID int64, uid string) (calID int64, name string, data []byte, err error) {
	err = s.db.Stmts(nil).QueryRowContext(ctx, `SELECT o.calendar_id, o.name, o.data FROM calendar_objects o
		JOIN calendar_calendars c ON c.id = o.calendar_id
		WHERE c.owner_kind = 'account' AND c.owner_id = ? AND o.uid = ? ORDER BY o.calendar_id LIMIT 1`, accountID, uid).Scan(&calID, &name, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil, ErrNotFound
	} else if err != nil {
		return 0, "", nil, fmt.Errorf("calendar: find %s: %w", uid, err)
	}
	return calID, name, data, nil
}

// organizerCopy finds the organiser's event uid: in one of their own
// calendars, else in the calendar of a group they are in and write (an
// event organised in a group's diary).
func (s *Store) organizerCopy(ctx context.Context, org auth.Account, uid string) (calID int64, name string, data []byte, err error) {
	calID, name, data, err = s.copyOf(ctx, org.ID, uid)
	if !errors.Is(err, ErrNotFound) {
		return calID, name, data, err
	}
	gs, err := s.groups.AccountGroups(ctx, org.ID)
	if err != nil {
		return 0, "", nil, fmt.Errorf("calendar: groups of %d: %w", org.ID, err)
	}
	for _, g := range gs {
		err = s.db.Stmts(nil).QueryRowContext(ctx, `SELECT o.calendar_id, o.name, o.data FROM calendar_objects o
			JOIN calendar_calendars c ON c.id = o.calendar_id
			WHERE c.owner_kind = 'group' AND c.owner_id = ? AND c.read_only = 0 AND o.uid = ?`, g.ID, uid).Scan(&calID, &name, &data)
		if err == nil {
			return calID, name, data, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, "", nil, fmt.Errorf("calendar: find %s: %w", uid, err)
		}
	}
	return 0, "", nil, ErrNotFound
}

// deliverCopy stores the organiser's event cal in member acct's calendar
// that holds its UID, else in their personal calendar.
func (s *Store) deliverCopy(ctx context.Context, acct auth.Account, cal *ical.Calendar) error {
	err := s.replaceCopy(ctx, acct, cal)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	o, err := Analyse(cloneCalendar(cal))
	if err != nil {
		return err
	}
	calID, err := s.ensure(ctx, "account", acct.ID, PersonalSlug, "Calendar")
	if err != nil {
		return err
	}
	_, _, err = s.write(ctx, calID, copyName(o.UID), o, Cond{})
	return err
}

// ErrNotYours says a scheduling message names a UID that the attendee's
// calendar holds for another organiser, or for none (their own event):
// it is left alone, else anyone could overwrite a member's event by its
// UID.
var ErrNotYours = errors.New("calendar: the attendee holds this UID for another organiser")

// replaceCopy replaces member acct's copy of the event by cal, if the
// copy has cal's organiser; ErrNotFound when they have none. A copy
// written so is no longer one that came by mail.
func (s *Store) replaceCopy(ctx context.Context, acct auth.Account, cal *ical.Calendar) error {
	next, err := readScheduled(cal)
	if err != nil {
		return err
	}
	calID, name, data, err := s.copyOf(ctx, acct.ID, next.uid)
	if err != nil {
		return err
	}
	if cur, err := decodeScheduled(data); err != nil || cur.p.Organizer != next.p.Organizer {
		return ErrNotYours
	}
	o, err := Analyse(cloneCalendar(cal))
	if err != nil {
		return err
	}
	if _, _, err := s.write(ctx, calID, name, o, Cond{}); err != nil {
		return err
	}
	if _, err := s.db.Stmts(nil).ExecContext(ctx, `DELETE FROM calendar_received WHERE calendar_id = ? AND uid = ?`, calID, next.uid); err != nil {
		return fmt.Errorf("calendar: received: %w", err)
	}
	return nil
}

// copyName is the resource name of an attendee's copy of event uid.
func copyName(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "invite-" + hex.EncodeToString(sum[:12]) + ".ics"
}

// ErrNotOrganizer says a reply names an event its recipient does not
// organise, or an attendee the event does not name.
var ErrNotOrganizer = errors.New("calendar: no such event of this organiser with this attendee")

// applyReply sets the PARTSTAT of attendee a in organiser org's copy of
// event uid (RFC 5546 section 3.2.3), in every VEVENT of it; a REPLY to
// an older SEQUENCE than the copy's is stale and ignored (section 2.1.5).
func (s *Store) applyReply(ctx context.Context, org auth.Account, uid string, a Attendee, seq int) error {
	calID, name, data, err := s.organizerCopy(ctx, org, uid)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotOrganizer, err)
	}
	cur, err := decodeScheduled(data)
	if err != nil || cur.p.Organizer != strings.ToLower(org.Login) {
		return ErrNotOrganizer
	}
	if _, ok := cur.p.Attendee(a.Addr); !ok {
		return ErrNotOrganizer
	}
	if seq < cur.p.Sequence {
		return fmt.Errorf("calendar: a reply to sequence %d of an event at %d: %w", seq, cur.p.Sequence, ErrStale)
	}
	if !slices.Contains([]string{PartStatAccepted, PartStatDeclined, PartStatTentative, PartStatNeedsAction}, a.PartStat) {
		return fmt.Errorf("%w: PARTSTAT %q", ErrITIP, a.PartStat)
	}
	setPartStat(cur.cal, a.Addr, a.PartStat)
	o, err := Analyse(cur.cal)
	if err != nil {
		return err
	}
	_, _, err = s.write(ctx, calID, name, o, Cond{})
	return err
}

// ErrStale says an iTIP message is older than the event it answers.
var ErrStale = errors.New("calendar: stale iTIP message")

// setPartStat sets the PARTSTAT of the attendee of address addr in every
// VEVENT of cal.
func setPartStat(cal *ical.Calendar, addr, ps string) {
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		props := c.Props[ical.PropAttendee]
		for i := range props {
			if a, ok := mailtoAddr(props[i].Value); ok && a == addr {
				props[i].Params = cloneParams(props[i].Params)
				props[i].Params.Set(ical.ParamParticipationStatus, ps)
				props[i].Params.Del("RSVP")
			}
		}
	}
}

// cloneCalendar copies cal deep enough to change its properties and
// parameters without changing cal.
func cloneCalendar(cal *ical.Calendar) *ical.Calendar {
	return &ical.Calendar{Component: cloneComponent(cal.Component)}
}

func cloneComponent(c *ical.Component) *ical.Component {
	out := &ical.Component{Name: c.Name, Props: ical.Props{}}
	for k, vs := range c.Props {
		cp := make([]ical.Prop, len(vs))
		for i, p := range vs {
			cp[i] = ical.Prop{Name: p.Name, Params: cloneParams(p.Params), Value: p.Value}
		}
		out.Props[k] = cp
	}
	for _, ch := range c.Children {
		out.Children = append(out.Children, cloneComponent(ch))
	}
	return out
}

func cloneParams(p ical.Params) ical.Params {
	out := ical.Params{}
	for k, v := range p {
		out[k] = slices.Clone(v)
	}
	return out
}
