package imapserver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/store"
)

// mailboxState is the live state of one mailbox that at least one session
// has selected: its UIDs in order (sequence number i+1 is uids[i]) and the
// go-imap tracker that carries updates to every session viewing it.
// uids and the tracker's message count change together, under mu.
type mailboxState struct {
	id       int64
	mu       sync.Mutex
	uids     []imap.UID
	keywords []string // in use in the mailbox, announced in FLAGS; only grows while selected
	tracker  *imapserver.MailboxTracker
	refs     int // guarded by the manager's mu
}

// maxMailboxKeywords bounds the keywords a mailbox's FLAGS response
// lists (and the server keeps in memory per selected mailbox). Keywords
// past it can still be stored (PERMANENTFLAGS has \*); they are not
// announced.
const maxMailboxKeywords = 500

// systemFlags are the flags every mailbox has (RFC 9051 2.3.2).
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// flags returns the FLAGS of the mailbox: the system flags and the
// keywords in use (RFC 9051 7.3.5). mu held.
func (m *mailboxState) flags() []imap.Flag {
	out := slices.Clone(systemFlags)
	for _, kw := range m.keywords {
		out = append(out, imap.Flag(kw))
	}
	return out
}

// learnKeywords adds the keywords among flags that the mailbox did not
// have yet and reports whether there were any. mu held.
func (m *mailboxState) learnKeywords(flags []imap.Flag) bool {
	added := false
	for _, f := range flags {
		kw := string(f)
		if strings.HasPrefix(kw, `\`) || slices.ContainsFunc(m.keywords, func(k string) bool { return strings.EqualFold(k, kw) }) {
			continue
		}
		if len(m.keywords) >= maxMailboxKeywords {
			break
		}
		m.keywords = append(m.keywords, kw)
		added = true
	}
	return added
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
	store  *store.Store
	recent *recentTracker
	mu     sync.Mutex
	boxes  map[int64]*mailboxState
	// keywords remembers the keywords of mailboxes selected before, with
	// the mailbox's highest modseq when they were read, so that selecting
	// an unchanged mailbox again does not read every message.
	keywords map[int64]keywordsAt
}

// keywordsAt is the keywords of a mailbox as of a modseq.
type keywordsAt struct {
	modseq   uint64
	keywords []string
}

func newManager(st *store.Store) *manager {
	return &manager{store: st, recent: newRecentTracker(st, time.Now()), boxes: map[int64]*mailboxState{}, keywords: map[int64]keywordsAt{}}
}

// acquire returns the live state of a mailbox, loading it on first use.
// release must be called when the session unselects it.
func (m *manager) acquire(ctx context.Context, mb store.Mailbox) (*mailboxState, error) {
	mailboxID := mb.ID
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
	known, ok := m.keywords[mailboxID]
	m.mu.Unlock()
	kws := known.keywords
	if !ok || known.modseq != mb.HighestModSeq {
		// Read after mb: a superset of the keywords as of mb's modseq.
		if kws, err = m.store.Keywords(ctx, mailboxID, maxMailboxKeywords); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keywords[mailboxID] = keywordsAt{modseq: mb.HighestModSeq, keywords: kws}
	if ms, ok := m.boxes[mailboxID]; ok {
		ms.refs++
		return ms, nil
	}
	ms := &mailboxState{id: mailboxID, uids: uids, keywords: slices.Clone(kws), tracker: imapserver.NewMailboxTracker(uint32(len(uids))), refs: 1}
	m.boxes[mailboxID] = ms
	return ms, nil
}

// release ends a session's use of ms.
func (m *manager) release(ms *mailboxState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms.refs--; ms.refs <= 0 {
		delete(m.boxes, ms.id)
	}
}

// forget drops what the manager remembers of a deleted mailbox.
func (m *manager) forget(id int64) {
	m.mu.Lock()
	delete(m.keywords, id)
	m.mu.Unlock()
	m.recent.forget(id)
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
		// New keywords come before the messages that carry them.
		if flags, err := m.store.Flags(context.Background(), ms.id, newUIDs); err == nil {
			added := false
			for _, fl := range flags {
				added = ms.learnKeywords(fl) || added
			}
			if added {
				ms.tracker.QueueMailboxFlags(ms.flags())
			}
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
		added := false
		for _, fl := range c.Flags {
			added = ms.learnKeywords(fl) || added
		}
		if added {
			// Every session, the one that stored the keyword too, learns
			// the new FLAGS (RFC 9051 7.3.5).
			ms.tracker.QueueMailboxFlags(ms.flags())
		}
		for i, uid := range c.UIDs {
			if seq := ms.seqOf(uid); seq != 0 && i < len(c.Flags) {
				ms.tracker.QueueMessageFlagsModSeq(seq, uid, c.Flags[i], c.ModSeq, source)
			}
		}
	}
}
