package imap

import (
	"context"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/store"
)

// mailboxState is the live state of one mailbox that at least one session
// has selected: its UIDs in order (sequence number i+1 is uids[i]) and the
// go-imap tracker that carries updates to every session viewing it.
// uids and the tracker's message count change together, under mu.
type mailboxState struct {
	id      int64
	mu      sync.Mutex
	uids    []imap.UID
	tracker *imapserver.MailboxTracker
	refs    int // guarded by the manager's mu
}

// seqOf returns the mailbox sequence number of uid (0 if absent). mu held.
func (m *mailboxState) seqOf(uid imap.UID) uint32 {
	i, ok := slices.BinarySearch(m.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i) + 1
}

// manager shares mailboxState between the sessions of a server and applies
// the store's change announcements to them.
type manager struct {
	store *store.Store
	mu    sync.Mutex
	boxes map[int64]*mailboxState
}

func newManager(st *store.Store) *manager {
	return &manager{store: st, boxes: map[int64]*mailboxState{}}
}

// acquire returns the live state of a mailbox, loading it on first use.
// release must be called when the session unselects it.
func (m *manager) acquire(ctx context.Context, mailboxID int64) (*mailboxState, error) {
	m.mu.Lock()
	if ms, ok := m.boxes[mailboxID]; ok {
		ms.refs++
		m.mu.Unlock()
		return ms, nil
	}
	m.mu.Unlock()
	// Load outside the manager lock, then register unless someone raced us.
	uids, err := m.store.UIDs(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms, ok := m.boxes[mailboxID]; ok {
		ms.refs++
		return ms, nil
	}
	ms := &mailboxState{id: mailboxID, uids: uids, tracker: imapserver.NewMailboxTracker(uint32(len(uids))), refs: 1}
	m.boxes[mailboxID] = ms
	return ms, nil
}

func (m *manager) release(ms *mailboxState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms.refs--; ms.refs <= 0 {
		delete(m.boxes, ms.id)
	}
}

func (m *manager) lookup(mailboxID int64) *mailboxState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.boxes[mailboxID]
}

// onChange applies a committed store change to the live mailbox, if any
// session has it selected.
func (m *manager) onChange(c store.Change) {
	ms := m.lookup(c.MailboxID)
	if ms == nil {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	switch c.Kind {
	case store.ChangeAppend:
		// Announcements of concurrent appends can arrive out of order; new
		// messages must still get sequence numbers in UID order. So read
		// what is new after the highest UID known, whichever call comes first.
		var after imap.UID
		if n := len(ms.uids); n > 0 {
			after = ms.uids[n-1]
		}
		newUIDs, err := m.store.UIDsAfter(context.Background(), ms.id, after)
		if err != nil {
			return // the next change or SELECT catches up
		}
		for _, u := range newUIDs {
			ms.uids = append(ms.uids, u)
			// One message at a time: the tracker maps sequence numbers
			// correctly only for increments of one.
			ms.tracker.QueueNumMessages(uint32(len(ms.uids)))
		}
	case store.ChangeExpunge:
		// Highest first, so that each sequence number is valid when queued.
		for i := len(c.UIDs) - 1; i >= 0; i-- {
			seq := ms.seqOf(c.UIDs[i])
			if seq == 0 {
				continue
			}
			ms.uids = slices.Delete(ms.uids, int(seq-1), int(seq))
			ms.tracker.QueueExpungeUID(seq, c.UIDs[i]) // VANISHED under QRESYNC
		}
	case store.ChangeFlags:
		source, _ := c.Origin.(*imapserver.SessionTracker)
		for i, uid := range c.UIDs {
			if seq := ms.seqOf(uid); seq != 0 && i < len(c.Flags) {
				ms.tracker.QueueMessageFlagsModSeq(seq, uid, c.Flags[i], c.ModSeq, source)
			}
		}
	}
}
