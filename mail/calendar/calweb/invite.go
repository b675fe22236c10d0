package calweb

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/msgview"
)

// The invitations page (/mail/calendar/invitations): the events of the
// member's own calendars that someone else organises and that name the
// member as an attendee (RFC 5545 section 3.8.4.1), each with buttons to
// accept, decline or answer maybe. An answer is a POST with the CSRF
// token and the entity tag of the version shown (If-Match: a changed
// invitation is not answered unseen); mail/calendar then tells the
// organiser (RFC 6638 implicit scheduling). An invitation that came by
// mail carries the same warnings webmail shows on the mail: who sent it,
// and what caucus's MX found of the sender (a member's name used from
// outside, a look-alike domain, the party's domain unauthenticated).

// Invites is what the invitations page needs of the store
// (*calendar.Store).
type Invites interface {
	Invitations(ctx context.Context, m calendar.Member) ([]calendar.Invitation, error)
	Respond(ctx context.Context, m calendar.Member, slug, name, etag, partStat string) error
	ReceivedOf(ctx context.Context, m calendar.Member, slug, uid string) (calendar.Received, bool, error)
}

// receivedBanner is the findings banner of event uid of calendar slug
// when it came by mail (an invitation from outside), for the event's page;
// nil otherwise, and when the store cannot say (the page still shows).
func (h *Handler) receivedBanner(r *http.Request, sess auth.Session, l *i18n.Localizer, slug, uid string) *msgview.Banner {
	if h.d.Invites == nil || uid == "" {
		return nil
	}
	rcv, ok, err := h.d.Invites.ReceivedOf(r.Context(), memberOf(sess), slug, uid)
	if err != nil {
		h.d.Log.Warn("calendar page: how an event came", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return msgview.FindingsBanner(l, rcv.Findings, cleanLine)
}

// registerInvites adds the invitations page, when the store schedules.
func (h *Handler) registerInvites(user, post func(string, func(http.ResponseWriter, *http.Request, auth.Session))) {
	if h.d.Invites == nil {
		return
	}
	user("GET /mail/calendar/invitations", h.invitations)
	post("POST /mail/calendar/invitations/{cal}/{name}", h.answer)
}

// invitationsPage is the data of the invitations page.
type invitationsPage struct {
	ui.Base
	Invitations []invitationView
}

type invitationView struct {
	calendar.Invitation
	When     string
	From     string // the organiser, for the reader
	Status   string // the member's answer, in words
	Action   string // where the answer posts
	Banner   *msgview.Banner
	ByMail   string // the sender of an invitation that came by mail
	Answered string // the member's PARTSTAT, for the buttons' state
}

func (h *Handler) invitations(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	invs, err := h.d.Invites.Invitations(r.Context(), memberOf(sess))
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := invitationsPage{Base: h.base(r, sess, l, l.T("calinvite.page.title"))}
	if r.URL.Query().Get("n") == "answered" {
		p.Notice = l.T("calinvite.page.answered")
	}
	if r.URL.Query().Get("n") == "conflict" {
		p.Error = l.T("calinvite.page.conflict")
	}
	for _, inv := range invs {
		p.Invitations = append(p.Invitations, invitationViewOf(l, inv))
	}
	h.render(w, r, http.StatusOK, "invite", p)
}

func invitationViewOf(l *i18n.Localizer, inv calendar.Invitation) invitationView {
	v := invitationView{Invitation: inv, Answered: inv.PartStat,
		Action: "/mail/calendar/invitations/" + url.PathEscape(inv.Slug) + "/" + url.PathEscape(inv.Name)}
	v.Summary, v.Location = cleanLine(inv.Summary), cleanLine(inv.Location)
	if v.Summary == "" {
		v.Summary = l.T("calinvite.mail.untitled")
	}
	if inv.AllDay {
		v.When = l.Date(inv.Start)
	} else {
		v.When = l.DateTime(inv.Start)
	}
	v.From = cleanLine(inv.Organizer)
	if name := cleanLine(inv.OrganizerName); name != "" {
		v.From = name + " <" + v.From + ">"
	}
	switch inv.PartStat {
	case calendar.PartStatAccepted:
		v.Status = l.T("calinvite.status.accepted")
	case calendar.PartStatDeclined:
		v.Status = l.T("calinvite.status.declined")
	case calendar.PartStatTentative:
		v.Status = l.T("calinvite.status.tentative")
	default:
		v.Status = l.T("calinvite.status.needs")
	}
	if inv.Received != nil {
		v.ByMail = cleanLine(inv.Received.Sender)
		v.Banner = msgview.FindingsBanner(l, inv.Received.Findings, cleanLine)
	}
	return v
}

// cleanLine is what a page shows of a sender's text: valid UTF-8, no
// control or format character (bidirectional overrides among them),
// space for line breaks, at most 300 runes.
func cleanLine(s string) string {
	s = msgview.CleanText(s) // controls become spaces, format characters go, trimmed
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// answer takes the member's answer to an invitation.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ps := map[string]string{"accept": calendar.PartStatAccepted, "decline": calendar.PartStatDeclined, "tentative": calendar.PartStatTentative}[r.PostFormValue("answer")]
	etag := r.PostFormValue("etag")
	if ps == "" || etag == "" {
		iweb.Error(w, r, http.StatusBadRequest)
		return
	}
	err := h.d.Invites.Respond(r.Context(), memberOf(sess), r.PathValue("cal"), r.PathValue("name"), etag, ps)
	switch {
	case errors.Is(err, calendar.ErrPrecondition):
		http.Redirect(w, r, "/mail/calendar/invitations?n=conflict", http.StatusSeeOther)
	case err != nil:
		h.storeError(w, r, err)
	default:
		http.Redirect(w, r, "/mail/calendar/invitations?n=answered", http.StatusSeeOther)
	}
}
