package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// revocationsChannel is the PostgreSQL notification channel of the
// revocation bus.
const revocationsChannel = "caucus_revocations"

// ClusterRevocations is the [Revocations] of a node among several on one
// PostgreSQL database: connections are registered with this node's [Hub],
// and every revocation cancels this node's matching connections and is
// sent to the other nodes with NOTIFY, whose [ClusterRevocations.Run]
// cancels theirs. Suspending an account on node A therefore closes its
// IMAP, SMTP, WebDAV and web connections on node B as well.
//
// A revocation is sent after the database change that revokes the
// credential has committed, so a node that receives it and a connection
// that checks the credential afterwards agree. A node whose listener lost
// its connection may have missed revocations: when it is back, it closes
// every live connection it has (clients sign in again, and a revoked
// credential is refused then), rather than keep one that should be gone.
// The counts returned are this node's.
type ClusterRevocations struct {
	local *Hub
	db    *db.DB
	node  string
	log   *slog.Logger
}

var _ Revocations = (*ClusterRevocations)(nil)

// NewClusterRevocations returns the revocation bus of node (a name unique
// among the running nodes) on d.
func NewClusterRevocations(d *db.DB, node string, log *slog.Logger) *ClusterRevocations {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClusterRevocations{local: NewHub(), db: d, node: node, log: log}
}

// wireRevocation is a revocation as it travels between nodes.
type wireRevocation struct {
	Node      string `json:"n"`
	Op        string `json:"o"` // "account", "sessions" or "credential"
	AccountID int64  `json:"a"`
	Cred      string `json:"c,omitempty"`
}

// Epoch returns the account's revocation epoch on this node.
func (c *ClusterRevocations) Epoch(accountID int64) uint64 { return c.local.Epoch(accountID) }

// Register records a live connection on this node; see [Revocations].
func (c *ClusterRevocations) Register(parent context.Context, accountID int64, cred string, epoch uint64) (context.Context, func()) {
	return c.local.Register(parent, accountID, cred, epoch)
}

// Live returns how many connections the account has open on this node.
func (c *ClusterRevocations) Live(accountID int64) int { return c.local.Live(accountID) }

// RevokeAccount cancels the account's connections on every node.
func (c *ClusterRevocations) RevokeAccount(accountID int64) int {
	n := c.local.RevokeAccount(accountID)
	c.send(wireRevocation{Op: "account", AccountID: accountID})
	return n
}

// RevokeSessions cancels the account's web-session connections on every
// node.
func (c *ClusterRevocations) RevokeSessions(accountID int64) int {
	n := c.local.RevokeSessions(accountID)
	c.send(wireRevocation{Op: "sessions", AccountID: accountID})
	return n
}

// RevokeCredential cancels the connections that signed in with cred on
// every node.
func (c *ClusterRevocations) RevokeCredential(accountID int64, cred string) int {
	if cred == "" {
		return 0
	}
	n := c.local.RevokeCredential(accountID, cred)
	c.send(wireRevocation{Op: "credential", AccountID: accountID, Cred: cred})
	return n
}

// send tells the other nodes. The revocation is already in the database;
// a failure here is logged loudly, since another node keeps its
// connections until its clients reconnect.
func (c *ClusterRevocations) send(w wireRevocation) {
	w.Node = c.node
	p, err := json.Marshal(w)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.db.Notify(ctx, revocationsChannel, string(p))
		cancel()
	}
	if err != nil {
		c.log.Error("auth: revocation not sent to the other nodes; their live connections of the account stay open until they reconnect",
			"account", w.AccountID, "op", w.Op, "err", err)
	}
}

// Run receives the other nodes' revocations until ctx is done. ready, if
// not nil, is closed once it listens.
func (c *ClusterRevocations) Run(ctx context.Context, ready chan<- struct{}) error {
	first := true
	return c.db.Listen(ctx, []string{revocationsChannel}, c.receive, func() {
		if first {
			first = false
			return
		}
		n := c.local.revokeAll()
		c.log.Warn("auth: the revocation listener was cut and may have missed revocations; closed every live connection of this node", "connections", n)
	}, ready)
}

// receive applies one revocation from another node.
func (c *ClusterRevocations) receive(_, payload string) {
	var w wireRevocation
	if err := json.Unmarshal([]byte(payload), &w); err != nil || w.AccountID == 0 {
		c.log.Warn("auth: unreadable revocation from another node")
		return
	}
	if w.Node == c.node {
		return
	}
	switch w.Op {
	case "account":
		c.local.RevokeAccount(w.AccountID)
	case "sessions":
		c.local.RevokeSessions(w.AccountID)
	case "credential":
		c.local.RevokeCredential(w.AccountID, w.Cred)
	default:
		c.log.Warn("auth: unknown revocation from another node", "op", w.Op)
	}
}

// revokeAll cancels every live connection of every account and returns
// how many it cancelled.
func (h *Hub) revokeAll() int {
	h.mu.Lock()
	ids := make([]int64, 0, len(h.live))
	for id := range h.live {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += h.RevokeAccount(id)
	}
	return n
}
