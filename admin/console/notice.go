package console

import (
	"net/http"
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
	at                  time.Time
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
