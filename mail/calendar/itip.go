package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// iTIP methods caucus sends and takes (RFC 5546 section 1.4).
const (
	MethodRequest = "REQUEST"
	MethodReply   = "REPLY"
	MethodCancel  = "CANCEL"
)

// Participation statuses of an attendee (RFC 5545 section 3.2.12).
const (
	PartStatNeedsAction = "NEEDS-ACTION"
	PartStatAccepted    = "ACCEPTED"
	PartStatDeclined    = "DECLINED"
	PartStatTentative   = "TENTATIVE"
)

// Limits of an iTIP message.
const (
	// MaxAttendees is how many ATTENDEE properties one event may name
	// for caucus to schedule it; a larger event is stored, not sent.
	MaxAttendees = 200
	// MaxAddress bounds a calendar user address (an e-mail address).
	MaxAddress = 254
)

// ErrITIP says an iTIP message (RFC 5546) is malformed or not one caucus
// takes: it wraps ErrInvalid.
var ErrITIP = fmt.Errorf("%w: iTIP", ErrInvalid)

// Attendee is one ATTENDEE of an event (RFC 5545 section 3.8.4.1).
type Attendee struct {
	Addr     string // the e-mail address of its mailto: URI, lower-case
	Name     string // CN, "" if none
	PartStat string // PARTSTAT, NEEDS-ACTION when absent
	// ByClient: SCHEDULE-AGENT is CLIENT or NONE (RFC 6638 section
	// 7.1): the server does not schedule with this attendee.
	ByClient bool
}

// ITIP is a parsed iTIP message (RFC 5546) carrying one event.
type ITIP struct {
	Method    string // REQUEST, REPLY or CANCEL
	UID       string
	Sequence  int
	Organizer string // the ORGANIZER's address, lower-case
	Attendees []Attendee
	Summary   string
	Cal       *ical.Calendar
}

// ParseITIP parses an iTIP message, as an iMIP mail carries it (RFC 6047
// section 2.4: a text/calendar part): at most MaxObjectSize bytes of
// UTF-8, components nested at most MaxDepth, a METHOD of REQUEST, REPLY
// or CANCEL, VEVENTs of one UID with an ORGANIZER (RFC 5546 section
// 3.2), and for a REPLY exactly one ATTENDEE (section 3.2.3).
func ParseITIP(raw []byte) (*ITIP, error) {
	if err := CheckRaw(raw); err != nil {
		return nil, err
	}
	cal, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if cal.Name != ical.CompCalendar {
		return nil, fmt.Errorf("%w: not a VCALENDAR", ErrITIP)
	}
	method, _ := cal.Props.Text(ical.PropMethod)
	method = strings.ToUpper(method)
	if method != MethodRequest && method != MethodReply && method != MethodCancel {
		return nil, fmt.Errorf("%w: METHOD %q is not REQUEST, REPLY or CANCEL", ErrITIP, method)
	}
	ev := MasterEvent(cal)
	if ev == nil {
		return nil, fmt.Errorf("%w: no VEVENT", ErrITIP)
	}
	it := &ITIP{Method: method, Cal: cal}
	if it.UID, err = ev.Props.Text(ical.PropUID); err != nil || it.UID == "" || len(it.UID) > 1024 {
		return nil, fmt.Errorf("%w: a VEVENT without a usable UID", ErrITIP)
	}
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			if uid, _ := c.Props.Text(ical.PropUID); uid != it.UID {
				return nil, fmt.Errorf("%w: two UIDs in one message", ErrITIP)
			}
		}
	}
	p, err := ReadParties(ev)
	if err != nil {
		return nil, err
	}
	if p.Organizer == "" {
		return nil, fmt.Errorf("%w: no ORGANIZER", ErrITIP)
	}
	it.Organizer, it.Attendees, it.Sequence = p.Organizer, p.Attendees, p.Sequence
	if method == MethodReply && len(it.Attendees) != 1 {
		return nil, fmt.Errorf("%w: a REPLY names %d attendees, not one", ErrITIP, len(it.Attendees))
	}
	it.Summary, _ = ev.Props.Text(ical.PropSummary)
	return it, nil
}

