package auth

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/caucus-org/caucus/auth/throttle"
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
	ch    *db.Channel
	log   *slog.Logger
}

var _ Revocations = (*ClusterRevocations)(nil)

// NewClusterRevocations returns the revocation bus of node (a name unique
// among the running nodes) on d.
func NewClusterRevocations(d *db.DB, node string, log *slog.Logger) *ClusterRevocations {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClusterRevocations{local: NewHub(), ch: d.Channel(revocationsChannel, node, log), log: log}
}

// wireRevocation is a revocation as it travels between nodes.
type wireRevocation struct {
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
	if err := c.ch.Send(context.Background(), w); err != nil {
		c.log.Error("auth: revocation not sent to the other nodes; their live connections of the account stay open until they reconnect",
			"account", w.AccountID, "op", w.Op, "err", err)
	}
}

// Run receives the other nodes' revocations until ctx is done. ready, if
// not nil, is closed once it listens.
func (c *ClusterRevocations) Run(ctx context.Context, ready chan<- struct{}) error {
	first := true
	return c.ch.Run(ctx, c.receive, func() {
		if first {
			first = false
			return
		}
		n := c.local.revokeAll()
		c.log.Warn("auth: the revocation listener was cut and may have missed revocations; closed every live connection of this node", "connections", n)
	}, ready)
}

// receive applies one revocation from another node.
func (c *ClusterRevocations) receive(body []byte) {
	var w wireRevocation
	if err := json.Unmarshal(body, &w); err != nil || w.AccountID == 0 {
		c.log.Warn("auth: unreadable revocation from another node")
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

// throttlesChannel is the PostgreSQL notification channel of the sign-in
// throttles.
const throttlesChannel = "caucus_throttles"

// ClusterThrottles shares the sign-in throttles of a [Service] with the
// other nodes: each failure and success a node records is sent to the
// others, which record it too, so that a guesser spreading attempts over
// the nodes behind a load balancer waits as long as on one node. Sending
// is asynchronous (a sign-in never waits for it); when the queue is full
// (a flood), the excess is dropped and logged, and each node still
// throttles what it sees itself.
type ClusterThrottles struct {
	limiters map[string]*throttle.Limiter
	ch       *db.Channel
	log      *slog.Logger
}

// wireThrottle is one failure or success as it travels between nodes.
type wireThrottle struct {
	Limiter string   `json:"l"` // "acct" or "addr"
	Failed  bool     `json:"f,omitempty"`
	Keys    []string `json:"k"`
}

// ShareThrottles makes s's sign-in throttles shared with the other nodes
// on d (PostgreSQL); the returned value's Run carries them. Call it before
// s serves sign-ins.
func (s *Service) ShareThrottles(d *db.DB, node string, log *slog.Logger) *ClusterThrottles {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &ClusterThrottles{limiters: map[string]*throttle.Limiter{"acct": s.throttle, "addr": s.addrThrottle},
		ch: d.Channel(throttlesChannel, node, log), log: log}
	for name, l := range c.limiters {
		l.Observe(func(failed bool, keys []string) {
			c.ch.SendAsync(wireThrottle{Limiter: name, Failed: failed, Keys: keys})
		})
	}
	return c
}

// Run sends this node's throttle updates and applies the other nodes'
// until ctx is done.
func (c *ClusterThrottles) Run(ctx context.Context, ready chan<- struct{}) error {
	return c.ch.Run(ctx, c.receive, nil, ready)
}

// receive applies one update from another node.
func (c *ClusterThrottles) receive(body []byte) {
	var w wireThrottle
	if err := json.Unmarshal(body, &w); err != nil {
		c.log.Warn("auth: unreadable throttle update from another node")
		return
	}
	if l := c.limiters[w.Limiter]; l != nil && len(w.Keys) != 0 {
		l.Apply(w.Failed, w.Keys...)
	}
}
