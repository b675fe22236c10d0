package dav

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"golang.org/x/net/webdav"
)

// locksChannel is the PostgreSQL notification channel of WebDAV locks.
const locksChannel = "caucus_dav_locks"

// ClusterLocks shares the WebDAV locks of the nodes on one PostgreSQL
// database: every lock a LOCK makes on a node, and every refresh and
// unlock, is sent to the others, which hold it too, so that a write
// through another node is refused, and the lock's holder may refresh,
// use or remove it through any node. A node that starts, or whose
// listener was cut, asks the others for every lock they hold.
//
// Each node checks a new lock against the locks it knows: two LOCKs of
// one resource through two nodes within the time a notification takes
// (milliseconds) may both be granted. Expiry is by each node's clock.
type ClusterLocks struct {
	ls  *lockSystem
	ch  *db.Channel
	log *slog.Logger
}

// wireLock is a lock, or a request for every lock ("sync"), between nodes.
type wireLock struct {
	Op        string `json:"o"` // "create", "refresh", "unlock" or "sync"
	Token     string `json:"t,omitempty"`
	Root      string `json:"r,omitempty"`
	Key       string `json:"k,omitempty"`
	Account   int64  `json:"a,omitempty"`
	Shared    bool   `json:"s,omitempty"`
	ZeroDepth bool   `json:"z,omitempty"`
	Owner     string `json:"w,omitempty"`
	Duration  int64  `json:"d,omitempty"` // nanoseconds
	Expires   int64  `json:"e,omitempty"` // Unix nanoseconds
}

// ShareLocks makes h's locks shared with the other nodes on d; the
// returned value's Run carries them. Call it before h serves requests.
func (h *Handler) ShareLocks(d *db.DB, node string, log *slog.Logger) *ClusterLocks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &ClusterLocks{ls: h.locks, ch: d.Channel(locksChannel, node, log), log: log}
	h.locks.changed = func(op, token string, l *lock) { c.ch.SendAsync(wire(op, token, l)) }
	return c
}

// wire is l as it travels.
func wire(op, token string, l *lock) wireLock {
	return wireLock{Op: op, Token: token, Root: l.Root, Key: l.key, Account: l.account, Shared: l.shared,
		ZeroDepth: l.ZeroDepth, Owner: l.OwnerXML, Duration: int64(l.Duration), Expires: l.expires.UnixNano()}
}

// Run sends this node's lock changes and applies the other nodes' until
// ctx is done; at the start and after a cut it asks for every lock.
func (c *ClusterLocks) Run(ctx context.Context, ready chan<- struct{}) error {
	return c.ch.Run(ctx, c.receive, func() { c.ch.SendAsync(wireLock{Op: "sync"}) }, ready)
}

// receive applies one message of another node.
func (c *ClusterLocks) receive(body []byte) {
	var w wireLock
	if err := json.Unmarshal(body, &w); err != nil {
		c.log.Warn("dav: unreadable lock message from another node")
		return
	}
	ls := c.ls
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if w.Op == "sync" {
		for token, l := range ls.byToken {
			if !l.temporary {
				c.ch.SendAsync(wire("create", token, l))
			}
		}
		return
	}
	if w.Token == "" || w.Account == 0 {
		return
	}
	l := ls.byToken[w.Token]
	switch w.Op {
	case "create":
		if _, gone := ls.unlocked[w.Token]; l != nil || gone || w.Key == "" {
			return
		}
		ls.byToken[w.Token] = &lock{LockDetails: webdav.LockDetails{Root: w.Root, Duration: time.Duration(w.Duration), OwnerXML: w.Owner, ZeroDepth: w.ZeroDepth},
			key: w.Key, account: w.Account, shared: w.Shared, expires: time.Unix(0, w.Expires), remote: true}
		ls.held++
	case "refresh":
		if l != nil && l.account == w.Account {
			l.Duration, l.expires = time.Duration(w.Duration), time.Unix(0, w.Expires)
		}
	case "unlock":
		if l != nil && l.account == w.Account && !l.temporary {
			ls.unlock(w.Token, l)
		} else if l == nil {
			// Not known yet: a copy of it may still be on its way.
			ls.unlocked[w.Token] = time.Unix(0, w.Expires)
		}
	}
}
