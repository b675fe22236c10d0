package files

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/internal/db"
)

// pathsChannel is the PostgreSQL notification channel on which the
// database's triggers (migration 4, pathsTriggersPG) announce the writes
// that change what a path cache holds.
const pathsChannel = "caucus_files_paths"

// ClusterPaths keeps a [Store]'s path cache true on a PostgreSQL database
// that several nodes write: it listens to what the database's triggers
// send from every writing transaction, whichever node (or tool) ran it,
// and drops or empties the cache as the store does for its own writes.
//
// The guarantee, exactly: PostgreSQL delivers a transaction's
// notifications once it has committed (after the commit is visible to
// every other session), to each listening session in commit order. Once
// this node's listener has received the notification of a commit, no
// lookup that begins after that on this node answers from before the
// commit; a lookup that began before may (it raced the write, as it may
// on one node). Between the commit and the notification's arrival a
// lookup may still answer from the cache: this node has not yet heard of
// the commit. The node that wrote drops its own entries before it
// answers the write, so a client keeps reading its own writes there.
// While the listener is not connected (at start, after a lost
// connection) the cache is down (empty, neither read nor filled): what
// was sent meanwhile is lost, and the database answers every lookup.
type ClusterPaths struct {
	s   *Store
	d   *db.DB
	log *slog.Logger
	// heard, for tests, is called with each notification once it has
	// been applied, and with "(lost)" and "(listening)" when the
	// listener was cut and when it listens.
	heard func(payload string)
}

// SharePaths makes s's path cache follow the writes of every node on d
// (PostgreSQL): the cache is down until the returned value's Run listens.
// Call it before s serves.
func (s *Store) SharePaths(d *db.DB, log *slog.Logger) *ClusterPaths {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.paths.suspend()
	return &ClusterPaths{s: s, d: d, log: log}
}

// Run applies the notifications until ctx is done; ready, if not nil, is
// closed once the listener listens.
func (c *ClusterPaths) Run(ctx context.Context, ready chan<- struct{}) error {
	return c.d.Watch(ctx, []string{pathsChannel}, c.receive, c.listening, c.lost, ready)
}

// listening serves from the cache again, emptied: the listener listens
// (at start, or back after a cut).
func (c *ClusterPaths) listening() {
	c.s.paths.resume()
	c.tell("(listening)")
}

// lost empties the cache and keeps it off: the listener was cut, and
// what other nodes write is not heard until it listens again.
func (c *ClusterPaths) lost() {
	c.s.paths.suspend()
	c.tell("(lost)")
}

// receive applies one notification: a node id to drop, or "*" (or
// anything unreadable) to empty the cache, each followed by the writing
// session's name; this node's own writes are skipped (the store dropped
// or emptied what they changed before it answered them, and dropping
// again would only lose what lookups cached since).
func (c *ClusterPaths) receive(_, payload string) {
	what, session, _ := strings.Cut(payload, " ")
	if session != "" && session == c.d.Session() {
		c.tell(payload)
		return
	}
	if id, err := strconv.ParseInt(what, 10, 64); err == nil {
		c.s.paths.drop(id)
	} else {
		if what != "*" {
			c.log.Warn("files: unreadable path cache notification; emptying the cache")
		}
		c.s.paths.empty()
	}
	c.tell(payload)
}

// tell calls the test hook with payload, if set.
func (c *ClusterPaths) tell(payload string) {
	if c.heard != nil {
		c.heard(payload)
	}
}
