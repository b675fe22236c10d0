package console

import (
	"net/http"

	"github.com/caucus-org/caucus/admin"
	"sync"
	"time"
)

// After every console action the browser is sent to a page (Post/
// Redirect/Get), so that reloading it does not repeat the action; the
// action's outcome travels there as a one-time notice, kept here by
// session until that page shows it.

// Bounds of the notices waiting to be shown.
const (
	noticeTTL = 5 * time.Minute
	noticeMax = 1024
)

// notice is an action's outcome for the next page: words, and a report
// (the steps of a suspension, a revocation) when there is one.
type notice struct {
	Text, Error, Report string
	Link                *linkPage         // a new enrolment link, shown once
	Import              *admin.CSVPreview // an import's outcome and links, shown once
	at                  time.Time
}

// linkPage is the page of a new enrolment link: for whom, and the invite.
type linkPage struct {
	Title  string
	Link   string
	Form   inviteForm
	Invite *admin.InviteResult // nil for a new link of an existing person
}

// showLink ends an action that made an enrolment link: the browser goes
// to the link's page, which shows it once.
func (h *Handler) showLink(w http.ResponseWriter, r *http.Request, lp linkPage, n notice) {
	n.Link = &lp
	h.done(w, r, "/admin/invites/link", n)
}

// linkShown shows the enrolment link an action just made, once: a reload
// finds it gone, and says how to get another.
func (h *Handler) linkShown(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r)
	n, ok := h.notices.take(sess.ID)
	if !ok || n.Link == nil {
		p := page{Base: h.base(r, h.loc(r).T("console.title.link_once"))}
		p.Error = h.loc(r).T("console.msg.link_once")
		h.render(w, r, http.StatusNotFound, "pending", p)
		return
	}
	p := page{Base: h.base(r, n.Link.Title), Link: n.Link.Link, Form: n.Link.Form, Invite: n.Link.Invite}
	p.Notice, p.Error = n.Text, n.Error
	var err error
	if p.QR, err = qrDataURL(p.Link); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "invited", p)
}

// notices hold each session's pending notice, in memory.
type notices struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[int64]notice
}

func newNotices(now func() time.Time) *notices {
	return &notices{now: now, m: map[int64]notice{}}
}

// put keeps n for the session's next page, in place of any earlier one.
func (s *notices) put(session int64, n notice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n.at = now
	if len(s.m) >= noticeMax {
		for id, o := range s.m {
			if now.Sub(o.at) > noticeTTL || len(s.m) >= noticeMax {
				delete(s.m, id)
			}
		}
	}
	s.m[session] = n
}

// take returns the session's notice and forgets it.
func (s *notices) take(session int64) (notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.m[session]
	delete(s.m, session)
	return n, ok && s.now().Sub(n.at) <= noticeTTL
}

// done ends a successful action: its outcome waits for the page at to,
// and the browser goes there.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, to string, n notice) {
	sess, _ := sessionFrom(r)
	h.notices.put(sess.ID, n)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
