package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

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
	db       *db.DB
	node     string
	log      *slog.Logger
	out      chan wireThrottle
}

// wireThrottle is one failure or success as it travels between nodes.
type wireThrottle struct {
	Node    string   `json:"n"`
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
		db: d, node: node, log: log, out: make(chan wireThrottle, 4096)}
	for name, l := range c.limiters {
		l.Observe(func(failed bool, keys []string) {
			select {
			case c.out <- wireThrottle{Node: node, Limiter: name, Failed: failed, Keys: keys}:
			default:
				c.log.Warn("auth: sign-in throttle update not shared with the other nodes (queue full)")
			}
		})
	}
	return c
}

// Run sends this node's throttle updates and applies the other nodes'
// until ctx is done.
func (c *ClusterThrottles) Run(ctx context.Context, ready chan<- struct{}) error {
	go c.send(ctx)
	return c.db.Listen(ctx, []string{throttlesChannel}, c.receive, nil, ready)
}

// send sends queued updates until ctx is done.
func (c *ClusterThrottles) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-c.out:
			p, err := json.Marshal(w)
			if err == nil && len(p) <= db.MaxNotifyPayload {
				nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err = c.db.Notify(nctx, throttlesChannel, string(p))
				cancel()
			}
			if err != nil && ctx.Err() == nil {
				c.log.Warn("auth: sign-in throttle update not shared with the other nodes", "err", err)
			}
		}
	}
}

// receive applies one update from another node.
func (c *ClusterThrottles) receive(_, payload string) {
	var w wireThrottle
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		c.log.Warn("auth: unreadable throttle update from another node")
		return
	}
	l := c.limiters[w.Limiter]
	if w.Node == c.node || l == nil || len(w.Keys) == 0 {
		return
	}
	l.Apply(w.Failed, w.Keys...)
}