// MasterEvent returns the VEVENT of cal without RECURRENCE-ID (the
// master of a recurring event), else its first VEVENT; nil if none.
func MasterEvent(cal *ical.Calendar) *ical.Component {
	var first *ical.Component
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		if c.Props.Get(ical.PropRecurrenceID) == nil {
			return c
		}
		if first == nil {
			first = c
		}
	}
	return first
}

// Parties is who an event names: its organiser and attendees, and its
// SEQUENCE (RFC 5545 section 3.8.7.4).
type Parties struct {
	Organizer string
	// OrganizerByClient: the ORGANIZER's SCHEDULE-AGENT is CLIENT or
	// NONE: the server sends no reply to it.
	OrganizerByClient bool
	Attendees         []Attendee
	Sequence          int
}

// Attendee returns the attendee of address addr, false if none.
func (p Parties) Attendee(addr string) (Attendee, bool) {
	for _, a := range p.Attendees {
		if a.Addr == addr {
			return a, true
		}
	}
	return Attendee{}, false
}

// ReadParties reads the ORGANIZER, ATTENDEEs and SEQUENCE of an event.
// Only mailto: addresses are calendar users caucus schedules with; an
// attendee of another scheme is left out. More than MaxAttendees, or an
// address that is no e-mail address, is ErrITIP.
func ReadParties(ev *ical.Component) (Parties, error) {
	var p Parties
	if prop := ev.Props.Get(ical.PropOrganizer); prop != nil {
		addr, ok := mailtoAddr(prop.Value)
		if !ok {
			return Parties{}, fmt.Errorf("%w: ORGANIZER is no mailto: address", ErrITIP)
		}
		p.Organizer, p.OrganizerByClient = addr, byClient(prop)
	}
	props := ev.Props.Values(ical.PropAttendee)
	if len(props) > MaxAttendees {
		return Parties{}, fmt.Errorf("%w: more than %d attendees", ErrITIP, MaxAttendees)
	}
	for _, prop := range props {
		addr, ok := mailtoAddr(prop.Value)
		if !ok {
			continue
		}
		ps := strings.ToUpper(prop.Params.Get(ical.ParamParticipationStatus))
		if ps == "" {
			ps = PartStatNeedsAction
		}
		p.Attendees = append(p.Attendees, Attendee{Addr: addr, Name: prop.Params.Get(ical.ParamCommonName), PartStat: ps, ByClient: byClient(&prop)})
	}
	if prop := ev.Props.Get(ical.PropSequence); prop != nil {
		n, err := strconv.Atoi(strings.TrimSpace(prop.Value))
		if err != nil || n < 0 {
			return Parties{}, fmt.Errorf("%w: SEQUENCE %q", ErrITIP, prop.Value)
		}
		p.Sequence = n
	}
	return p, nil
}

// byClient reports whether a calendar user's SCHEDULE-AGENT (RFC 6638
// section 7.1) leaves scheduling to the client (CLIENT) or to no one
// (NONE); absent or SERVER, the server schedules.
func byClient(p *ical.Prop) bool {
	a := strings.ToUpper(p.Params.Get("SCHEDULE-AGENT"))
	return a != "" && a != "SERVER"
}

// mailtoAddr returns the e-mail address of a mailto: URI (RFC 6068),
// lower-case; false for another scheme or no single address.
func mailtoAddr(uri string) (string, bool) {
	uri = strings.TrimSpace(uri)
	if len(uri) < 7 || !strings.EqualFold(uri[:7], "mailto:") {
		return "", false
	}
	addr := uri[7:]
	if len(addr) > MaxAddress || strings.ContainsAny(addr, "?,;<> \t") {
		return "", false
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return "", false
	}
	return strings.ToLower(addr), true
}

// encodeITIP is cal with METHOD set, and the DTSTAMP of its events the
// time the message is made, now (RFC 5546 section 3.2: "DTSTAMP" is when
// the iTIP message was created).
func encodeITIP(cal *ical.Calendar, method string, now time.Time) ([]byte, error) {
	c := cloneCalendar(cal)
	c.Props.SetText(ical.PropMethod, method)
	for _, ev := range c.Children {
		if ev.Name == ical.CompEvent {
			ev.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
		}
	}
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("calendar: encode iTIP: %w", err)
	}
	return buf.Bytes(), nil
}

// errNotScheduled says an event is not one caucus schedules.
var errNotScheduled = errors.New("calendar: not a scheduled event")
