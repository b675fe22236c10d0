package imapserver

import (
	"context"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/mail/store"
)

// recentTracker approximates IMAP4rev1's \Recent flag (RFC 3501 2.3.2),
// which IMAP4rev2 dropped and caucus does not store. RFC 3501 lets a
// server approximate it; caucus's rule:
//
//   - Per mailbox, the server remembers a boundary UID: the UIDNEXT that
//     the last read-write SELECT of the mailbox saw, by any session. A
//     message is recent for a session if its UID is at least the boundary
//     that held when the session selected the mailbox. A read-write SELECT
//     moves the boundary to the mailbox's UIDNEXT (those messages stop
//     being recent for later sessions); EXAMINE leaves it (RFC 3501
//     6.3.2). Closing a read-write selection moves it past the messages
//     that arrived while it was open.
//   - Until a mailbox has been selected since the server started, its
//     boundary is its first message delivered or appended since the start.
//   - Messages that arrive while two sessions have the mailbox selected
//     are recent for both (RFC 3501 allows this approximation).
//   - A session learns the new count (RECENT response, RFC 3501 7.3.2)
//     after the EXISTS at the end of a command; during IDLE it gets the
//     EXISTS only.
//
// The boundaries live in memory only, one UID per mailbox selected since
// the start: a restart forgets them, and only what arrived after the
// restart is recent again.
type recentTracker struct {
	store   *store.Store
	started time.Time

	mu       sync.Mutex
	boundary map[int64]imap.UID
}

func newRecentTracker(st *store.Store, now time.Time) *recentTracker {
	return &recentTracker{store: st, started: now, boundary: map[int64]imap.UID{}}
}

// from returns the mailbox's boundary, working it out (once: a scan of
// the mailbox) if not known. What it works out stays right: messages that
// arrive later get higher UIDs.
func (r *recentTracker) from(ctx context.Context, mb store.Mailbox) (imap.UID, error) {
	r.mu.Lock()
	b, ok := r.boundary[mb.ID]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := r.store.FirstSince(ctx, mb.ID, r.started, mb.UIDNext)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if known, ok := r.boundary[mb.ID]; ok {
		return known, nil // a SELECT got there first
	}
	r.boundary[mb.ID] = b
	return b, nil
}

// claim returns the boundary for a session selecting mb and, for a
// read-write selection, moves it to uidNext.
func (r *recentTracker) claim(ctx context.Context, mb store.Mailbox, uidNext imap.UID, readOnly bool) (imap.UID, error) {
	b, err := r.from(ctx, mb)
	if err != nil || readOnly {
		return b, err
	}
	r.advance(mb.ID, uidNext)
	return b, nil
}

// advance moves the mailbox's boundary up to uidNext.
func (r *recentTracker) advance(mailboxID int64, uidNext imap.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uidNext > r.boundary[mailboxID] {
		r.boundary[mailboxID] = uidNext
	}
}

// count returns the number of recent messages of mb for STATUS RECENT: as
// a session selecting it now would see them.
func (r *recentTracker) count(ctx context.Context, mb store.Mailbox) (uint32, error) {
	b, err := r.from(ctx, mb)
	if err != nil {
		return 0, err
	}
	if b >= mb.UIDNext {
		return 0, nil
	}
	return r.store.CountFrom(ctx, mb.ID, b)
}

// forget drops a deleted mailbox's boundary.
func (r *recentTracker) forget(mailboxID int64) {
	r.mu.Lock()
	delete(r.boundary, mailboxID)
	r.mu.Unlock()
}
