package calendar

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/msgview"
)

// MaxIMIPMessage bounds the mail Delivered reads for an iTIP part: an
// invitation is a few kilobytes; a larger message is mail, not iMIP.
const MaxIMIPMessage = 4 << 20

// Delivered takes an iMIP message (RFC 6047) from outside just delivered
// to the INBOX of accounts (mail/submit calls it after the MX's delivery;
// msg is the message as stored, with the MX's Authentication-Results and
// warning). Its first text/calendar part is parsed (ParseITIP) and:
//
//   - a REPLY updates the PARTSTAT of its attendee in the event the
//     recipient organises, only when the attendee's address is the
//     message's From and the sender passed the checks mail is judged by
//     (senderVerified); otherwise it is ignored (and the message shows
//     webmail's warnings);
//   - a REQUEST whose ORGANIZER is the From address and which names the
//     recipient puts the event in their calendar (never over an event
//     that did not come by mail from the same sender), with what the MX
//     found of the sender, which the calendar page shows as webmail
//     does; a CANCEL from that sender marks it cancelled.
//
// Nothing here fails the delivery: the message is in the INBOX already;
// what is ignored is logged with the reason.
func (s *Store) Delivered(ctx context.Context, accounts []int64, msg []byte) {
	if s.sched == nil || len(msg) > MaxIMIPMessage || !mayBeIMIP(msg) {
		return
	}
	in, err := s.readIMIP(msg)
	if err != nil {
		s.log.Info("calendar: iMIP message ignored", "err", err)
		return
	}
	for _, id := range accounts {
		acct, err := s.sched.Accounts.Account(ctx, id)
		if err != nil || acct.State != auth.StateActive {
			continue
		}
		if err := s.takeIMIP(ctx, acct, in); err != nil {
			s.log.Info("calendar: iMIP message ignored", "account", acct.Login, "method", in.it.Method, "from", in.from, "err", err)
		} else {
			s.log.Info("calendar: iMIP message taken", "account", acct.Login, "method", in.it.Method, "from", in.from)
		}
	}
}

// Submitted takes an iMIP REPLY a member sent through submission to
// members (their mail program answered an invitation by mail, RFC 6047
// section 2.2): submission checked that from may send as the message's
// From (mail/submit), so the reply is taken when its one attendee is
// from's own address and the From, and the recipient organises the
// event. Anything else a member sends is mail only: the calendars
// schedule what members store, not what they mail.
func (s *Store) Submitted(ctx context.Context, accounts []int64, from auth.Account, msg []byte) {
	if s.sched == nil || len(msg) > MaxIMIPMessage || !mayBeIMIP(msg) {
		return
	}
	in, err := s.readIMIP(msg)
	if err != nil || in.it.Method != MethodReply {
		return
	}
	a, login := in.it.Attendees[0], strings.ToLower(from.Login)
	if a.Addr != login || in.from != login {
		s.log.Info("calendar: iMIP reply ignored", "from", from.Login, "attendee", a.Addr, "err", ErrSender)
		return
	}
	for _, id := range accounts {
		org, err := s.sched.Accounts.Account(ctx, id)
		if err != nil || org.State != auth.StateActive || strings.ToLower(org.Login) != in.it.Organizer {
			continue
		}
		if err := s.applyReply(ctx, org, in.it.UID, a, in.it.Sequence); err != nil {
			s.log.Info("calendar: iMIP reply ignored", "from", from.Login, "organizer", org.Login, "err", err)
		}
	}
}

