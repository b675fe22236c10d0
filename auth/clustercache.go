package auth

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/caucus-org/caucus/internal/db"
)

// cacheChannel is the PostgreSQL notification channel on which the
// database's triggers (migration 7, cacheTriggersPG) announce the writes
// that change a node's cached app passwords and members' groups.
const cacheChannel = "caucus_auth_cache"

// pgCache is, on PostgreSQL, what a node keeps of the app passwords it
// checked and of its members' groups, so that a WebDAV or IMAP request
// does not read them from the database every time. It is filled by
// lookups and emptied, per account or whole, by [ClusterCaches] as the
// database announces writes. It is off (neither read nor filled) until
// ClusterCaches listens, and whenever its listener is cut.
//
// An app password found here is as safe as one read from the database:
// its entry holds the account's revocation epoch read before its row
// was, and a check that finds the epoch changed since reads the
// database; a revocation's connections are cut by the epoch as for a
// read row (see liveAppPasswordRow).
type pgCache struct {
	on     bool
	gen    uint64 // raised by every drop: a lookup older keeps nothing
	pass   map[[32]byte]cachedPass
	groups map[int64][]Group
}

// cachedPass is an app password entry with the epoch read before it.
type cachedPass struct {
	appPassEntry
	epoch uint64
}

// ClusterCaches keeps a [Service]'s caches true on a PostgreSQL database
// that several nodes write. The guarantee: PostgreSQL delivers a
// transaction's notifications once it has committed, to each listening
// session in commit order; once this node has received the notification
// of a commit, no check that begins after that answers from before it
// (between the commit and its arrival one may); while the listener is
// cut, the caches are off and the database answers.
type ClusterCaches struct {
	s   *Service
	d   *db.DB
	log *slog.Logger
	// heard, for tests, is called with each notification once applied.
	heard func(payload string)
}

// ShareCaches turns on, for s on d (PostgreSQL), the caches of app
// passwords and members' groups, kept true by the returned value's Run;
// they stay off until it listens. Call it before s serves.
func (s *Service) ShareCaches(d *db.DB, log *slog.Logger) *ClusterCaches {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClusterCaches{s: s, d: d, log: log}
}

// Run applies the notifications until ctx is done; ready, if not nil, is
// closed once the listener listens.
func (c *ClusterCaches) Run(ctx context.Context, ready chan<- struct{}) error {
	return c.d.Watch(ctx, []string{cacheChannel}, c.receive, func() { c.s.cacheReset(true) }, func() { c.s.cacheReset(false) }, ready)
}

// receive applies one notification: an account id, or "*" (or anything
// unreadable) for all.
func (c *ClusterCaches) receive(_, payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		if payload != "*" {
			c.log.Warn("auth: unreadable cache notification; emptying the caches")
		}
		c.s.cacheReset(true)
	} else {
		c.s.cacheDrop(id)
	}
	if c.heard != nil {
		c.heard(payload)
	}
}

// cacheReset empties the caches and turns them on or off.
func (s *Service) cacheReset(on bool) {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	s.pg = pgCache{on: on, gen: s.pg.gen + 1, pass: map[[32]byte]cachedPass{}, groups: map[int64][]Group{}}
}

// cacheDrop drops what the caches hold of account id.
func (s *Service) cacheDrop(id int64) {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	s.pg.gen++
	delete(s.pg.groups, id)
	for h, e := range s.pg.pass {
		if e.acct.ID == id {
			delete(s.pg.pass, h)
		}
	}
}

// cachedAppPassword returns the cached app password whose keyed hash is
// h and its account's epoch, if cached and the epoch has not moved since
// it was read; else the cache's generation for cacheAppPassword.
func (s *Service) cachedAppPassword(h [32]byte) (e appPassEntry, epoch uint64, ok bool, gen uint64) {
	s.apMu.RLock()
	defer s.apMu.RUnlock()
	if !s.pg.on {
		return e, 0, false, 0
	}
	c, ok := s.pg.pass[h]
	if ok && s.hub.Epoch(c.acct.ID) == c.epoch {
		return c.appPassEntry, c.epoch, true, 0
	}
	return e, 0, false, s.pg.gen
}

// cacheAppPassword keeps e, read with epoch by a lookup that began at
// generation gen, unless the cache was dropped from since.
func (s *Service) cacheAppPassword(h [32]byte, e appPassEntry, epoch, gen uint64) {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	if s.pg.on && s.pg.gen == gen && len(s.pg.pass) < maxCachedPasswords {
		s.pg.pass[h] = cachedPass{appPassEntry: e, epoch: epoch}
	}
}

// maxCachedPasswords bounds the app passwords a node keeps: more than a
// party's devices; past it, checks read the database.
const maxCachedPasswords = 1 << 17

// cachedGroups returns account id's cached groups, if any; else the
// cache's generation for cacheGroups.
func (s *Service) cachedGroups(id int64) ([]Group, bool, uint64) {
	s.apMu.RLock()
	defer s.apMu.RUnlock()
	if !s.pg.on {
		return nil, false, 0
	}
	g, ok := s.pg.groups[id]
	return g, ok, s.pg.gen
}

// cacheGroups keeps account id's groups gs, read by a lookup that began
// at generation gen, unless the cache was dropped from since.
func (s *Service) cacheGroups(id int64, gs []Group, gen uint64) {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	if s.pg.on && s.pg.gen == gen && len(s.pg.groups) < maxCachedPasswords {
		s.pg.groups[id] = gs
	}
}
