package calendar

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/internal/i18n"
)

// MaxRcptsPerMail is how many attendees one iMIP message is addressed
// to; more get further copies (mail/submit's default per message).
const MaxRcptsPerMail = 50

// mailITIP mails an iTIP message (RFC 6047) from member m to the
// addresses to: one message for the members (its text names the
// invitations page) and one for the others, each to at most
// MaxRcptsPerMail. A failure is logged.
func (s *Store) mailITIP(ctx context.Context, m Member, to []string, method string, ev scheduled, isNew bool) {
	if ev.cal == nil || len(to) == 0 {
		return
	}
	from, err := s.sched.Accounts.Account(ctx, m.ID)
	if err != nil {
		s.log.Warn("calendar: iMIP not sent", "from", m.Login, "err", err)
		return
	}
	var members, others []string
	for _, addr := range to {
		if _, ok := s.member(ctx, addr); ok {
			members = append(members, addr)
		} else {
			others = append(others, addr)
		}
	}
	for _, group := range []struct {
		to       []string
		toMember bool
	}{{members, true}, {others, false}} {
		for rcpts := range slices.Chunk(group.to, MaxRcptsPerMail) {
			msg, err := s.composeIMIP(from, rcpts, method, ev, isNew, group.toMember)
			if err != nil {
				s.log.Warn("calendar: iMIP not composed", "from", m.Login, "err", err)
				return
			}
			if err := s.sched.Mailer.SendAs(ctx, from, rcpts, msg); err != nil {
				s.log.Warn("calendar: iMIP not sent", "from", m.Login, "rcpts", len(rcpts), "method", method, "err", err)
				return
			}
			s.log.Info("calendar: iMIP sent", "from", m.Login, "rcpts", len(rcpts), "method", method)
		}
	}
}

// composeIMIP writes an iMIP message (RFC 6047 section 2): a
// multipart/alternative of a text part in the sender's language (else
// the party's) and the iTIP object as text/calendar with its method
// parameter (section 2.4), base64 so that no line is too long for SMTP.
func (s *Store) composeIMIP(from auth.Account, to []string, method string, ev scheduled, isNew, toMember bool) ([]byte, error) {
	data, err := encodeITIP(ev.cal, method, s.now())
	if err != nil {
		return nil, err
	}
	p := s.sched.Party
	l := i18n.Builtin().Localizer(cmp.Or(from.Language, p.Language), p.TimeZone)
	subject, body := s.imipText(l, from, method, ev, isNew, toMember)

	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("Date", s.now().Format(time.RFC1123Z))
	h("From", headertext.Mailbox(oneLine(from.DisplayName), from.Login))
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = (&mail.Address{Address: a}).String()
	}
	h("To", strings.Join(tos, ",\r\n "))
	h("Subject", headertext.Unstructured("Subject", oneLine(subject)))
	h("Message-ID", "<imip."+rand.Text()+"@"+from.Login[strings.LastIndexByte(from.Login, '@')+1:]+">")
	h("MIME-Version", "1.0")
	h("Content-Language", l.Lang())
	mw := multipart.NewWriter(&buf)
	// Folded: the boundary (60 characters) makes the field 108.
	h("Content-Type", "multipart/alternative;\r\n boundary=\""+mw.Boundary()+`"`)
	buf.WriteString("\r\n")
	tp, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {`text/plain; charset="utf-8"`}, "Content-Transfer-Encoding": {"quoted-printable"}})
	if err != nil {
		return nil, err
	}
	qp := quotedprintable.NewWriter(tp)
	if _, err := io.WriteString(qp, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	cp, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/calendar; charset="utf-8"; method=` + method},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		io.WriteString(cp, enc[:76]+"\r\n")
		enc = enc[76:]
	}
	io.WriteString(cp, enc+"\r\n")
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imipText is the subject and the readable text of an iMIP message.
func (s *Store) imipText(l *i18n.Localizer, from auth.Account, method string, ev scheduled, isNew, toMember bool) (subject, body string) {
	title, _ := ev.ev.Props.Text(ical.PropSummary)
	title = oneLine(title)
	if title == "" {
		title = l.T("calinvite.mail.untitled")
	}
	name := oneLine(cmp.Or(from.DisplayName, from.Login))
	var subjKey, lineKey string
	switch method {
	case MethodRequest:
		subjKey, lineKey = i18n.Key("calinvite.mail.subject_update"), i18n.Key("calinvite.mail.updated")
		if isNew {
			subjKey, lineKey = i18n.Key("calinvite.mail.subject_new"), i18n.Key("calinvite.mail.invites")
		}
	case MethodCancel:
		subjKey, lineKey = i18n.Key("calinvite.mail.subject_cancel"), i18n.Key("calinvite.mail.cancelled")
	default:
		subjKey, lineKey = replyKeys(ev)
	}
	lines := []string{l.T(lineKey, "name", name, "title", title)} // i18n:keyed
	if when := eventWhen(l, ev); when != "" {
		lines = append(lines, l.T("calinvite.mail.when", "when", when))
	}
	if place, _ := ev.ev.Props.Text(ical.PropLocation); strings.TrimSpace(place) != "" {
		lines = append(lines, l.T("calinvite.mail.where", "place", oneLine(place)))
	}
	if method == MethodRequest {
		lines = append(lines, "")
		if toMember && s.sched.PageURL != "" {
			lines = append(lines, l.T("calinvite.mail.answer_page", "url", s.sched.PageURL))
		} else {
			lines = append(lines, l.T("calinvite.mail.answer_client"))
		}
	}
	lines = append(lines, "", "-- ", l.T("calinvite.mail.footer", "party", s.sched.Party.DisplayName()))
	return l.T(subjKey, "title", title), strings.Join(lines, "\n") + "\n" // i18n:keyed
}

// replyKeys are the subject's and the line's keys of a REPLY, by the one
// attendee's PARTSTAT.
func replyKeys(ev scheduled) (string, string) {
	ps := ""
	if len(ev.p.Attendees) == 1 {
		ps = ev.p.Attendees[0].PartStat
	}
	switch ps {
	case PartStatAccepted:
		return i18n.Key("calinvite.mail.subject_accepted"), i18n.Key("calinvite.mail.accepted")
	case PartStatDeclined:
		return i18n.Key("calinvite.mail.subject_declined"), i18n.Key("calinvite.mail.declined")
	case PartStatTentative:
		return i18n.Key("calinvite.mail.subject_tentative"), i18n.Key("calinvite.mail.tentative")
	}
	return i18n.Key("calinvite.mail.subject_reply"), i18n.Key("calinvite.mail.replied")
}

// eventWhen is the start of an event for a reader: its day for an
// all-day event, else the time in the localizer's zone; "" if unreadable.
func eventWhen(l *i18n.Localizer, ev scheduled) string {
	p := ev.ev.Props.Get(ical.PropDateTimeStart)
	if p == nil {
		return ""
	}
	t, _, err := newZones(ev.cal).dateTime(p)
	if err != nil {
		return ""
	}
	if p.ValueType() == ical.ValueDate || len(p.Value) == 8 {
		return l.Date(time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, l.Location()))
	}
	return l.DateTime(t)
}

// oneLine is s with every control character a space: what a header or a
// line of the text may hold of what a sender wrote.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD")))
}