// mayBeIMIP reports whether msg names text/calendar anywhere, in any
// case, without copying it: most mail does not, and is not parsed.
func mayBeIMIP(msg []byte) bool {
	want := []byte("text/calendar")
	for i := 0; i+len(want) <= len(msg); i++ {
		if c := msg[i]; (c == 't' || c == 'T') && bytes.EqualFold(msg[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// imipIn is an iMIP message as Delivered reads it.
type imipIn struct {
	it       *ITIP
	from     string // the From address, lower-case
	findings msgview.Findings
}

// errNotIMIP says a message carries no iTIP part.
var errNotIMIP = errors.New("calendar: no text/calendar part")

// readIMIP reads a message's From, the MX's findings (as webmail reads
// them) and its first text/calendar part.
func (s *Store) readIMIP(msg []byte) (imipIn, error) {
	v, err := msgview.ParseBytes(msg, msgview.Options{Hostname: s.sched.Hostname, Directory: s.sched.Directory, MaxBytes: MaxIMIPMessage})
	if err != nil {
		return imipIn{}, err
	}
	if len(v.Header.From) != 1 {
		return imipIn{}, errors.New("calendar: not one From address")
	}
	for _, p := range v.Parts {
		if p.Type != "text/calendar" {
			continue
		}
		if p.Size > MaxObjectSize {
			return imipIn{}, fmt.Errorf("%w: a text/calendar part of %d bytes", ErrTooLarge, p.Size)
		}
		var buf bytes.Buffer
		if _, err := v.WritePart(&buf, p.ID); err != nil {
			return imipIn{}, err
		}
		it, err := ParseITIP(buf.Bytes())
		if err != nil {
			return imipIn{}, err
		}
		return imipIn{it: it, from: strings.ToLower(v.Header.From[0].Addr), findings: v.Findings}, nil
	}
	return imipIn{}, errNotIMIP
}

// ErrSender says an iMIP message does not come from who it speaks for,
// or its sender failed the checks.
var ErrSender = errors.New("calendar: the sender does not match or failed the checks")

// senderVerified reports whether caucus's MX checked the message and
// found nothing to warn about (what webmail shows without a warning),
// and the From domain is authenticated: DMARC passed (SPF or DKIM aligned
// with it, RFC 7489 section 3.1), or, for a domain that publishes no
// DMARC record, a DKIM signature of that domain (or of a parent domain)
// passed. SPF alone does not do for such a domain: the findings do not
// keep which domain it checked.
func senderVerified(f msgview.Findings) bool {
	if !f.Checked || f.Level != msgview.LevelNone && f.Level != msgview.LevelOutside {
		return false
	}
	switch f.DMARC {
	case "pass":
		return true
	case "none":
		return slices.ContainsFunc(f.DKIMDomains, func(d string) bool {
			return d != "" && strings.Contains(d, ".") && (f.FromDomain == d || strings.HasSuffix(f.FromDomain, "."+d))
		})
	}
	return false
}

// takeIMIP applies one iMIP message to the account it was delivered to.
func (s *Store) takeIMIP(ctx context.Context, acct auth.Account, in imipIn) error {
	it := in.it
	login := strings.ToLower(acct.Login)
	switch it.Method {
	case MethodReply:
		a := it.Attendees[0]
		if it.Organizer != login {
			return ErrNotOrganizer
		}
		if a.Addr != in.from || !senderVerified(in.findings) {
			return fmt.Errorf("%w: attendee %s, From %s, DMARC %q, level %s", ErrSender, a.Addr, in.from, in.findings.DMARC, in.findings.Level)
		}
		return s.applyReply(ctx, acct, it.UID, a, it.Sequence)
	case MethodRequest, MethodCancel:
		if it.Organizer != in.from {
			return fmt.Errorf("%w: organiser %s, From %s", ErrSender, it.Organizer, in.from)
		}
		if _, ok := (Parties{Attendees: it.Attendees}).Attendee(login); !ok {
			return errors.New("calendar: the invitation does not name its recipient")
		}
		return s.receiveRequest(ctx, acct, in)
	}
	return ErrITIP
}

// receiveRequest stores the event of a REQUEST or CANCEL from outside in
// acct's calendar with its sender's findings.
func (s *Store) receiveRequest(ctx context.Context, acct auth.Account, in imipIn) error {
	cal := cloneCalendar(in.it.Cal)
	delete(cal.Props, "METHOD")
	if in.it.Method == MethodCancel {
		cal = cancelled(cal)
	}
	calID, name, data, err := s.copyOf(ctx, acct.ID, in.it.UID)
	switch {
	case errors.Is(err, ErrNotFound):
		if in.it.Method == MethodCancel {
			return err
		}
		if calID, err = s.ensure(ctx, "account", acct.ID, PersonalSlug, "Calendar"); err != nil {
			return err
		}
		name = copyName(in.it.UID)
	case err != nil:
		return err
	default:
		if err := s.mayReplace(ctx, calID, in, data); err != nil {
			return err
		}
		if mine, err := decodeScheduled(data); err == nil && in.it.Sequence == mine.p.Sequence {
			if a, ok := mine.p.Attendee(strings.ToLower(acct.Login)); ok {
				setPartStat(cal, a.Addr, a.PartStat)
			}
		}
	}
	o, err := Analyse(cal)
	if err != nil {
		return err
	}
	if _, _, err := s.write(ctx, calID, name, o, Cond{}); err != nil {
		return err
	}
	return s.recordReceived(ctx, calID, in)
}

// mayReplace refuses to let a message change an event that did not come
// by mail from the same sender, or with a SEQUENCE older than the
// stored one (RFC 5546 section 2.1.5).
func (s *Store) mayReplace(ctx context.Context, calID int64, in imipIn, data []byte) error {
	var sender string
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT sender FROM calendar_received WHERE calendar_id = ? AND uid = ?`, calID, in.it.UID).Scan(&sender)
	if errors.Is(err, sql.ErrNoRows) || err == nil && sender != in.from {
		return fmt.Errorf("%w: the event %s did not come by mail from %s", ErrSender, in.it.UID, in.from)
	} else if err != nil {
		return fmt.Errorf("calendar: received: %w", err)
	}
	if mine, err := decodeScheduled(data); err == nil && in.it.Sequence < mine.p.Sequence {
		return ErrStale
	}
	return nil
}

// recordReceived keeps who sent the event and what the MX found.
func (s *Store) recordReceived(ctx context.Context, calID int64, in imipIn) error {
	f := in.findings
	_, err := s.db.Stmts(nil).ExecContext(ctx, `INSERT INTO calendar_received (calendar_id, uid, sender, level, from_domain, claims_to_be, lookalike, forged, warning, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (calendar_id, uid) DO UPDATE SET level = excluded.level, from_domain = excluded.from_domain, claims_to_be = excluded.claims_to_be,
			lookalike = excluded.lookalike, forged = excluded.forged, warning = excluded.warning, received_at = excluded.received_at`,
		calID, in.it.UID, in.from, f.Level.String(), f.FromDomain, f.ClaimsToBe, f.Lookalike, sqlBool(f.Forged), f.Warning, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("calendar: record received: %w", err)
	}
	return nil
}

// Received is what caucus knows of an event that came by mail.
type Received struct {
	Sender string
	// Findings are the MX's findings on the message as stored: Level,
	// FromDomain, ClaimsToBe, Lookalike, Forged, Warning.
	Findings msgview.Findings
}

// ReceivedOf returns how event uid of calendar slug came to m; false
// when it did not come by mail.
func (s *Store) ReceivedOf(ctx context.Context, m Member, slug, uid string) (Received, bool, error) {
	c, err := s.Calendar(ctx, m, slug)
	if err != nil {
		return Received{}, false, err
	}
	return s.receivedIn(ctx, c.ID, uid)
}

// receivedIn is [Store.ReceivedOf] for the calendar of id calID.
func (s *Store) receivedIn(ctx context.Context, calID int64, uid string) (Received, bool, error) {
	var r Received
	var level string
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT sender, level, from_domain, claims_to_be, lookalike, forged, warning FROM calendar_received WHERE calendar_id = ? AND uid = ?`, calID, uid).
		Scan(&r.Sender, &level, &r.Findings.FromDomain, &r.Findings.ClaimsToBe, &r.Findings.Lookalike, &r.Findings.Forged, &r.Findings.Warning)
	if errors.Is(err, sql.ErrNoRows) {
		return Received{}, false, nil
	} else if err != nil {
		return Received{}, false, fmt.Errorf("calendar: received: %w", err)
	}
	r.Findings.Level = levelOf(level)
	return r, true, nil
}

func levelOf(name string) msgview.Level {
	for l := msgview.LevelNone; l <= msgview.LevelDanger; l++ {
		if l.String() == name {
			return l
		}
	}
	return msgview.LevelUnchecked
}
