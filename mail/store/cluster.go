package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/emersion/go-imap/v2"
)

// changesChannel is the PostgreSQL notification channel of the change bus.
const changesChannel = "caucus_changes"

// ClusterChanges is the [Changes] bus of a node among several on one
// PostgreSQL database: a change is handed to this node's subscribers as
// the in-process [Bus] does, and sent to the other nodes with NOTIFY,
// whose [ClusterChanges.Run] hands it to theirs. So a delivery through
// node A reaches an IDLE session on node B, and webmail's live updates
// likewise.
//
// Order: a node's changes reach the others in the order it published
// them (one queue, sent by Run in order; NOTIFY delivers in commit
// order). A change is queued after the transaction that made it
// committed and sent in a statement of its own: a node that stops between
// the two, or whose queue is full, leaves the others without that live
// update (the data is committed; a session sees it when it selects the
// mailbox again). A listener that lost its connection logs it and calls
// the missed function; what was sent meanwhile is not replayed.
type ClusterChanges struct {
	local *Bus
	ch    *db.Channel
	log   *slog.Logger
	// missed is called each time the listener came back after losing
	// its connection (live updates of that window are lost).
	missed func()
}

// NewClusterChanges returns the bus of node (a name unique among the
// running nodes, e.g. random per process) on d. missed, if not nil, is
// called each time the listener came back after a loss.
func NewClusterChanges(d *db.DB, node string, log *slog.Logger, missed func()) *ClusterChanges {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClusterChanges{local: NewBus(), ch: d.Channel(changesChannel, node, log), log: log, missed: missed}
}

// wireChange is a [Change] as it travels between nodes (Origin stays
// home: it names a session of the sending node).
type wireChange struct {
	Kind      ChangeKind    `json:"k"`
	AccountID int64         `json:"a"`
	MailboxID int64         `json:"m,omitempty"`
	UIDs      []imap.UID    `json:"u,omitempty"`
	Flags     [][]imap.Flag `json:"f,omitempty"`
	ModSeq    uint64        `json:"s,omitempty"`
}

// Publish hands c to this node's subscribers, then sends it to the other
// nodes (in several notifications if its UIDs do not fit in one).
func (c *ClusterChanges) Publish(ch Change) {
	c.local.Publish(ch)
	w := wireChange{Kind: ch.Kind, AccountID: ch.AccountID, MailboxID: ch.MailboxID, UIDs: ch.UIDs, Flags: ch.Flags, ModSeq: ch.ModSeq}
	// Queued, not sent here: Publish runs on the writer's goroutine (an
	// IMAP command, a delivery), which need not wait a round trip to
	// PostgreSQL for the other nodes; the queue keeps the order.
	if err := c.send(w); err != nil {
		c.log.Warn("store: change not sent to the other nodes", "kind", int(ch.Kind), "account", ch.AccountID, "err", err)
	}
}

// send sends w, halving its UIDs (and flags) until each part fits.
func (c *ClusterChanges) send(w wireChange) error {
	if c.ch.Fits(w) {
		if !c.ch.SendAsync(w) {
			return fmt.Errorf("the queue to the other nodes is full")
		}
		return nil
	}
	if len(w.UIDs) < 2 {
		return fmt.Errorf("a change too long for one message")
	}
	half := len(w.UIDs) / 2
	first, second := w, w
	first.UIDs, second.UIDs = w.UIDs[:half], w.UIDs[half:]
	if len(w.Flags) == len(w.UIDs) {
		first.Flags, second.Flags = w.Flags[:half], w.Flags[half:]
	}
	if err := c.send(first); err != nil {
		return err
	}
	return c.send(second)
}

// Subscribe adds fn as a listener of this node's and the other nodes'
// changes; see [Changes.Subscribe].
func (c *ClusterChanges) Subscribe(fn func(Change)) (unsubscribe func()) {
	return c.local.Subscribe(fn)
}

// Run receives the other nodes' changes until ctx is done. ready, if not
// nil, is closed once it listens.
func (c *ClusterChanges) Run(ctx context.Context, ready chan<- struct{}) error {
	first := true
	return c.ch.Run(ctx, c.receive, func() {
		if first {
			first = false
			return
		}
		c.log.Warn("store: the change listener was cut; live updates from the other nodes in that time were lost")
		if c.missed != nil {
			c.missed()
		}
	}, ready)
}

// receive hands one change from another node to this node's subscribers.
func (c *ClusterChanges) receive(body []byte) {
	var w wireChange
	if err := json.Unmarshal(body, &w); err != nil {
		c.log.Warn("store: unreadable change from another node", "err", err)
		return
	}
	if len(w.Flags) != 0 && len(w.Flags) != len(w.UIDs) {
		c.log.Warn("store: malformed change from another node")
		return
	}
	c.local.Publish(Change{Kind: w.Kind, AccountID: w.AccountID, MailboxID: w.MailboxID, UIDs: w.UIDs, Flags: w.Flags, ModSeq: w.ModSeq})
}
