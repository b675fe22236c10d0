package webmail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/store"
)

// maxPending bounds the mailboxes one stream remembers as changed between
// two events; past it the event says "everything changed".
const maxPending = 64

// boxEvent is one mailbox's counters in a change event.
type boxEvent struct {
	ID       int64  `json:"id"`
	Unseen   uint32 `json:"unseen"`
	Messages uint32 `json:"messages"`
}

// changeEvent is the data of a "change" event.
type changeEvent struct {
	All   bool       `json:"all,omitempty"` // more changed than listed: reload
	Boxes []boxEvent `json:"boxes"`
}

// pending collects the ids of the account's mailboxes that changed since
// the last event, from the store's change bus; wake has a value while
// there is something to send.
type pending struct {
	mu   sync.Mutex
	ids  map[int64]bool
	all  bool
	wake chan struct{}
}

// add is the change bus's subscriber: it must not block, and does not.
func (p *pending) add(c store.Change) {
	p.mu.Lock()
	if len(p.ids) < maxPending {
		p.ids[c.MailboxID] = true
	} else {
		p.all = true
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns and forgets what changed.
func (p *pending) take() ([]int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := slices.Sorted(maps.Keys(p.ids))
	all := p.all
	clear(p.ids)
	p.all = false
	return ids, all
}

// events streams the account's mailbox changes as server-sent events
// (HTML Living Standard section 9.2): an event "change" whose data lists
// the changed mailboxes with their counters, and a comment every
// Heartbeat. The stream is registered with the revocation bus under the
// web session: revoking the session or the account ends it at once, as
// it cuts IMAP and WebDAV connections. It costs one goroutine, one bus
// subscription and a small map, as an IMAP IDLE does.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx, release := h.d.Accounts.ConnectSession(r.Context(), sess)
	defer release()
	if ctx.Err() != nil {
		iweb.Error(w, r, http.StatusUnauthorized)
		return
	}
	p := &pending{ids: map[int64]bool{}, wake: make(chan struct{}, 1)}
	acct := sess.Account.ID
	roles := h.roleOwners(ctx, acct) // shared.go
	unsubscribe := h.d.Changes.Subscribe(func(c store.Change) {
		switch {
		case c.Kind == store.ChangeGrants:
			if c.AccountID == acct {
				p.addAll()
			}
		case c.AccountID == acct || roles[c.AccountID]:
			p.add(c)
		}
	})
	defer unsubscribe()

	d := iweb.NewDeadlines(ctx, w)
	defer d.Stop()
	out := iweb.SlideWrites(d, w)
	rc := http.NewResponseController(out)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(out, "retry: 10000\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(h.d.Heartbeat)
	defer tick.Stop()
	for {
		var err error
		// A stream reads no body, but the connection's read deadline
		// (ReadTimeout) would end it: each write moves it too.
		d.Reading()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, err = io.WriteString(out, ": ping\n\n")
		case <-p.wake:
			err = h.sendChange(ctx, out, acct, p)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// sendChange writes one "change" event with the counters of the changed
// mailboxes (a mailbox deleted meanwhile is left out).
func (h *Handler) sendChange(ctx context.Context, w io.Writer, acct int64, p *pending) error {
	ids, all := p.take()
	ev := changeEvent{All: all, Boxes: []boxEvent{}}
	for _, id := range ids {
		mb, err := h.d.Store.AccountMailbox(ctx, acct, id)
		if err != nil {
			continue
		}
		ev.Boxes = append(ev.Boxes, boxEvent{ID: mb.ID, Unseen: mb.Unseen, Messages: mb.Messages})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
	return err
}
